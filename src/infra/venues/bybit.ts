// Bybit V5 (unified account, linear perpetuals) through ccxt. Every call builds its own keyed
// client from the vault's Buffers and drops it; stop loss / take profit sit on the position.
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
import { CCXT_BASE_OPTIONS, rebaseUrls, toVenueError } from "./ccxt-common";
import { closeFromFills } from "./ccxt-fills";
import {
  balancesOf,
  buy,
  checkPositive,
  keyedSession,
  num,
  positionsOf,
  record,
  roundToStep,
  sell,
} from "./ccxt-keyed";

export interface BybitVenueOptions {
  /** VENUE_URL_BYBIT: replaces https://api.bybit.com for public and private calls. */
  origin?: string;
  timeoutMs?: number;
  /** ccxt's client-side rate limiter; on by default, off when an origin override is set. */
  enableRateLimit?: boolean;
  /** How long to wait for a market order to show as filled (default 2 s). */
  fillTimeoutMs?: number;
}

type Client = InstanceType<typeof ccxt.bybit>;

const VENUE = "Bybit";
const MS_PER_DAY = 86_400_000;
/** "leverage not modified": Bybit's answer when the leverage already has that value. */
const LEVERAGE_UNCHANGED = /"retCode"\s*:\s*110043\b/;

/** ScopeReport for query-api's result: readOnly next to each permission category. */
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
    permissions: { readOnly: result.readOnly, ...record(result.permissions) },
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

export function createBybitVenue(options: BybitVenueOptions = {}): Venue {
  const { origin, timeoutMs = CCXT_BASE_OPTIONS.timeout, fillTimeoutMs = 2_000 } = options;
  const enableRateLimit = options.enableRateLimit ?? origin === undefined;
  let apiUrls: unknown;

  /** The only place the key becomes a string; the client lives as long as one method call. */
  function client(keys: { apiKey: Buffer; secret: Buffer }): Client {
    if (origin !== undefined && apiUrls === undefined) {
      apiUrls = rebaseUrls(new ccxt.bybit().urls.api as Parameters<typeof rebaseUrls>[0], origin);
    }
    return new ccxt.bybit({
      ...CCXT_BASE_OPTIONS,
      timeout: timeoutMs,
      enableRateLimit,
      options: {
        fetchMarkets: { types: ["linear"] },
        // Stated up front, or ccxt asks query-api and account/info before the first private
        // call (account/info needs a transfer or withdrawal permission on a master key).
        enableUnifiedMargin: false,
        enableUnifiedAccount: true,
      },
      // loadMarkets would otherwise call the signed /v5/asset/coin/query-info, which a
      // contract-only key may not (retCode 10005, VENUES.md); Warden needs no currencies.
      // ccxt's bybit ignores options.fetchCurrencies, so the capability itself is turned off.
      has: { fetchCurrencies: false },
      ...(apiUrls === undefined ? {} : { urls: { api: apiUrls } }),
      apiKey: keys.apiKey.toString("utf8").trim(),
      secret: keys.secret.toString("utf8").trim(),
    });
  }

  const session = keyedSession<Client, Client["markets"]>({
    venue: VENUE,
    client,
    mapError: (err) => toVenueError(err, VENUE),
  });

  function perpetual(ex: Client, symbol: string): string {
    const market = ex.market(symbol);
    if (!market.swap || !market.linear) {
      throw new VenueError("unknown_symbol", `${VENUE} has no linear perpetual ${symbol}.`);
    }
    return market.symbol;
  }

  async function openPositionOf(ex: Client, symbol: string) {
    const positions = positionsOf(await ex.fetchPositions([symbol]));
    return positions.find((p) => p.symbol === symbol) ?? null;
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

  /** Sets the position's own SL/TP (tpslMode Full): a number sets, null clears ("0"). */
  async function setTradingStop(
    ex: Client,
    symbol: string,
    legs: { stopLoss?: number | null; takeProfit?: number | null },
  ): Promise<void> {
    const request: Record<string, unknown> = {
      category: "linear",
      symbol: ex.market(symbol).id,
      tpslMode: "Full",
      positionIdx: 0,
    };
    for (const leg of ["stopLoss", "takeProfit"] as const) {
      const price = legs[leg];
      if (price === undefined) continue;
      request[leg] = price === null ? "0" : ex.priceToPrecision(symbol, price);
    }
    await ex.privatePostV5PositionTradingStop(request);
  }

  async function close(ex: Client, symbol: string): Promise<Fill | null> {
    const position = await openPositionOf(ex, symbol);
    if (position === null) return null;
    // The position's SL/TP go with it: Bybit clears them when the size reaches zero.
    return marketOrder(ex, symbol, sell(position.side), position.size, position.side, {
      reduceOnly: true,
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
        checkPositive(input.size, "The position size");
        checkPositive(input.stopLoss, "The stop loss");
        checkPositive(input.takeProfit, "The take profit");
        checkPositive(input.leverage, "The leverage");
        const symbol = perpetual(ex, input.symbol);
        if (input.leverage !== undefined) {
          await ex.setLeverage(input.leverage, symbol).catch((err: unknown) => {
            if (err instanceof ccxt.BadRequest && LEVERAGE_UNCHANGED.test(err.message)) return;
            throw err;
          });
        }
        // Attached to the order, Bybit validates SL/TP with the entry: all or nothing.
        const params: Record<string, unknown> = {};
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
        const position = await openPositionOf(ex, symbol);
        if (position === null) {
          throw new VenueError("invalid_order", `There is no open ${VENUE} position in ${symbol}.`);
        }
        let fill: Fill | null = null;
        if (input.size !== undefined) {
          if (!Number.isFinite(input.size) || input.size < 0) {
            throw new VenueError("invalid_order", "The new position size must be zero or more.");
          }
          if (input.size === 0) return close(ex, symbol);
          const diff = roundToStep(input.size - position.size, ex.market(symbol).precision.amount);
          if (diff !== 0) {
            const qty = Number(ex.amountToPrecision(symbol, Math.abs(diff)));
            const grow = diff > 0;
            fill = await marketOrder(
              ex,
              symbol,
              grow ? buy(position.side) : sell(position.side),
              qty,
              position.side,
              grow ? {} : { reduceOnly: true },
            );
          }
        }
        if (input.stopLoss !== undefined || input.takeProfit !== undefined) {
          await setTradingStop(ex, symbol, {
            stopLoss: input.stopLoss,
            takeProfit: input.takeProfit,
          });
        }
        return fill;
      });
    },

    closePosition(creds, input) {
      return session(creds, (ex) => close(ex, perpetual(ex, input.symbol)));
    },

    findOrder(creds, input): Promise<OrderLookup> {
      return session(creds, async (ex) => {
        const symbol = perpetual(ex, input.symbol);
        // order/realtime also lists a unified account's recently finished orders.
        const answer = record(
          await ex.privateGetV5OrderRealtime({
            category: "linear",
            symbol: ex.market(symbol).id,
            orderLinkId: bybitLinkId(input.clientOrderId),
          }),
        );
        const list = record(answer.result).list;
        const order = record(Array.isArray(list) ? list[0] : undefined);
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
