// Binance USD-M Futures through ccxt's binanceusdm. Every call builds its own keyed client from
// the vault's Buffers and drops it; stop loss / take profit are whole-position algo orders.
import ccxt from "ccxt";
import type {
  Fill,
  ModifyPositionInput,
  OpenPositionInput,
  ScopeReport,
  Side,
  Venue,
  VenueErrorCode,
} from "../../domain/venues/types";
import { VenueError } from "../../domain/venues/types";
import { CCXT_BASE_OPTIONS, rebaseUrls, toVenueError } from "./ccxt-common";
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

export interface BinanceUsdmVenueOptions {
  /** VENUE_URL_BINANCEUSDM: every urls.api entry is rebased onto this origin (tests, a proxy). */
  origin?: string;
  timeoutMs?: number;
  /** ccxt's client-side rate limiter; on by default, off when an origin override is set. */
  enableRateLimit?: boolean;
}

type Client = InstanceType<typeof ccxt.binanceusdm>;
type CcxtOrder = Awaited<ReturnType<Client["createOrder"]>>;
type Leg = "stopLoss" | "takeProfit";

const VENUE = "Binance";

/** The algo order type of each leg, and the createOrder parameter that makes ccxt send it. */
const LEG: Record<Leg, { type: string; param: string; name: string }> = {
  stopLoss: { type: "STOP_MARKET", param: "stopLossPrice", name: "stop loss" },
  takeProfit: { type: "TAKE_PROFIT_MARKET", param: "takeProfitPrice", name: "take profit" },
};

/**
 * Binance order errors by code. ccxt maps them only for requests to fapi.binance.com itself
 * (per host), so through a rebased origin they would all be a generic ExchangeError; mapping
 * the code here gives the same answer everywhere.
 */
const ORDER_ERRORS: Readonly<Record<string, VenueErrorCode>> = {
  "-1013": "invalid_order",
  "-1111": "invalid_order",
  "-1121": "unknown_symbol",
  "-2018": "insufficient_funds",
  "-2019": "insufficient_funds",
  "-2021": "invalid_order",
  "-2022": "invalid_order",
  "-4003": "invalid_order",
  "-4005": "invalid_order",
  "-4028": "invalid_order",
  "-4131": "invalid_order",
  "-4164": "invalid_order",
};

/** Binance's own short reason, e.g. "ReduceOnly Order is rejected." — never the request. */
function binanceMsg(message: string): string | undefined {
  const msg = /"msg"\s*:\s*"([^"]{1,200})"/.exec(message)?.[1];
  return msg?.replace(/[^\x20-\x7e]/g, "");
}

export function mapBinanceError(err: unknown): VenueError {
  if (err instanceof ccxt.ExchangeError && !(err instanceof ccxt.AuthenticationError)) {
    const code = /"code"\s*:\s*(-?\d+)/.exec(err.message)?.[1];
    const mapped = code === undefined ? undefined : ORDER_ERRORS[code];
    if (mapped !== undefined) {
      const reason = binanceMsg(err.message);
      const message =
        mapped === "insufficient_funds"
          ? `${VENUE}: insufficient margin for this order.`
          : mapped === "unknown_symbol"
            ? `${VENUE} does not list that symbol.`
            : `${VENUE} refused the order${reason ? `: ${reason}` : " as invalid."}`;
      return new VenueError(mapped, message);
    }
  }
  return toVenueError(err, VENUE);
}

/**
 * positionRisk v3 dropped `leverage`; in cross margin its initial margin is notional / leverage,
 * which gives it back.
 */
function withLeverage<P extends { leverage?: number; info?: unknown }>(positions: P[]): P[] {
  return positions.map((p) => {
    if (num(p.leverage) !== null) return p;
    const info = record(p.info);
    const notional = num(info.notional);
    const margin = num(info.positionInitialMargin) ?? num(info.initialMargin);
    return notional && margin ? { ...p, leverage: Math.round(Math.abs(notional) / margin) } : p;
  });
}

function fillOf(order: CcxtOrder, symbol: string, side: Side): Fill {
  const size = num(order.filled);
  const price = num(order.average) ?? num(record(order.info).avgPrice);
  if (!size || !price) {
    throw new VenueError(
      "venue_error",
      `${VENUE} accepted order ${order.id} but did not report it filled; check your positions before retrying.`,
      false,
    );
  }
  return { orderId: String(order.id), symbol, side, size, price };
}

