// A local Bybit V5 (linear perpetuals; unified or classic account; one-way or hedge mode) for
// tests: the endpoints ccxt's bybit calls in Warden's flows, every signature checked as Bybit
// does, a tiny position book with one leg per positionIdx.

import {
  type Account,
  type BybitQueryApi,
  envelope,
  hasWallet,
  IDX_MISMATCH,
  instrument,
  isUnified,
  legKey,
  MIN_ORDER_VALUE,
  ok,
  positionJson,
  SETTLE,
  SYMBOLS,
  walletBalance,
} from "./bybit-book";
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

export type { BybitQueryApi } from "./bybit-book";

export interface FakeBybitKey {
  secret: string;
  queryApi: BybitQueryApi;
  /** USDT wallet balance of the account behind the key (default 10 000). */
  walletBalance?: number;
  /** Both-side (hedge) position mode from the start (default one-way). */
  hedgeMode?: boolean;
}

export interface FakeBybitOptions {
  keys: Record<string, FakeBybitKey>;
  /** Mark price of BTCUSDT; market orders fill at it (default 63 000). */
  markPrice?: number;
}

export interface FakeBybitPosition {
  symbol: string;
  /** 0 one-way; 1 the buy-side (long) leg, 2 the sell-side (short) leg of hedge mode. */
  positionIdx: number;
  side: "Buy" | "Sell";
  size: number;
  avgPrice: number;
  leverage: number;
  stopLoss: string;
  takeProfit: string;
}

export interface FakeBybit {
  url: string;
  requests: RecordedRequest[];
  /** Signed requests whose key was known but whose signature did not verify. */
  readonly signatureFailures: number;
  setQueryApi(apiKey: string, queryApi: BybitQueryApi): void;
  /** Same as setQueryApi: the name the Binance fake uses, for re-verification tests. */
  setRestrictions(apiKey: string, queryApi: BybitQueryApi): void;
  setMarkPrice(price: number): void;
  /**
   * Control: close a position outside Warden (as in the exchange's app), filled at `price`
   * (default the mark) and recorded among the executions; `positionIdx` picks the hedge-mode leg.
   */
  closeBehindBack(apiKey: string, symbol: string, price?: number, positionIdx?: number): void;
  /** Switches the key's account between one-way (false) and both-side hedge mode (true). */
  setHedgeMode(apiKey: string, hedged: boolean): void;
  /** While true, order queries find nothing: an order fills but its fill is never reported. */
  setHideOrders(hide: boolean): void;
  /**
   * The key's orders so far age out of order/realtime (recent closed orders only) and are
   * listed by order/history alone.
   */
  ageOrders(apiKey: string): void;
  /** The next order/create executes, then its answer is lost this way. */
  loseNextAnswer(apiKey: string, kind: LostAnswer): void;
  /**
   * The next `times` requests (any key) are refused over the key's rate limit: HTTP 200,
   * `retCode 10006` "Too many visits!", with `X-Bapi-Limit-Reset-Timestamp` (ms) saying when
   * the limit resets (Bybit V5 docs, Rate Limit → API rate limit rules). Bybit sends no
   * Retry-After.
   */
  limitNext(resetInSeconds: number, times?: number): void;
  /** Every order/create that executed. */
  executedOrders(apiKey: string): Record<string, unknown>[];
  positions(apiKey: string): FakeBybitPosition[];
  close(): Promise<void>;
}

/** A trade-only key as Bybit reports it: contracts Order + Position, nothing else, no IP. */
export const BYBIT_TRADE_ONLY_QUERY_API: BybitQueryApi = {
  id: "13770661",
  note: "warden",
  readOnly: 0,
  secret: "",
  permissions: {
    ContractTrade: ["Order", "Position"],
    Spot: [],
    Wallet: [],
    Options: [],
    Derivatives: ["DerivativesTrade"],
    CopyTrading: [],
    BlockTrade: [],
    Exchange: [],
    NFT: [],
    Affiliate: [],
    Earn: [],
  },
  ips: ["*"],
  type: 1,
  deadlineDay: 83,
  expiredAt: "2027-02-15T03:21:05Z",
  createdAt: "2026-11-20T02:24:40Z",
  unified: 0,
  uta: 1,
  userID: 24600000,
  inviterID: 0,
  vipLevel: "No VIP",
  mktMakerLevel: "0",
  affiliateID: 0,
  rsaPublicKey: "",
  isMaster: true,
  parentUid: "0",
  kycLevel: "LEVEL_DEFAULT",
  kycRegion: "",
};

