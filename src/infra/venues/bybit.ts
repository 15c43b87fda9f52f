// Bybit V5 (Unified Trading Account, linear USDT perpetuals, one-way or hedge mode) through
// ccxt. Every call builds its own keyed client from the vault's Buffers and drops it; stop loss
// / take profit sit on the position's leg (positionIdx).
import ccxt from "ccxt";
import type {
  Fill,
  ModifyPositionInput,
  OpenPositionInput,
  OrderLookup,
  ScopeReport,
  Side,
  Venue,
} from "../../domain/venues/types";
import { VenueError } from "../../domain/venues/types";
import { mapBybitError } from "./bybit-errors";
import { closeFromFills } from "./ccxt-fills";
import {
  type CcxtVenueOptions,
  checkOpenNumbers,
  keyedClientFactory,
  linearPerpetual,
  resizeOf,
} from "./ccxt-futures";
import {
  balancesOf,
  buy,
  checkPositive,
  keyedSession,
  num,
  positionsOf,
  record,
  sell,
} from "./ccxt-keyed";

/** `origin` is VENUE_URL_BYBIT (replaces https://api.bybit.com, public and private). */
export interface BybitVenueOptions extends CcxtVenueOptions {
  /** How long to wait for a market order to show as filled (default 2 s). */
  fillTimeoutMs?: number;
}

type Client = InstanceType<typeof ccxt.bybit>;

const VENUE = "Bybit";
const MS_PER_DAY = 86_400_000;
/** "leverage not modified": Bybit's answer when the leverage already has that value. */
const LEVERAGE_UNCHANGED = /"retCode"\s*:\s*110043\b/;

/**
 * ScopeReport for query-api's result: readOnly and uta (1 = Unified Trading Account, 0 =
 * classic; the policy refuses a classic account) next to each permission category.
 */
export function bybitScopeReport(result: Record<string, unknown>, now = new Date()): ScopeReport {
  const ips = Array.isArray(result.ips) ? result.ips.map(String) : [];
  const expiredAt =
    typeof result.expiredAt === "string" && result.expiredAt !== ""
      ? new Date(result.expiredAt)
      : null;
  const deadlineDay = num(result.deadlineDay);
  // Bound keys report no expiry (an empty or zero date); take only plausible ones.
  let expiresAt =
    expiredAt !== null && Number.isFinite(expiredAt.getTime()) && expiredAt.getUTCFullYear() > 2000
      ? expiredAt
      : null;
  if (expiresAt === null && deadlineDay !== null && deadlineDay > 0) {
    expiresAt = new Date(now.getTime() + deadlineDay * MS_PER_DAY);
  }
  const userId = result.userID;
  return {
    venue: "bybit",
    permissions: { readOnly: result.readOnly, uta: result.uta, ...record(result.permissions) },
    ipBound: ips.length > 0 && !ips.includes("*"),
    expiresAt,
    ...(typeof userId === "number" || typeof userId === "string"
      ? { account: String(userId) }
      : {}),
  };
}