export function createBinanceUsdmVenue(options: BinanceUsdmVenueOptions = {}): Venue {
  const { origin, timeoutMs = CCXT_BASE_OPTIONS.timeout } = options;
  const enableRateLimit = options.enableRateLimit ?? origin === undefined;
  let apiUrls: unknown;

  /** The only place the key becomes a string; the client lives as long as one method call. */
  function client(keys: { apiKey: Buffer; secret: Buffer }): Client {
    if (origin !== undefined && apiUrls === undefined) {
      apiUrls = rebaseUrls(
        new ccxt.binanceusdm().urls.api as Parameters<typeof rebaseUrls>[0],
        origin,
      );
    }
    return new ccxt.binanceusdm({
      ...CCXT_BASE_OPTIONS,
      timeout: timeoutMs,
      enableRateLimit,
      // Without this, loadMarkets also calls the signed spot endpoints capital/config/getall
      // and margin/allPairs, which a futures-only key need not reach.
      options: { fetchCurrencies: false },
      ...(apiUrls === undefined ? {} : { urls: { api: apiUrls } }),
      apiKey: keys.apiKey.toString("utf8").trim(),
      secret: keys.secret.toString("utf8").trim(),
    });
  }

  const session = keyedSession<Client, Client["markets"]>({
    venue: VENUE,
    client,
    mapError: (err) => mapBinanceError(err),
  });

  function perpetual(ex: Client, symbol: string): string {
    const market = ex.market(symbol);
    if (!market.swap || !market.linear) {
      throw new VenueError("unknown_symbol", `${VENUE} USD-M has no perpetual ${symbol}.`);
    }
    return market.symbol;
  }

  async function openPositionOf(ex: Client, symbol: string) {
    const positions = positionsOf(await ex.fetchPositions([symbol]));
    return positions.find((p) => p.symbol === symbol) ?? null;
  }

  /** Open SL/TP algo orders on `symbol`, by leg. */
  async function triggersOf(ex: Client, symbol: string): Promise<{ id: string; leg: Leg }[]> {
    const open = await ex.fetchOpenOrders(symbol, undefined, undefined, { trigger: true });
    return open.flatMap((o) => {
      const type = record(o.info).orderType;
      const leg: Leg | null =
        type === LEG.stopLoss.type
          ? "stopLoss"
          : type === LEG.takeProfit.type
            ? "takeProfit"
            : null;
      return leg === null || o.id === undefined ? [] : [{ id: String(o.id), leg }];
    });
  }

  const cancelTrigger = (ex: Client, symbol: string, id: string) =>
    ex.cancelOrder(id, symbol, { trigger: true });

  /**
   * Sets each given leg: a number places a whole-position trigger (closePosition=true, so it
   * follows later size changes and can only reduce), null removes it, undefined leaves it. New
   * triggers are placed before old ones are cancelled, so a position is never left unprotected;
   * if a placement fails, the ones just placed are withdrawn and the old ones stay.
   */
  async function setTriggers(
    ex: Client,
    symbol: string,
    side: Side,
    legs: { stopLoss?: number | null; takeProfit?: number | null },
  ): Promise<void> {
    const before = await triggersOf(ex, symbol);
    const placed: string[] = [];
    try {
      for (const leg of ["stopLoss", "takeProfit"] as const) {
        const price = legs[leg];
        if (price === undefined || price === null) continue;
        const order = await ex.createOrder(symbol, "market", sell(side), 0, undefined, {
          [LEG[leg].param]: price,
          closePosition: true,
        });
        placed.push(String(order.id));
      }
    } catch (err) {
      for (const id of placed) await cancelTrigger(ex, symbol, id).catch(() => undefined);
      throw err;
    }
    for (const t of before) {
      if (legs[t.leg] !== undefined) await cancelTrigger(ex, symbol, t.id);
    }
  }

  async function close(ex: Client, symbol: string): Promise<Fill | null> {
    const position = await openPositionOf(ex, symbol);
    let fill: Fill | null = null;
    if (position !== null) {
      const order = await ex.createOrder(
        symbol,
        "market",
        sell(position.side),
        position.size,
        undefined,
        { reduceOnly: true },
      );
      fill = fillOf(order, symbol, position.side);
    }
    // Leftover triggers could fire on a later position in this symbol. The close itself
    // succeeded, so failing to tidy up must not turn it into an error.
    const leftovers = await triggersOf(ex, symbol).catch(() => []);
    for (const t of leftovers) await cancelTrigger(ex, symbol, t.id).catch(() => undefined);
    return fill;
  }

  function checkLeverage(leverage: number | undefined): void {
    if (leverage === undefined) return;
    if (!Number.isInteger(leverage) || leverage < 1 || leverage > 125) {
      throw new VenueError(
        "invalid_order",
        `${VENUE} leverage must be a whole number from 1 to 125.`,
      );
    }
  }

  return {
    id: "binanceusdm",

    verifyScopes(creds): Promise<ScopeReport> {
      return session(
        creds,
        async (ex) => {
          const restrictions = record(await ex.sapiGetAccountApiRestrictions());
          const expiry = num(restrictions.tradingAuthorityExpirationTime);
          return {
            venue: "binanceusdm",
            permissions: restrictions,
            ipBound: restrictions.ipRestrict === true,
            expiresAt: expiry !== null && expiry > 0 ? new Date(expiry) : null,
          };
        },
        false,
      );
    },

    openPosition(creds, input: OpenPositionInput) {
      return session(creds, async (ex) => {
        checkPositive(input.size, "The position size");
        checkPositive(input.stopLoss, "The stop loss");
        checkPositive(input.takeProfit, "The take profit");
        checkLeverage(input.leverage);
        const symbol = perpetual(ex, input.symbol);
        if (input.leverage !== undefined) await ex.setLeverage(input.leverage, symbol);
        const order = await ex.createOrder(symbol, "market", buy(input.side), input.size);
        const fill = fillOf(order, symbol, input.side);
        if (input.stopLoss === undefined && input.takeProfit === undefined) return fill;
        try {
          await setTriggers(ex, symbol, input.side, {
            stopLoss: input.stopLoss,
            takeProfit: input.takeProfit,
          });
        } catch (err) {
          // Binance has no atomic entry + SL/TP; an unprotected position the user asked to
          // protect is worse than none, so the fill is undone.
          const reason = mapBinanceError(err);
          try {
            await ex.createOrder(symbol, "market", sell(input.side), fill.size, undefined, {
              reduceOnly: true,
            });
          } catch {
            throw new VenueError(
              reason.code,
              `${VENUE} opened the position but refused its stop loss / take profit (${reason.message}), and closing it again failed: close ${symbol} yourself now.`,
              false,
            );
          }
          throw new VenueError(
            reason.code,
            `${VENUE} refused the stop loss / take profit (${reason.message}); the position was closed again.`,
            false,
          );
        }
        return fill;
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
            const order = await ex.createOrder(
              symbol,
              "market",
              grow ? buy(position.side) : sell(position.side),
              qty,
              undefined,
              grow ? {} : { reduceOnly: true },
            );
            fill = fillOf(order, symbol, position.side);
          }
        }
        if (input.stopLoss !== undefined || input.takeProfit !== undefined) {
          await setTriggers(ex, symbol, position.side, {
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

    positions(creds) {
      return session(creds, async (ex) => positionsOf(withLeverage(await ex.fetchPositions())));
    },

    balance(creds) {
      return session(creds, async (ex) => balancesOf(await ex.fetchBalance()));
    },

    market(creds, symbol) {
      return session(creds, async (ex) => {
        const m = ex.market(perpetual(ex, symbol));
        // GET /fapi/v1/premiumIndex (public): the mark price orders are margined at.
        const premium = record(await ex.fapiPublicGetPremiumIndex({ symbol: m.id }));
        const mark = num(premium.markPrice);
        if (!mark) throw new VenueError("venue_error", `${VENUE} did not report a mark price.`);
        const step = num(m.precision.amount) ?? 0.001;
        return {
          symbol: m.symbol,
          active: m.active !== false,
          lotStep: step,
          minSize: num(m.limits.amount?.min) ?? step,
          maxSize: num(m.limits.amount?.max),
          minNotional: num(m.limits.cost?.min) ?? 0,
          // The first leverage bracket (GET /fapi/v1/leverageBracket): up to 125x, 0.4 % maintenance.
          maxLeverage: num(m.limits.leverage?.max) ?? 125,
          markPrice: mark,
          takerFeeRate: num(m.taker) ?? 0.0005,
          maintenanceMarginRate: 0.004,
        };
      });
    },
  };
}
