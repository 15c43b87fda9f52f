// A local Binance USD-M Futures for tests: the endpoints ccxt's binanceusdm calls in Warden's
// flows, every signature checked as Binance does, every request recorded, a tiny position book.
import {
  createLimitAnswers,
  dec,
  type FakeHttpServer,
  header,
  hmacSha256Hex,
  type LostAnswer,
  lostAnswerReply,
  parseForm,
  type RecordedRequest,
  type Reply,
  signatureMatches,
  startRecordingServer,
} from "./common";

/** The JSON Binance returns from GET /sapi/v1/account/apiRestrictions. */
export type BinanceRestrictions = Record<string, unknown>;

export interface FakeBinanceKey {
  secret: string;
  restrictions: BinanceRestrictions;
  /** USDT wallet balance of the account behind the key (default 10 000). */
  walletBalance?: number;
  /** The account's asset mode: Multi-Assets (true) or Single-Asset (false, the default). */
  multiAssetsMargin?: boolean;
}

export interface FakeBinanceOptions {
  keys: Record<string, FakeBinanceKey>;
  /** Mark price of BTCUSDT; market orders fill at it (default 63 000). */
  markPrice?: number;
  /**
   * Commission per fill as a fraction of its notional, charged in USDT and reported on the
   * account's fills (GET /fapi/v1/userTrades); default 0 (relaxed: no fees unless a test asks).
   */
  commissionRate?: number;
}

export interface FakeBinancePosition {
  symbol: string;
  /** Signed: > 0 long, < 0 short (a hedge-mode SHORT leg is negative too, as Binance prints it). */
  amount: number;
  entryPrice: number;
  /** Only in hedge mode: the leg. */
  positionSide?: "LONG" | "SHORT";
}

type PositionSide = "BOTH" | "LONG" | "SHORT";

export interface FakeBinanceAlgoOrder {
  algoId: number;
  clientAlgoId: string;
  symbol: string;
  side: "BUY" | "SELL";
  orderType: string;
  triggerPrice: string;
  quantity: string;
  closePosition: boolean;
  reduceOnly: boolean;
  positionSide: PositionSide;
}

export interface FakeBinance {
  url: string;
  requests: RecordedRequest[];
  /** Signed requests whose key was known but whose signature did not verify. */
  readonly signatureFailures: number;
  setRestrictions(apiKey: string, restrictions: BinanceRestrictions): void;
  setMarkPrice(price: number): void;
  /** The last traded price its public ticker shows (default: the mark). */
  setLastPrice(price: number | null): void;
  /** Open positions of the account behind `apiKey`. */
  positions(apiKey: string): FakeBinancePosition[];
  leverage(apiKey: string, symbol: string): number;
  /**
   * Control: close a position outside Warden (as in the exchange's app), filled at `price`
   * (default the mark) and recorded among the account's fills.
   */
  closeBehindBack(apiKey: string, symbol: string, price?: number): void;
  /**
   * Control: Binance liquidates the position of `symbol` at `price` (default the mark): its
   * close order has clientOrderId "autoclose-…" and type LIQUIDATION.
   */
  liquidate(apiKey: string, symbol: string, price?: number): void;
  /**
   * Control: the next MARKET order of the account finds only `qty` of liquidity: it fills that
   * much and the rest expires (status EXPIRED, executedQty < origQty).
   */
  fillNextPartly(apiKey: string, qty: number): void;
  /** Control: the account's fill history has aged out (Binance keeps userTrades 6 months). */
  expireFills(apiKey: string): void;
  /** Control: a funding payment (signed, USDT) credited as a FUNDING_FEE income row. */
  payFunding(apiKey: string, symbol: string, amount: number): void;
  /** Control: open a position outside Warden (signed amount, at the mark). */
  openBehindBack(apiKey: string, symbol: string, amount: number): void;
  algoOrders(apiKey: string): FakeBinanceAlgoOrder[];
  /** Switches the account to hedge mode (dual side position) or back to one-way. */
  setHedgeMode(apiKey: string, dual: boolean): void;
  /** Switches the account's asset mode (Multi-Assets Mode or Single-Asset Mode). */
  setMultiAssetsMode(apiKey: string, on: boolean): void;
  /** The next entry order (POST /fapi/v1/order) executes, then its answer is lost this way. */
  loseNextAnswer(apiKey: string, kind: LostAnswer): void;
  /**
   * The next `times` requests (any key) get a rate-limit answer instead of being executed:
   * 429, or 418 (the IP ban Binance gives to a client that kept calling after 429s), each
   * with `Retry-After: retryAfter` seconds (Binance docs, General Info → LIMITS).
   */
  limitNext(status: 429 | 418, retryAfter: number, times?: number): void;
  /** The mark price reached an algo order: it executes, as Binance would, and leaves siblings. */
  fireTrigger(apiKey: string, algoId: number): void;
  /** Every POST /fapi/v1/order that executed (what a duplicate would show). */
  executedOrders(apiKey: string): Record<string, unknown>[];
  close(): Promise<void>;
}