/** ccxt turns Bybit's "0" unrealised PnL into undefined; the raw field has the real zero. */
function withRawPnl<P extends { unrealizedPnl?: number; info?: unknown }>(positions: P[]): P[] {
  return positions.map((p) => {
    if (num(p.unrealizedPnl) !== null) return p;
    const raw = num(record(p.info).unrealisedPnl);
    return raw === null ? p : { ...p, unrealizedPnl: raw };
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Warden's client order id as a Bybit orderLinkId (≤ 36 characters). */
const bybitLinkId = (id: string) => `w-${id}`;

/**
 * The leg an order or trading stop addresses (Bybit V5 docs, Place Order → positionIdx): 0 in
 * one-way mode; in hedge (both-side) mode 1 for the long (buy-side) leg, 2 for the short one.
 */
const positionIdxOf = (hedged: boolean, side: Side) => (hedged ? (side === "long" ? 1 : 2) : 0);

/**
 * Warden trades Bybit's USDT perpetuals only: USDC-settled ones (BTC/USDC:USDC) are another
 * product under another permission than the Contract one Warden's policy grants.
 */
function untradable(market: { symbol: string; settle?: string }): string | null {
  if (market.settle === "USDT") return null;
  const base = market.symbol.split("/")[0] ?? market.symbol;
  return `${VENUE}'s ${market.symbol} settles in ${market.settle ?? "another coin"}; Warden trades only Bybit's USDT perpetuals with this key (USDC contracts need another permission). Use ${base}/USDT:USDT instead.`;
}

export function createBybitVenue(options: BybitVenueOptions = {}): Venue {
  const { fillTimeoutMs = 2_000 } = options;
  const client = keyedClientFactory<Client>({
    ...options,
    defaultApi: () => new ccxt.bybit().urls.api,
    config: {
      options: {
        fetchMarkets: { types: ["linear"] },
        // Stated up front, or ccxt asks query-api and account/info before the first private
        // call (account/info needs a transfer or withdrawal permission on a master key). A
        // classic account is refused at /connect (policies/bybit-account.ts).
        enableUnifiedMargin: false,
        enableUnifiedAccount: true,
      },
      // loadMarkets would otherwise call the signed /v5/asset/coin/query-info, which a
      // contract-only key may not (retCode 10005, VENUES.md); Warden needs no currencies.
      // ccxt's bybit ignores options.fetchCurrencies, so the capability itself is turned off.
      has: { fetchCurrencies: false },
    },
    create: (config) => new ccxt.bybit(config),
  });

  const session = keyedSession<Client, Client["markets"]>({
    venue: VENUE,
    pauses: options.pauses,
    client,
    mapError: mapBybitError,
  });

  const perpetual = (ex: Client, symbol: string) => linearPerpetual(ex, symbol, VENUE, untradable);

  /**
   * The key's position mode and open legs in `symbol`. position/list names every leg of the
   * mode for a symbol, flat or not (Bybit V5 docs, Get Position Info): positionIdx 0 one-way,
   * 1 and 2 in hedge mode. Asked per call, so a switch in the Bybit app is seen at once.
   */
  async function legsOf(ex: Client, symbol: string) {
    const raw = await ex.fetchPositions([symbol]);
    const hedged = raw.some((p) => ["1", "2"].includes(String(record(p.info).positionIdx)));
    const positions = positionsOf(withRawPnl(raw)).filter((p) => p.symbol === symbol);
    return { hedged, positions };
  }

  /**
   * order/create answers only the order id; the fill is read back from order/realtime, which
   * can lag the match by a moment.
   */
  async function fillOf(ex: Client, id: string, symbol: string, side: Side): Promise<Fill> {
    const deadline = Date.now() + fillTimeoutMs;
    for (let attempt = 1; ; attempt++) {
      const order = await ex.fetchOrder(id, symbol, { acknowledged: true }).catch((err) => {
        if (err instanceof ccxt.OrderNotFound) return null;
        throw err;
      });
      const size = num(order?.filled);
      const price = num(order?.average);
      if (order && size && price && order.status !== "open") {
        return { orderId: id, symbol, side, size, price };
      }
      if (order?.status === "canceled" || order?.status === "rejected") {
        throw new VenueError("invalid_order", `${VENUE} did not fill the order (${order.status}).`);
      }
      if (Date.now() >= deadline) {
        throw new VenueError(
          "venue_error",
          `${VENUE} accepted order ${id} but did not report it filled; check your positions before retrying.`,
          false,
        );
      }
      await sleep(Math.min(100 * attempt, 500));
    }
  }

  async function marketOrder(
    ex: Client,
    symbol: string,
    orderSide: "buy" | "sell",
    size: number,
    positionSide: Side,
    params: Record<string, unknown> = {},
  ): Promise<Fill> {
    const order = await ex.createOrder(symbol, "market", orderSide, size, undefined, params);
    return fillOf(ex, String(order.id), symbol, positionSide);
  }

  /** Sets the leg's own SL/TP (tpslMode Full): a number sets, null clears ("0"). */
  async function setTradingStop(
    ex: Client,
    symbol: string,
    positionIdx: number,
    legs: { stopLoss?: number | null; takeProfit?: number | null },
  ): Promise<void> {
    const request: Record<string, unknown> = {
      category: "linear",
      symbol: ex.market(symbol).id,
      tpslMode: "Full",
      positionIdx,
    };
    for (const leg of ["stopLoss", "takeProfit"] as const) {
      const price = legs[leg];
      if (price === undefined) continue;
      request[leg] = price === null ? "0" : ex.priceToPrecision(symbol, price);
    }
    await ex.privatePostV5PositionTradingStop(request);
  }

  /** Closes the leg of `side` (the symbol's one position without it). */
  async function close(ex: Client, symbol: string, side?: Side): Promise<Fill | null> {
    const { hedged, positions } = await legsOf(ex, symbol);
    const position = positions.find((p) => side === undefined || p.side === side);
    if (position === undefined) return null;
    // The leg's SL/TP go with it: Bybit clears them when the size reaches zero.
    return marketOrder(ex, symbol, sell(position.side), position.size, position.side, {
      reduceOnly: true,
      positionIdx: positionIdxOf(hedged, position.side),
    });
  }

  return {
    id: "bybit",

    verifyScopes(creds): Promise<ScopeReport> {
      return session(
        creds,
        async (ex) => {
          const answer = record(await ex.privateGetV5UserQueryApi());
          return bybitScopeReport(record(answer.result));
        },
        false,
      );
    },

    openPosition(creds, input: OpenPositionInput) {
      return session(creds, async (ex) => {
        checkOpenNumbers(input);
        checkPositive(input.leverage, "The leverage");
        const symbol = perpetual(ex, input.symbol);
        const { hedged } = await legsOf(ex, symbol);
        if (input.leverage !== undefined) {
          await ex.setLeverage(input.leverage, symbol).catch((err: unknown) => {
            if (err instanceof ccxt.BadRequest && LEVERAGE_UNCHANGED.test(err.message)) return;
            throw err;
          });
        }
        // Attached to the order, Bybit validates SL/TP with the entry: all or nothing.
        const params: Record<string, unknown> = { positionIdx: positionIdxOf(hedged, input.side) };
        if (input.stopLoss !== undefined) params.stopLoss = { triggerPrice: input.stopLoss };
        if (input.takeProfit !== undefined) params.takeProfit = { triggerPrice: input.takeProfit };
        if (input.clientOrderId !== undefined)
          params.orderLinkId = bybitLinkId(input.clientOrderId);
        return marketOrder(ex, symbol, buy(input.side), input.size, input.side, params);
      });
    },

    modifyPosition(creds, input: ModifyPositionInput) {
      return session(creds, async (ex) => {
        checkPositive(input.stopLoss, "The stop loss");
        checkPositive(input.takeProfit, "The take profit");
        const symbol = perpetual(ex, input.symbol);
        const { hedged, positions } = await legsOf(ex, symbol);
        const position = positions.find((p) => input.side === undefined || p.side === input.side);
        if (position === undefined) {
          throw new VenueError("invalid_order", `There is no open ${VENUE} position in ${symbol}.`);
        }
        const positionIdx = positionIdxOf(hedged, position.side);
        let fill: Fill | null = null;
        const resize = resizeOf(ex, symbol, position.size, input.size);
        if (resize.kind === "close") return close(ex, symbol, position.side);
        if (resize.kind === "trade") {
          const { qty, grow } = resize;
          fill = await marketOrder(
            ex,
            symbol,
            grow ? buy(position.side) : sell(position.side),
            qty,
            position.side,
            grow ? { positionIdx } : { reduceOnly: true, positionIdx },
          );
        }
        if (input.stopLoss !== undefined || input.takeProfit !== undefined) {
          await setTradingStop(ex, symbol, positionIdx, {
            stopLoss: input.stopLoss,
            takeProfit: input.takeProfit,
          });
        }
        return fill;
      });
    },

    closePosition(creds, input) {
      return session(creds, (ex) => close(ex, perpetual(ex, input.symbol), input.side));
    },

    findOrder(creds, input): Promise<OrderLookup> {
      return session(creds, async (ex) => {
        const symbol = perpetual(ex, input.symbol);
        const query = {
          category: "linear",
          symbol: ex.market(symbol).id,
          orderLinkId: bybitLinkId(input.clientOrderId),
        };
        const first = (answer: unknown) => {
          const list = record(record(answer).result).list;
          return record(Array.isArray(list) ? list[0] : undefined);
        };
        // order/realtime lists open and only recently finished orders (Bybit docs, Get Open &
        // Closed Orders); an older filled or cancelled one is only in order/history (Get Order
        // History), so "not found" is said only when neither has it.
        let order = first(await ex.privateGetV5OrderRealtime(query));
        if (order.orderId === undefined) order = first(await ex.privateGetV5OrderHistory(query));
        if (order.orderId === undefined) return { status: "not_found" };
        const size = num(order.cumExecQty);
        const price = num(order.avgPrice);
        const status = String(order.orderStatus ?? "");
        if (["New", "PartiallyFilled", "Untriggered", "Created"].includes(status)) {
          return { status: "pending" };
        }
        if (!size || !price) return { status: "cancelled" };
        return {
          status: "filled",
          fill: { orderId: String(order.orderId), symbol, side: input.side, size, price },
        };
      });
    },

    positions(creds) {
      return session(creds, async (ex) => positionsOf(withRawPnl(await ex.fetchPositions())));
    },

    balance(creds) {
      return session(creds, async (ex) => balancesOf(await ex.fetchBalance()));
    },

    // GET /v5/execution/list for the fills; funding is not read here (a gap: closed-pnl).
    lastClose(creds, symbol, since, side) {
      return session(creds, (ex) =>
        closeFromFills(ex, perpetual(ex, symbol), side, since, { funding: false }),
      );
    },
  };
}