export async function startFakeBybit(opts: FakeBybitOptions): Promise<FakeBybit> {
  let hideOrders = false;
  /** Orders aged out of order/realtime, by orderId. */
  const aged = new Set<string>();
  const requests: RecordedRequest[] = [];
  const accounts = new Map<string, Account>();
  for (const [apiKey, k] of Object.entries(opts.keys)) {
    accounts.set(apiKey, {
      secret: k.secret,
      queryApi: { ...k.queryApi },
      wallet: k.walletBalance ?? 10_000,
      hedge: k.hedgeMode === true,
      positions: new Map(),
      leverage: new Map(),
      orders: [],
      lostAnswers: [],
      fills: [],
    });
  }
  let markPrice = opts.markPrice ?? 63_000;
  let signatureFailures = 0;
  let nextOrder = 1;

  /** Bybit's checks: key, then timestamp window, then signature over the raw query or body. */
  function authenticate(req: RecordedRequest): { apiKey: string; account: Account } | Reply {
    const apiKey = header(req, "x-bapi-api-key") ?? "";
    const account = accounts.get(apiKey);
    if (account === undefined) return envelope(10003, "API key is invalid.");
    const timestamp = header(req, "x-bapi-timestamp") ?? "";
    const recvWindow = header(req, "x-bapi-recv-window") ?? "5000";
    const sign = header(req, "x-bapi-sign") ?? "";
    if (Math.abs(Date.now() - Number(timestamp)) > Number(recvWindow)) {
      return envelope(
        10002,
        "invalid request, please check your server timestamp or recv_window param",
      );
    }
    const payload = `${timestamp}${apiKey}${recvWindow}${req.method === "POST" ? req.body : req.query}`;
    if (!signatureMatches(hmacSha256Hex(account.secret, payload), sign)) {
      signatureFailures++;
      return envelope(10004, "error sign! Please check your signature generation algorithm.");
    }
    return { apiKey, account };
  }

  /**
   * The leg a request addresses (missing = 0), or null when it does not fit the account's
   * position mode: hedge mode takes 1 or 2, one-way only 0 (Bybit V5 docs, Place Order and Set
   * Trading Stop → positionIdx; VENUES.md rules table).
   */
  function legIdx(a: Account, value: unknown): number | null {
    const idx = value === undefined ? 0 : Number(value);
    if (a.hedge ? idx !== 1 && idx !== 2 : idx !== 0) return null;
    return idx;
  }

  /**
   * POST /v5/position/switch-mode (Bybit V5 docs, Switch Position Mode): mode 0 one-way, 3 both
   * sides; refused while a position is open (110024) or when nothing changes (110025).
   */
  function switchMode(a: Account, body: Record<string, unknown>): Reply {
    if (body.category !== "linear") return envelope(10001, "params error: category");
    if (body.mode !== 0 && body.mode !== 3) return envelope(10001, "params error: mode");
    const hedge = body.mode === 3;
    if (hedge === a.hedge) return envelope(110025, "Position mode is not modified");
    if (a.positions.size > 0) {
      return envelope(110024, "You have an existing position, so position mode cannot be switched");
    }
    a.hedge = hedge;
    return ok({});
  }

  function createOrder(a: Account, body: Record<string, unknown>): Reply {
    const symbol = String(body.symbol ?? "");
    if (body.category !== "linear") return envelope(10001, "params error: category");
    if (!(SYMBOLS as readonly string[]).includes(symbol)) {
      return envelope(10001, "params error: symbol invalid");
    }
    if (body.orderType !== "Market") return envelope(10001, "params error: orderType");
    const side = body.side;
    if (side !== "Buy" && side !== "Sell") return envelope(10001, "params error: side invalid");
    let qty = Number(body.qty);
    if (!(qty > 0) || Math.round(qty * 1000) !== qty * 1000) {
      return envelope(10001, "Qty invalid");
    }
    if (
      body.orderLinkId !== undefined &&
      a.orders.some((o) => o.orderLinkId === body.orderLinkId)
    ) {
      // Bybit V5 error codes: 110072 "OrderLinkedID is duplicate".
      return envelope(110072, "OrderLinkedID is duplicate");
    }
    const idx = legIdx(a, body.positionIdx);
    if (idx === null) return envelope(...IDX_MISMATCH);
    const reduceOnly = body.reduceOnly === true || body.reduceOnly === "true";
    const delta = side === "Buy" ? qty : -qty;
    const key = legKey(symbol, idx);
    const current = a.positions.get(key);
    // Hedge mode: a Sell on the buy-side leg (1) or a Buy on the sell-side leg (2) closes it.
    const legSign = idx === 1 ? 1 : idx === 2 ? -1 : 0;
    if (reduceOnly || (legSign !== 0 && Math.sign(delta) !== legSign)) {
      if (current === undefined || Math.sign(current.size) === Math.sign(delta)) {
        return envelope(110017, "Reduce-only rule not satisfied");
      }
      qty = Math.min(qty, Math.abs(current.size));
    } else {
      if (qty * markPrice < MIN_ORDER_VALUE) {
        return envelope(110094, "Order does not meet minimum order value 5USDT");
      }
      const lev = a.leverage.get(symbol) ?? 10;
      const increases = current === undefined || Math.sign(current.size) === Math.sign(delta);
      let im = 0;
      for (const p of a.positions.values()) {
        im += (Math.abs(p.size) * markPrice) / (a.leverage.get(p.symbol) ?? 10);
      }
      if (increases && (qty * markPrice) / lev > a.wallet - im) {
        return envelope(110007, "ab not enough for new order");
      }
    }
    const signed = side === "Buy" ? qty : -qty;
    if (current === undefined) {
      a.positions.set(key, {
        symbol,
        idx,
        size: signed,
        avgPrice: markPrice,
        stopLoss: body.stopLoss === undefined ? "0.00" : String(body.stopLoss),
        takeProfit: body.takeProfit === undefined ? "0.00" : String(body.takeProfit),
      });
    } else if (Math.sign(current.size) === Math.sign(signed)) {
      const size = current.size + signed;
      current.avgPrice = (current.avgPrice * current.size + markPrice * signed) / size;
      current.size = size;
    } else {
      const closing = Math.min(Math.abs(signed), Math.abs(current.size));
      a.wallet += (markPrice - current.avgPrice) * closing * Math.sign(current.size);
      const size = Math.round((current.size + signed) * 1000) / 1000;
      if (size === 0) a.positions.delete(key);
      else if (Math.sign(size) !== Math.sign(current.size)) {
        a.positions.set(key, {
          symbol,
          idx,
          size,
          avgPrice: markPrice,
          stopLoss: "0.00",
          takeProfit: "0.00",
        });
      } else current.size = size;
    }
    // Bybit order ids are UUIDs.
    const orderId = `1c0fd8e2-0000-4000-8000-${String(nextOrder++).padStart(12, "0")}`;
    const orderLinkId = String(body.orderLinkId ?? "");
    recordFill(a, symbol, side, qty, markPrice, orderId, orderLinkId);
    const now = String(Date.now());
    a.orders.unshift({
      orderId,
      orderLinkId,
      blockTradeId: "",
      symbol,
      price: "0",
      qty: dec(qty, 3),
      side,
      isLeverage: "",
      positionIdx: idx,
      orderStatus: "Filled",
      cancelType: "UNKNOWN",
      rejectReason: "EC_NoError",
      avgPrice: dec(markPrice),
      leavesQty: "0",
      leavesValue: "0",
      cumExecQty: dec(qty, 3),
      cumExecValue: dec(qty * markPrice),
      cumExecFee: dec(qty * markPrice * 0.00055),
      timeInForce: "IOC",
      orderType: "Market",
      stopOrderType: "",
      orderIv: "",
      triggerPrice: "",
      takeProfit: body.takeProfit === undefined ? "" : String(body.takeProfit),
      stopLoss: body.stopLoss === undefined ? "" : String(body.stopLoss),
      tpTriggerBy: "",
      slTriggerBy: "",
      triggerDirection: 0,
      triggerBy: "",
      lastPriceOnCreated: dec(markPrice),
      reduceOnly,
      closeOnTrigger: false,
      smpType: "None",
      smpGroup: 0,
      smpOrderId: "",
      tpslMode: body.stopLoss !== undefined || body.takeProfit !== undefined ? "Full" : "",
      tpLimitPrice: "",
      slLimitPrice: "",
      placeType: "",
      createdTime: now,
      updatedTime: now,
    });
    const lost = a.lostAnswers.shift();
    if (lost !== undefined) return lostAnswerReply(lost);
    return ok({ orderId, orderLinkId });
  }

  function tradingStop(a: Account, body: Record<string, unknown>): Reply {
    const symbol = String(body.symbol ?? "");
    const idx = legIdx(a, body.positionIdx);
    if (idx === null) return envelope(...IDX_MISMATCH);
    const p = a.positions.get(legKey(symbol, idx));
    if (p === undefined) return envelope(10001, "can not set tp/sl/ts for zero position");
    const price = (v: unknown): string | undefined =>
      v === undefined ? undefined : Number(v) === 0 ? "0.00" : String(v);
    const sl = price(body.stopLoss);
    const tp = price(body.takeProfit);
    if (sl !== undefined) p.stopLoss = sl;
    if (tp !== undefined) p.takeProfit = tp;
    return ok({});
  }

  function route(req: RecordedRequest): Reply {
    const key = `${req.method} ${req.path}`;
    const q = parseForm(req.query);
    if (key === "GET /v5/market/instruments-info") {
      // ccxt asks once for trading instruments and once for status=PreLaunch ones (none here).
      if (q.category !== "linear" || (q.status !== undefined && q.status !== "Trading")) {
        return ok({ category: q.category, list: [], nextPageCursor: "" });
      }
      return ok({ category: "linear", list: SYMBOLS.map(instrument), nextPageCursor: "" });
    }
    if (key === "GET /v5/market/time") {
      const now = Date.now();
      return ok({ timeSecond: String(Math.floor(now / 1000)), timeNano: `${now}000000` });
    }
    const signed = new Set([
      "GET /v5/user/query-api",
      "GET /v5/account/info",
      "GET /v5/asset/coin/query-info",
      "GET /v5/account/wallet-balance",
      "GET /v5/position/list",
      "POST /v5/position/set-leverage",
      "POST /v5/position/trading-stop",
      "POST /v5/position/switch-mode",
      "POST /v5/order/create",
      "GET /v5/order/realtime",
      "GET /v5/order/history",
      "GET /v5/execution/list",
    ]);
    if (!signed.has(key))
      return { status: 404, body: { retCode: 404, retMsg: `fake bybit: no route for ${key}` } };
    const auth = authenticate(req);
    if ("status" in auth) return auth;
    const { apiKey, account: a } = auth;
    let body: Record<string, unknown> = {};
    if (req.method === "POST") {
      try {
        body = JSON.parse(req.body) as Record<string, unknown>;
      } catch {
        return envelope(10001, "request body is not valid JSON");
      }
    }
    switch (key) {
      case "GET /v5/user/query-api":
        return ok({ ...a.queryApi, apiKey });
      case "GET /v5/account/info":
        return ok({
          marginMode: "REGULAR_MARGIN",
          updatedTime: "1697078946000",
          // Bybit V5 docs, Get Account Info: 1 classic account, 6 UTA 2.0 Pro.
          unifiedMarginStatus: isUnified(a) ? 6 : 1,
          dcpStatus: "OFF",
          timeWindow: 10,
          smpGroup: 0,
          isMasterTrader: false,
          spotHedgingStatus: "OFF",
        });
      case "GET /v5/asset/coin/query-info":
        // An asset endpoint: a key with no Wallet permission is refused (VENUES.md, rules).
        if (!hasWallet(a))
          return envelope(10005, "Permission denied, please check your API key permissions.");
        return ok({ rows: [] });
      case "GET /v5/account/wallet-balance":
        // A unified account answers only UNIFIED, a classic one only CONTRACT (VENUES.md).
        if (isUnified(a) && q.accountType !== "UNIFIED") {
          return envelope(10001, "accountType only support UNIFIED.");
        }
        if (!isUnified(a) && q.accountType !== "CONTRACT") {
          return envelope(10001, "accountType only support CONTRACT.");
        }
        return ok(walletBalance(a, markPrice));
      case "GET /v5/position/list": {
        if (q.category !== "linear") return envelope(10001, "params error: category");
        if (q.symbol !== undefined) {
          if (!(SYMBOLS as readonly string[]).includes(q.symbol)) {
            return envelope(10001, "params error: symbol invalid");
          }
          // With a symbol every leg of the mode is listed, open or flat (Bybit V5 docs,
          // Get Position Info): one entry (idx 0) one-way, two (idx 1 and 2) in hedge mode.
          const legs = a.hedge ? [1, 2] : [0];
          const symbol = q.symbol;
          const list = legs.map((idx) => positionJson(a, symbol, idx, markPrice));
          return ok({ category: "linear", list, nextPageCursor: "" });
        }
        if (q.settleCoin === undefined && q.baseCoin === undefined) {
          return envelope(10001, "params error: symbol or settleCoin is required");
        }
        const list = [...a.positions.values()]
          .filter((p) => SETTLE[p.symbol] === (q.settleCoin ?? SETTLE[p.symbol]))
          .map((p) => positionJson(a, p.symbol, p.idx, markPrice));
        return ok({ category: "linear", list, nextPageCursor: "" });
      }
      case "POST /v5/position/set-leverage": {
        const symbol = String(body.symbol ?? "");
        if (!(SYMBOLS as readonly string[]).includes(symbol)) {
          return envelope(10001, "params error: symbol invalid");
        }
        const buy = Number(body.buyLeverage);
        if (!(buy >= 1 && buy <= 100) || body.sellLeverage !== body.buyLeverage) {
          return envelope(10001, "params error: leverage invalid");
        }
        if ((a.leverage.get(symbol) ?? 10) === buy)
          return envelope(110043, "leverage not modified");
        a.leverage.set(symbol, buy);
        return ok({});
      }
      case "POST /v5/position/trading-stop":
        return tradingStop(a, body);
      case "POST /v5/position/switch-mode":
        return switchMode(a, body);
      case "POST /v5/order/create":
        return createOrder(a, body);
      case "GET /v5/order/realtime":
      case "GET /v5/order/history": {
        // Bybit docs: Get Open & Closed Orders lists open and recently closed orders only;
        // Get Order History lists closed (here: every filled) order, older ones too.
        if (hideOrders) return ok({ category: "linear", list: [], nextPageCursor: "" });
        const realtime = key === "GET /v5/order/realtime";
        const list = a.orders.filter(
          (o) =>
            (realtime ? !aged.has(String(o.orderId)) : true) &&
            (q.orderId === undefined || o.orderId === q.orderId) &&
            (q.orderLinkId === undefined || o.orderLinkId === q.orderLinkId) &&
            (q.symbol === undefined || o.symbol === q.symbol),
        );
        return ok({ category: "linear", list, nextPageCursor: "" });
      }
      case "GET /v5/execution/list": {
        // Bybit docs, Get Trade History: category required; symbol, startTime, endTime, limit
        // (1–100, default 50); newest first.
        if (q.category === undefined) return envelope(10001, "params error: category");
        const from = Number(q.startTime ?? 0);
        const to = Number(q.endTime ?? Number.MAX_SAFE_INTEGER);
        const limit = Math.min(Number(q.limit ?? 50), 100);
        const list = a.fills
          .filter(
            (f) =>
              (q.symbol === undefined || f.symbol === q.symbol) &&
              Number(f.execTime) >= from &&
              Number(f.execTime) <= to,
          )
          .slice(0, limit);
        return ok({ category: "linear", list, nextPageCursor: "" });
      }
    }
    return { status: 404, body: { retCode: 404, retMsg: `fake bybit: no route for ${key}` } };
  }

  /**
   * One execution as Bybit V5's Get Trade History (GET /v5/execution/list, unified account)
   * prints it, as in ccxt's bybit.parseTrade example; taker fee 0.055 % (Bybit's VIP 0 rate).
   */
  function recordFill(
    a: Account,
    symbol: string,
    side: "Buy" | "Sell",
    qty: number,
    price: number,
    orderId: string,
    orderLinkId: string,
  ): void {
    a.fills.unshift({
      symbol,
      orderType: "Market",
      underlyingPrice: "",
      orderLinkId,
      side,
      indexPrice: "",
      orderId,
      stopOrderType: "UNKNOWN",
      leavesQty: "0",
      execTime: String(Date.now()),
      feeCurrency: "",
      isMaker: false,
      execFee: dec(qty * price * 0.00055),
      feeRate: "0.00055",
      execId: `e0cbe81d-0000-4000-8000-${String(nextOrder++).padStart(12, "0")}`,
      tradeIv: "",
      blockTradeId: "",
      markPrice: dec(markPrice),
      execPrice: dec(price),
      markIv: "",
      orderQty: dec(qty, 3),
      orderPrice: "",
      execValue: dec(qty * price),
      execType: "Trade",
      execQty: dec(qty, 3),
      closedSize: "",
      seq: nextOrder++,
    });
  }

  const limits = createLimitAnswers();
  const server: FakeHttpServer = await startRecordingServer(
    requests,
    (req) => limits.take() ?? route(req),
  );
  const account = (apiKey: string): Account => {
    const a = accounts.get(apiKey);
    if (a === undefined) throw new Error(`fake bybit: unknown key ${apiKey}`);
    return a;
  };
  const setQueryApi = (apiKey: string, queryApi: BybitQueryApi) => {
    account(apiKey).queryApi = { ...queryApi };
  };

  return {
    url: server.url,
    requests,
    get signatureFailures() {
      return signatureFailures;
    },
    setQueryApi,
    setRestrictions: setQueryApi,
    setHideOrders: (hide: boolean) => {
      hideOrders = hide;
    },
    ageOrders(apiKey) {
      for (const o of account(apiKey).orders) aged.add(String(o.orderId));
    },
    limitNext(resetInSeconds, times = 1) {
      const reset = Date.now() + resetInSeconds * 1000;
      limits.push(
        {
          status: 200,
          body: {
            retCode: 10006,
            retMsg: "Too many visits!",
            result: {},
            retExtInfo: {},
            time: Date.now(),
          },
          headers: {
            "X-Bapi-Limit": "10",
            "X-Bapi-Limit-Status": "0",
            "X-Bapi-Limit-Reset-Timestamp": String(reset),
          },
        },
        times,
      );
    },
    loseNextAnswer(apiKey, kind) {
      account(apiKey).lostAnswers.push(kind);
    },
    executedOrders(apiKey) {
      return account(apiKey).orders.map((o) => ({ ...o }));
    },
    setMarkPrice(price) {
      markPrice = price;
    },
    closeBehindBack(apiKey, symbol, price = markPrice, positionIdx) {
      const a = account(apiKey);
      // In hedge mode both legs may be open: the caller names the leg (1 buy side, 2 sell side).
      const leg = [...a.positions.entries()].find(
        ([, p]) => p.symbol === symbol && (positionIdx === undefined || p.idx === positionIdx),
      );
      if (leg === undefined) throw new Error(`fake bybit: no ${symbol} position`);
      const [key, p] = leg;
      a.wallet += (price - p.avgPrice) * p.size;
      a.positions.delete(key);
      const orderId = `1c0fd8e2-0000-4000-8000-${String(nextOrder++).padStart(12, "0")}`;
      recordFill(a, symbol, p.size > 0 ? "Sell" : "Buy", Math.abs(p.size), price, orderId, "");
    },
    setHedgeMode(apiKey, hedged) {
      const a = account(apiKey);
      if (a.positions.size > 0) throw new Error("fake bybit: close the positions first (110024)");
      a.hedge = hedged;
    },
    positions(apiKey) {
      const a = account(apiKey);
      return [...a.positions.values()].map((p) => ({
        symbol: p.symbol,
        positionIdx: p.idx,
        side: p.size > 0 ? "Buy" : "Sell",
        size: Math.abs(p.size),
        avgPrice: p.avgPrice,
        leverage: a.leverage.get(p.symbol) ?? 10,
        stopLoss: p.stopLoss,
        takeProfit: p.takeProfit,
      }));
    },
    close: () => server.close(),
  };
}