export const BINANCE_DEFAULT_RESTRICTIONS: BinanceRestrictions = {
  ipRestrict: false,
  createTime: 1698645219000,
  enableReading: true,
  enableWithdrawals: false,
  enableInternalTransfer: false,
  enableMargin: false,
  enableFutures: true,
  permitsUniversalTransfer: false,
  enableVanillaOptions: false,
  enableSpotAndMarginTrading: false,
};

const SYMBOLS = ["BTCUSDT"] as const;
const CONDITIONAL = new Set([
  "STOP",
  "STOP_MARKET",
  "TAKE_PROFIT",
  "TAKE_PROFIT_MARKET",
  "TRAILING_STOP_MARKET",
]);
const MIN_NOTIONAL = 100;

interface Account {
  secret: string;
  restrictions: BinanceRestrictions;
  wallet: number;
  /** By `${symbol}|${positionSide}`. */
  positions: Map<string, { amount: number; entryPrice: number }>;
  leverage: Map<string, number>;
  algo: FakeBinanceAlgoOrder[];
  /** Algo orders that triggered, with the matching-engine order each placed. */
  triggered: Array<{ order: FakeBinanceAlgoOrder; actualOrderId: number; triggerTime: number }>;
  dualSide: boolean;
  multiAssets: boolean;
  /** Executed orders by clientOrderId, as GET /fapi/v1/order returns them. */
  orders: Map<string, Record<string, unknown>>;
  /** Orders not sent through the API (app closes, liquidations), by clientOrderId likewise. */
  venueOrders: Map<string, Record<string, unknown>>;
  lostAnswers: LostAnswer[];
  /** Set by fillNextPartly: the most the next market order fills. */
  liquidity?: number;
  /** Every fill, as GET /fapi/v1/userTrades returns it. */
  fills: Array<Record<string, unknown> & { symbol: string; time: number }>;
  /** Income history (FUNDING_FEE rows), as GET /fapi/v1/income returns it. */
  income: Array<Record<string, unknown> & { symbol: string; incomeType: string; time: number }>;
}

const symbolOf = (key: string) => key.split("|")[0] ?? "";
const sideOf = (key: string) => (key.split("|")[1] ?? "BOTH") as PositionSide;

const err = (status: number, code: number, msg: string): Reply => ({
  status,
  body: { code, msg },
});

function exchangeInfo(): unknown {
  return {
    timezone: "UTC",
    serverTime: Date.now(),
    futuresType: "U_MARGINED",
    rateLimits: [],
    exchangeFilters: [],
    assets: [{ asset: "USDT", marginAvailable: true, autoAssetExchange: "-10000" }],
    symbols: SYMBOLS.map((symbol) => ({
      symbol,
      pair: symbol,
      contractType: "PERPETUAL",
      deliveryDate: 4133404800000,
      onboardDate: 1569398400000,
      status: "TRADING",
      maintMarginPercent: "2.5000",
      requiredMarginPercent: "5.0000",
      baseAsset: "BTC",
      quoteAsset: "USDT",
      marginAsset: "USDT",
      pricePrecision: 2,
      quantityPrecision: 3,
      baseAssetPrecision: 8,
      quotePrecision: 8,
      underlyingType: "COIN",
      underlyingSubType: ["PoW"],
      triggerProtect: "0.0500",
      liquidationFee: "0.012500",
      marketTakeBound: "0.05",
      maxMoveOrderLimit: 10000,
      filters: [
        { filterType: "PRICE_FILTER", minPrice: "556.80", maxPrice: "4529764", tickSize: "0.10" },
        { filterType: "LOT_SIZE", minQty: "0.001", maxQty: "1000", stepSize: "0.001" },
        { filterType: "MARKET_LOT_SIZE", minQty: "0.001", maxQty: "120", stepSize: "0.001" },
        { filterType: "MAX_NUM_ORDERS", limit: 200 },
        { filterType: "MAX_NUM_ALGO_ORDERS", limit: 10 },
        { filterType: "MIN_NOTIONAL", notional: String(MIN_NOTIONAL) },
        {
          filterType: "PERCENT_PRICE",
          multiplierUp: "1.0500",
          multiplierDown: "0.9500",
          multiplierDecimal: "4",
        },
      ],
      orderTypes: [
        "LIMIT",
        "MARKET",
        "STOP",
        "STOP_MARKET",
        "TAKE_PROFIT",
        "TAKE_PROFIT_MARKET",
        "TRAILING_STOP_MARKET",
      ],
      timeInForce: ["GTC", "IOC", "FOK", "GTX", "GTD"],
    })),
  };
}

export async function startFakeBinance(opts: FakeBinanceOptions): Promise<FakeBinance> {
  const requests: RecordedRequest[] = [];
  const accounts = new Map<string, Account>();
  for (const [apiKey, k] of Object.entries(opts.keys)) {
    accounts.set(apiKey, {
      secret: k.secret,
      restrictions: { ...k.restrictions },
      wallet: k.walletBalance ?? 10_000,
      positions: new Map(),
      leverage: new Map(),
      algo: [],
      triggered: [],
      dualSide: false,
      multiAssets: k.multiAssetsMargin ?? false,
      orders: new Map(),
      venueOrders: new Map(),
      lostAnswers: [],
      fills: [],
      income: [],
    });
  }
  let markPrice = opts.markPrice ?? 63_000;
  let lastPrice: number | null = null;
  let signatureFailures = 0;
  const commissionRate = opts.commissionRate ?? 0;
  let nextId = 4_000_000_001; // well below 2^53, as VENUES.md asks

  /** Binance's check order: key, then signature, then timestamp window. */
  function authenticate(
    req: RecordedRequest,
  ): { account: Account; params: Record<string, string> } | Reply {
    const apiKey = header(req, "x-mbx-apikey");
    if (apiKey === undefined || apiKey === "") {
      return err(401, -2014, "API-key format invalid.");
    }
    const account = accounts.get(apiKey);
    if (account === undefined) {
      return err(401, -2015, "Invalid API-key, IP, or permissions for action.");
    }
    // Binance signs "totalParams": the query string concatenated with the body, as sent.
    const total =
      req.query !== "" && req.body !== "" ? `${req.query}${req.body}` : req.query || req.body;
    const at = total.lastIndexOf("&signature=");
    if (at === -1) {
      return err(
        400,
        -1102,
        "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.",
      );
    }
    const payload = total.slice(0, at);
    const presented = decodeURIComponent(total.slice(at + "&signature=".length));
    if (!signatureMatches(hmacSha256Hex(account.secret, payload), presented)) {
      signatureFailures++;
      return err(400, -1022, "Signature for this request is not valid.");
    }
    const params = parseForm(payload);
    const timestamp = Number(params.timestamp);
    const recvWindow = Number(params.recvWindow ?? 5000);
    if (!Number.isFinite(timestamp) || Math.abs(Date.now() - timestamp) > recvWindow) {
      return err(400, -1021, "Timestamp for this request is outside of the recvWindow.");
    }
    return { account, params };
  }

  function unrealized(p: { amount: number; entryPrice: number }): number {
    return (markPrice - p.entryPrice) * p.amount;
  }

  function usedMargin(a: Account): number {
    let used = 0;
    for (const [key, p] of a.positions) {
      used += (Math.abs(p.amount) * markPrice) / (a.leverage.get(symbolOf(key)) ?? 20);
    }
    return used;
  }

  function accountV3(a: Account): unknown {
    let upnl = 0;
    for (const p of a.positions.values()) upnl += unrealized(p);
    const used = usedMargin(a);
    const margin = a.wallet + upnl;
    const available = margin - used;
    return {
      totalInitialMargin: dec(used),
      totalMaintMargin: dec(used * 0.1),
      totalWalletBalance: dec(a.wallet),
      totalUnrealizedProfit: dec(upnl),
      totalMarginBalance: dec(margin),
      totalPositionInitialMargin: dec(used),
      totalOpenOrderInitialMargin: "0",
      totalCrossWalletBalance: dec(a.wallet),
      totalCrossUnPnl: dec(upnl),
      availableBalance: dec(available),
      maxWithdrawAmount: dec(available),
      assets: [
        {
          asset: "USDT",
          walletBalance: dec(a.wallet),
          unrealizedProfit: dec(upnl),
          marginBalance: dec(margin),
          maintMargin: dec(used * 0.1),
          initialMargin: dec(used),
          positionInitialMargin: dec(used),
          openOrderInitialMargin: "0",
          crossWalletBalance: dec(a.wallet),
          crossUnPnl: dec(upnl),
          availableBalance: dec(available),
          maxWithdrawAmount: dec(available),
          updateTime: Date.now(),
        },
        // Never used: ccxt skips assets with updateTime 0.
        {
          asset: "BNB",
          walletBalance: "0",
          unrealizedProfit: "0",
          marginBalance: "0",
          maintMargin: "0",
          initialMargin: "0",
          positionInitialMargin: "0",
          openOrderInitialMargin: "0",
          crossWalletBalance: "0",
          crossUnPnl: "0",
          availableBalance: "0",
          maxWithdrawAmount: "0",
          updateTime: 0,
        },
      ],
      positions: [...a.positions.entries()].map(([key, p]) => ({
        symbol: symbolOf(key),
        positionSide: sideOf(key),
        positionAmt: dec(p.amount, 3),
        unrealizedProfit: dec(unrealized(p)),
        isolatedMargin: "0",
        notional: dec(p.amount * markPrice),
        isolatedWallet: "0",
        initialMargin: dec(
          (Math.abs(p.amount) * markPrice) / (a.leverage.get(symbolOf(key)) ?? 20),
        ),
        maintMargin: "0",
        updateTime: Date.now(),
      })),
    };
  }

  function positionRisk(a: Account, symbol?: string): unknown[] {
    return [...a.positions.entries()]
      .filter(([key]) => symbol === undefined || symbolOf(key) === symbol)
      .map(([key, p]) => {
        const s = symbolOf(key);
        const lev = a.leverage.get(s) ?? 20;
        const notional = p.amount * markPrice;
        return {
          symbol: s,
          positionSide: sideOf(key),
          positionAmt: dec(p.amount, 3),
          entryPrice: dec(p.entryPrice),
          breakEvenPrice: dec(p.entryPrice),
          markPrice: dec(markPrice),
          unRealizedProfit: dec(unrealized(p)),
          liquidationPrice: "0",
          isolatedMargin: "0",
          notional: dec(notional),
          marginAsset: "USDT",
          isolatedWallet: "0",
          initialMargin: dec(Math.abs(notional) / lev),
          maintMargin: dec(Math.abs(notional) * 0.004),
          positionInitialMargin: dec(Math.abs(notional) / lev),
          openOrderInitialMargin: "0",
          adl: 1,
          bidNotional: "0",
          askNotional: "0",
          updateTime: Date.now(),
        };
      });
  }

  /**
   * The position side an order names must match the account's mode (Binance docs, New Order:
   * "positionSide … must be sent with LONG or SHORT in Hedge Mode"): -4061 otherwise; and in hedge
   * mode reduceOnly may not be sent at all (-1106). VENUES.md, rules table.
   */
  function legOf(a: Account, p: Record<string, string>): PositionSide | Reply {
    const ps = p.positionSide ?? "BOTH";
    if (a.dualSide) {
      if (ps !== "LONG" && ps !== "SHORT") {
        return err(400, -4061, "Order's position side does not match user's setting.");
      }
      if (p.reduceOnly !== undefined) {
        return err(400, -1106, "Parameter 'reduceOnly' sent when not required.");
      }
      return ps;
    }
    if (ps !== "BOTH")
      return err(400, -4061, "Order's position side does not match user's setting.");
    return "BOTH";
  }

  /**
   * Moves the leg `key` by `delta` at `price` (the mark unless given), realising the profit of
   * what it closes, and records the fill as Binance's Account Trade List shows it.
   */
  function applyFill(
    a: Account,
    key: string,
    delta: number,
    orderId = nextId++,
    price = markPrice,
  ): void {
    const current = a.positions.get(key);
    let realized = 0;
    const commission = Math.abs(delta) * price * commissionRate;
    a.wallet -= commission;
    if (current === undefined) {
      a.positions.set(key, { amount: delta, entryPrice: price });
    } else if (Math.sign(current.amount) === Math.sign(delta)) {
      const amount = current.amount + delta;
      current.entryPrice = (current.entryPrice * current.amount + price * delta) / amount;
      current.amount = amount;
    } else {
      const closing = Math.min(Math.abs(delta), Math.abs(current.amount));
      realized = (price - current.entryPrice) * closing * Math.sign(current.amount);
      a.wallet += realized;
      const amount = Math.round((current.amount + delta) * 1000) / 1000;
      if (amount === 0) a.positions.delete(key);
      else if (Math.sign(amount) !== Math.sign(current.amount)) {
        a.positions.set(key, { amount, entryPrice: price });
      } else current.amount = amount;
    }
    // Binance docs, USDⓈ-M Futures → Account Trade List (GET /fapi/v1/userTrades): the
    // response's fields, as ccxt's binance.parseTrade documents them.
    const qty = Math.abs(delta);
    a.fills.push({
      buyer: delta > 0,
      commission: dec(commission),
      commissionAsset: "USDT",
      id: nextId++,
      maker: false,
      orderId,
      price: dec(price, 2),
      qty: dec(qty, 3),
      quoteQty: dec(qty * price),
      realizedPnl: dec(realized),
      side: delta > 0 ? "BUY" : "SELL",
      positionSide: sideOf(key),
      symbol: symbolOf(key),
      time: Date.now(),
    });
  }

  /** GET /fapi/v1/userTrades: the fills of `symbol` in [startTime, endTime], oldest first. */
  function userTrades(a: Account, p: Record<string, string>): Reply {
    if (p.symbol === undefined)
      return err(400, -1102, "Mandatory parameter 'symbol' was not sent.");
    const from = Number(p.startTime ?? 0);
    const to = Number(p.endTime ?? Number.MAX_SAFE_INTEGER);
    const limit = Math.min(Number(p.limit ?? 500), 1000);
    return {
      status: 200,
      body: a.fills
        .filter((f) => f.symbol === p.symbol && f.time >= from && f.time <= to)
        .slice(-limit),
    };
  }

  /** GET /fapi/v1/income: income rows by type and symbol in [startTime, endTime]. */
  function incomeHistory(a: Account, p: Record<string, string>): Reply {
    const from = Number(p.startTime ?? 0);
    const to = Number(p.endTime ?? Number.MAX_SAFE_INTEGER);
    return {
      status: 200,
      body: a.income.filter(
        (r) =>
          (p.symbol === undefined || r.symbol === p.symbol) &&
          (p.incomeType === undefined || r.incomeType === p.incomeType) &&
          r.time >= from &&
          r.time <= to,
      ),
    };
  }

  /** Fills a MARKET order at the mark price against the position book (one-way or hedge). */
  function placeMarketOrder(a: Account, p: Record<string, string>): Reply {
    const symbol = p.symbol ?? "";
    if (!(SYMBOLS as readonly string[]).includes(symbol)) return err(400, -1121, "Invalid symbol.");
    // Since 2025-12-09 conditional orders go through the Algo Order API only (change log
    // 2025-11-06; VENUES.md).
    if (CONDITIONAL.has(p.type ?? "")) {
      return err(
        400,
        -4120,
        "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead.",
      );
    }
    if (p.type !== "MARKET") return err(400, -1116, "Invalid orderType.");
    const side = p.side;
    if (side !== "BUY" && side !== "SELL") return err(400, -1117, "Invalid side.");
    const ps = legOf(a, p);
    if (typeof ps !== "string") return ps;
    let qty = Number(p.quantity);
    if (!(qty > 0) || Math.round(qty * 1000) !== qty * 1000) {
      return err(400, -1111, "Precision is over the maximum defined for this asset.");
    }
    if (p.newClientOrderId !== undefined && a.orders.has(p.newClientOrderId)) {
      // Binance error codes: -4116 CLIENT_ORDER_ID_DUPLICATED.
      return err(400, -4116, "ClientOrderId is duplicated.");
    }
    const key = `${symbol}|${ps}`;
    const signed = side === "BUY" ? qty : -qty;
    const current = a.positions.get(key);
    // In hedge mode an order against its leg's direction closes that leg and cannot exceed it.
    const reducing =
      p.reduceOnly === "true" ||
      (ps === "LONG" && side === "SELL") ||
      (ps === "SHORT" && side === "BUY");
    if (reducing) {
      if (current === undefined || Math.sign(current.amount) === Math.sign(signed)) {
        return err(400, -2022, "ReduceOnly Order is rejected.");
      }
      qty = Math.min(qty, Math.abs(current.amount));
    } else {
      if (qty * markPrice < MIN_NOTIONAL) {
        return err(
          400,
          -4164,
          `Order's notional must be no smaller than ${MIN_NOTIONAL} (unless you choose reduce only).`,
        );
      }
      const increases = current === undefined || Math.sign(current.amount) === Math.sign(signed);
      const lev = a.leverage.get(symbol) ?? 20;
      const available = (accountV3(a) as { availableBalance: string }).availableBalance;
      if (increases && (qty * markPrice) / lev > Number(available)) {
        return err(400, -2019, "Margin is insufficient.");
      }
    }
    const asked = qty;
    if (a.liquidity !== undefined) {
      qty = Math.min(qty, a.liquidity);
      a.liquidity = undefined;
    }
    const orderId = nextId++;
    applyFill(a, key, side === "BUY" ? qty : -qty, orderId);
    const now = Date.now();
    const body = {
      orderId,
      symbol,
      status: qty < asked ? "EXPIRED" : "FILLED",
      clientOrderId: p.newClientOrderId ?? `fake${orderId}`,
      price: "0.00",
      avgPrice: dec(markPrice, 2),
      origQty: dec(asked, 3),
      executedQty: dec(qty, 3),
      cumQty: dec(qty, 3),
      cumQuote: dec(qty * markPrice),
      timeInForce: "GTC",
      type: "MARKET",
      reduceOnly: p.reduceOnly === "true",
      closePosition: false,
      side,
      positionSide: ps,
      stopPrice: "0.00",
      workingType: "CONTRACT_PRICE",
      priceProtect: false,
      origType: "MARKET",
      priceMatch: "NONE",
      selfTradePreventionMode: "EXPIRE_MAKER",
      goodTillDate: 0,
      updateTime: now,
    };
    a.orders.set(body.clientOrderId, body);
    const lost = a.lostAnswers.shift();
    if (lost !== undefined) return lostAnswerReply(lost);
    return { status: 200, body };
  }

  /**
   * Realises every leg of `symbol` at `price` by one order the account did not send through the
   * API, kept for GET /fapi/v1/order: a close in the exchange's app (clientOrderId "web_…") or
   * Binance's own liquidation ("autoclose-…", type LIQUIDATION).
   */
  function closeBy(
    a: Account,
    symbol: string,
    price: number,
    kind: (orderId: number) => { clientOrderId: string; type: string },
  ): void {
    for (const [key, p] of [...a.positions]) {
      if (!key.startsWith(`${symbol}|`)) continue;
      const orderId = nextId++;
      const { clientOrderId, type } = kind(orderId);
      const qty = Math.abs(p.amount);
      applyFill(a, key, -p.amount, orderId, price);
      a.venueOrders.set(clientOrderId, {
        orderId,
        symbol,
        status: "FILLED",
        clientOrderId,
        price: "0.00",
        avgPrice: dec(price, 2),
        origQty: dec(qty, 3),
        executedQty: dec(qty, 3),
        cumQuote: dec(qty * price),
        timeInForce: "GTC",
        type,
        reduceOnly: true,
        closePosition: false,
        side: p.amount > 0 ? "SELL" : "BUY",
        positionSide: sideOf(key),
        stopPrice: "0.00",
        workingType: "CONTRACT_PRICE",
        priceProtect: false,
        origType: type,
        updateTime: Date.now(),
      });
    }
  }

  /** GET /fapi/v1/order by origClientOrderId: the order as Binance keeps it, or -2013. */
  function queryOrder(a: Account, p: Record<string, string>): Reply {
    const all = [...a.orders.values(), ...a.venueOrders.values()];
    const o =
      p.orderId !== undefined
        ? all.find((x) => String(x.orderId) === p.orderId)
        : all.find((x) => x.clientOrderId === p.origClientOrderId);
    if (o === undefined || o.symbol !== p.symbol) return err(400, -2013, "Order does not exist.");
    return { status: 200, body: { ...o, time: o.updateTime } };
  }

  function algoJson(o: FakeBinanceAlgoOrder, status = "NEW"): unknown {
    return {
      algoId: o.algoId,
      clientAlgoId: o.clientAlgoId,
      algoType: "CONDITIONAL",
      orderType: o.orderType,
      symbol: o.symbol,
      side: o.side,
      positionSide: o.positionSide,
      timeInForce: "GTC",
      quantity: o.quantity,
      algoStatus: status,
      triggerPrice: o.triggerPrice,
      price: "0.00",
      icebergQuantity: null,
      selfTradePreventionMode: "EXPIRE_MAKER",
      workingType: "CONTRACT_PRICE",
      priceMatch: "NONE",
      closePosition: o.closePosition,
      priceProtect: false,
      reduceOnly: o.reduceOnly,
      createTime: Date.now(),
      updateTime: Date.now(),
      triggerTime: 0,
      goodTillDate: 0,
    };
  }

  function placeAlgoOrder(a: Account, p: Record<string, string>): Reply {
    const symbol = p.symbol ?? "";
    if (!(SYMBOLS as readonly string[]).includes(symbol)) return err(400, -1121, "Invalid symbol.");
    if (p.algoType !== "CONDITIONAL")
      return err(400, -1102, "Mandatory parameter 'algoType' was not sent.");
    if (p.type !== "STOP_MARKET" && p.type !== "TAKE_PROFIT_MARKET") {
      return err(400, -1116, "Invalid orderType.");
    }
    if (p.side !== "BUY" && p.side !== "SELL") return err(400, -1117, "Invalid side.");
    if (!(Number(p.triggerPrice) > 0)) {
      return err(400, -1102, "Mandatory parameter 'triggerPrice' was not sent.");
    }
    const ps = legOf(a, p);
    if (typeof ps !== "string") return ps;
    const closePosition = p.closePosition === "true";
    if (
      closePosition &&
      a.algo.some(
        (o) =>
          o.closePosition &&
          o.symbol === symbol &&
          o.orderType === p.type &&
          o.side === p.side &&
          o.positionSide === ps,
      )
    ) {
      // One closePosition STOP_MARKET and one TAKE_PROFIT_MARKET per symbol and direction
      // (Binance error codes, -4130; VENUES.md).
      return err(
        400,
        -4130,
        "An open stop or take profit order with GTE and closePosition in the direction is existing.",
      );
    }
    if (closePosition && p.reduceOnly !== undefined) {
      return err(400, -1106, "Parameter 'reduceonly' sent when not required.");
    }
    if (!closePosition && !(Number(p.quantity) > 0)) {
      return err(400, -1102, "Mandatory parameter 'quantity' was not sent.");
    }
    // Binance refuses a trigger that would fire at once.
    const triggersNow =
      p.type === "STOP_MARKET"
        ? p.side === "SELL"
          ? Number(p.triggerPrice) >= markPrice
          : Number(p.triggerPrice) <= markPrice
        : p.side === "SELL"
          ? Number(p.triggerPrice) <= markPrice
          : Number(p.triggerPrice) >= markPrice;
    if (triggersNow) return err(400, -2021, "Order would immediately trigger.");
    const order: FakeBinanceAlgoOrder = {
      algoId: nextId++,
      clientAlgoId: p.clientAlgoId ?? `fakealgo${nextId}`,
      symbol,
      side: p.side,
      orderType: p.type,
      triggerPrice: p.triggerPrice ?? "0",
      quantity: closePosition ? "0" : (p.quantity ?? "0"),
      closePosition,
      reduceOnly: p.reduceOnly === "true",
      positionSide: ps,
    };
    a.algo.push(order);
    return { status: 200, body: algoJson(order) };
  }

  function route(req: RecordedRequest): Reply {
    const key = `${req.method} ${req.path}`;
    if (key === "GET /fapi/v1/exchangeInfo") return { status: 200, body: exchangeInfo() };
    if (key === "GET /fapi/v1/time") return { status: 200, body: { serverTime: Date.now() } };
    // Mark Price (public): https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Mark-Price
    if (key === "GET /fapi/v1/premiumIndex") {
      return {
        status: 200,
        body: {
          symbol: new URLSearchParams(req.query).get("symbol") ?? "BTCUSDT",
          markPrice: dec(markPrice),
          indexPrice: dec(markPrice),
          estimatedSettlePrice: dec(markPrice),
          lastFundingRate: "0.00010000",
          interestRate: "0.00010000",
          nextFundingTime: Date.now() + 3_600_000,
          time: Date.now(),
        },
      };
    }
    // 24hr Ticker Price Change Statistics (public): https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/24hr-Ticker-Price-Change-Statistics
    if (key === "GET /fapi/v1/ticker/24hr") {
      const symbol = new URLSearchParams(req.query).get("symbol") ?? "";
      if (!(SYMBOLS as readonly string[]).includes(symbol))
        return err(400, -1121, "Invalid symbol.");
      const now = Date.now();
      return {
        status: 200,
        body: {
          symbol,
          priceChange: "0",
          priceChangePercent: "0.000",
          weightedAvgPrice: dec(markPrice, 2),
          lastPrice: dec(lastPrice ?? markPrice, 2),
          lastQty: "0.001",
          openPrice: dec(markPrice, 2),
          highPrice: dec(markPrice, 2),
          lowPrice: dec(markPrice, 2),
          volume: "1000.000",
          quoteVolume: dec(1000 * markPrice, 2),
          openTime: now - 86_400_000,
          closeTime: now,
          firstId: 1,
          lastId: 1000,
          count: 1000,
        },
      };
    }
    const signed = new Set([
      "GET /sapi/v1/account/apiRestrictions",
      "GET /fapi/v1/positionSide/dual",
      "GET /fapi/v1/multiAssetsMargin",
      "GET /fapi/v1/order",
      "GET /fapi/v3/account",
      "GET /fapi/v1/leverageBracket",
      "GET /fapi/v3/positionRisk",
      "POST /fapi/v1/leverage",
      "POST /fapi/v1/order",
      "POST /fapi/v1/algoOrder",
      "GET /fapi/v1/openAlgoOrders",
      "GET /fapi/v1/allAlgoOrders",
      "DELETE /fapi/v1/algoOrder",
      "GET /fapi/v1/userTrades",
      "GET /fapi/v1/income",
    ]);
    if (!signed.has(key)) return err(404, -1000, `fake binance: no route for ${key}`);
    const auth = authenticate(req);
    if ("status" in auth) return auth;
    const { account: a, params: p } = auth;
    switch (key) {
      case "GET /sapi/v1/account/apiRestrictions":
        return { status: 200, body: a.restrictions };
      case "GET /fapi/v3/account":
        return { status: 200, body: accountV3(a) };
      case "GET /fapi/v1/leverageBracket":
        return {
          status: 200,
          body: SYMBOLS.map((symbol) => ({
            symbol,
            notionalCoef: 1.0,
            brackets: [
              {
                bracket: 1,
                initialLeverage: 125,
                notionalCap: 50000,
                notionalFloor: 0,
                maintMarginRatio: 0.004,
                cum: 0.0,
              },
              {
                bracket: 2,
                initialLeverage: 100,
                notionalCap: 600000,
                notionalFloor: 50000,
                maintMarginRatio: 0.005,
                cum: 50.0,
              },
            ],
          })),
        };
      case "GET /fapi/v3/positionRisk":
        return { status: 200, body: positionRisk(a, p.symbol) };
      case "POST /fapi/v1/leverage": {
        const symbol = p.symbol ?? "";
        if (!(SYMBOLS as readonly string[]).includes(symbol))
          return err(400, -1121, "Invalid symbol.");
        const leverage = Number(p.leverage);
        if (!Number.isInteger(leverage) || leverage < 1 || leverage > 125) {
          return err(400, -4028, "Leverage is not valid");
        }
        a.leverage.set(symbol, leverage);
        return { status: 200, body: { leverage, maxNotionalValue: "50000", symbol } };
      }
      case "POST /fapi/v1/order":
        return placeMarketOrder(a, p);
      case "GET /fapi/v1/userTrades":
        return userTrades(a, p);
      case "GET /fapi/v1/income":
        return incomeHistory(a, p);
      case "GET /fapi/v1/order":
        return queryOrder(a, p);
      case "GET /fapi/v1/positionSide/dual":
        return { status: 200, body: { dualSidePosition: a.dualSide } };
      case "GET /fapi/v1/multiAssetsMargin":
        return { status: 200, body: { multiAssetsMargin: a.multiAssets } };
      case "POST /fapi/v1/algoOrder":
        return placeAlgoOrder(a, p);
      case "GET /fapi/v1/openAlgoOrders":
        return {
          status: 200,
          body: a.algo
            .filter((o) => p.symbol === undefined || o.symbol === p.symbol)
            .map((o) => algoJson(o)),
        };
      case "GET /fapi/v1/allAlgoOrders": {
        // Binance docs, Query All Algo Orders: `symbol` required; open and past algo orders,
        // a triggered one with its `actualOrderId` (the order it placed) and FINISHED once filled.
        if (p.symbol === undefined)
          return err(400, -1102, "Mandatory parameter 'symbol' was not sent.");
        return {
          status: 200,
          body: [
            ...a.triggered
              .filter((t) => t.order.symbol === p.symbol)
              .map((t) => ({
                ...(algoJson(t.order, "FINISHED") as object),
                actualOrderId: String(t.actualOrderId),
                triggerTime: t.triggerTime,
              })),
            ...a.algo.filter((o) => o.symbol === p.symbol).map((o) => algoJson(o)),
          ],
        };
      }
      case "DELETE /fapi/v1/algoOrder": {
        const i = a.algo.findIndex(
          (o) => String(o.algoId) === p.algoId || o.clientAlgoId === p.clientAlgoId,
        );
        if (i === -1) return err(400, -2011, "Unknown order sent.");
        const [o] = a.algo.splice(i, 1);
        return {
          status: 200,
          body: { algoId: o!.algoId, clientAlgoId: o!.clientAlgoId, code: "200", msg: "success" },
        };
      }
    }
    return err(404, -1000, `fake binance: no route for ${key}`);
  }

  const limits = createLimitAnswers();
  const server: FakeHttpServer = await startRecordingServer(
    requests,
    (req) => limits.take() ?? route(req),
  );
  const account = (apiKey: string): Account => {
    const a = accounts.get(apiKey);
    if (a === undefined) throw new Error(`fake binance: unknown key ${apiKey}`);
    return a;
  };

  return {
    url: server.url,
    requests,
    get signatureFailures() {
      return signatureFailures;
    },
    setRestrictions(apiKey, restrictions) {
      account(apiKey).restrictions = { ...restrictions };
    },
    setMarkPrice(price) {
      markPrice = price;
    },
    setLastPrice(price) {
      lastPrice = price;
    },
    positions(apiKey) {
      return [...account(apiKey).positions.entries()].map(([key, p]) => {
        const ps = sideOf(key);
        return { symbol: symbolOf(key), ...p, ...(ps === "BOTH" ? {} : { positionSide: ps }) };
      });
    },
    setHedgeMode(apiKey, dual) {
      account(apiKey).dualSide = dual;
    },
    setMultiAssetsMode(apiKey, on) {
      account(apiKey).multiAssets = on;
    },
    limitNext(status, retryAfter, times = 1) {
      const msg =
        status === 418
          ? "Way too many requests; IP(127.0.0.1) banned until a later time. Please use the websocket for live updates to avoid bans."
          : "Too many requests; current limit of IP(127.0.0.1) is 2400 requests per minute. Please use the websocket for live updates to avoid polling the API.";
      limits.push(
        { status, body: { code: -1003, msg }, headers: { "Retry-After": String(retryAfter) } },
        times,
      );
    },
    loseNextAnswer(apiKey, kind) {
      account(apiKey).lostAnswers.push(kind);
    },
    fireTrigger(apiKey, algoId) {
      const a = account(apiKey);
      const i = a.algo.findIndex((o) => o.algoId === algoId);
      if (i === -1) throw new Error(`fake binance: no algo order ${algoId}`);
      const [o] = a.algo.splice(i, 1);
      const key = `${o!.symbol}|${o!.positionSide}`;
      const leg = a.positions.get(key);
      if (leg === undefined) return;
      const reduces = o!.side === "SELL" ? leg.amount > 0 : leg.amount < 0;
      if (!reduces) return;
      const qty = o!.closePosition
        ? Math.abs(leg.amount)
        : Math.min(Number(o!.quantity), Math.abs(leg.amount));
      const orderId = nextId++;
      applyFill(a, key, o!.side === "BUY" ? qty : -qty, orderId);
      a.triggered.push({ order: o!, actualOrderId: orderId, triggerTime: Date.now() });
    },
    executedOrders(apiKey) {
      return [...account(apiKey).orders.values()].map((o) => ({ ...o }));
    },
    closeBehindBack(apiKey, symbol, price = markPrice) {
      // As a close in the exchange's app would: every leg of the symbol is realised at `price`
      // and gone (positions are kept per leg, `SYMBOL|BOTH` or `SYMBOL|LONG` / `|SHORT`).
      closeBy(account(apiKey), symbol, price, (id) => ({
        clientOrderId: `web_${id}`,
        type: "MARKET",
      }));
    },
    liquidate(apiKey, symbol, price = markPrice) {
      closeBy(account(apiKey), symbol, price, () => ({
        clientOrderId: `autoclose-${Date.now()}`,
        type: "LIQUIDATION",
      }));
    },
    fillNextPartly(apiKey, qty) {
      account(apiKey).liquidity = qty;
    },
    expireFills(apiKey) {
      account(apiKey).fills.length = 0;
    },
    payFunding(apiKey, symbol, amount) {
      // Binance docs, Get Income History: {symbol, incomeType, income, asset, info, time,
      // tranId, tradeId}, as ccxt's binance.parseIncome documents it.
      const a = account(apiKey);
      a.wallet += amount;
      a.income.push({
        symbol,
        incomeType: "FUNDING_FEE",
        income: dec(amount),
        asset: "USDT",
        info: "FUNDING_FEE",
        time: Date.now(),
        tranId: String(nextId++),
        tradeId: "",
      });
    },
    openBehindBack(apiKey, symbol, amount) {
      const a = account(apiKey);
      const leg = a.dualSide ? (amount > 0 ? "LONG" : "SHORT") : "BOTH";
      a.positions.set(`${symbol}|${leg}`, { amount, entryPrice: markPrice });
    },
    leverage(apiKey, symbol) {
      return account(apiKey).leverage.get(symbol) ?? 20;
    },
    algoOrders(apiKey) {
      return account(apiKey).algo.map((o) => ({ ...o }));
    },
    close: () => server.close(),
  };
}
