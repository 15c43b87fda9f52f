// Binance USD-M Futures through ccxt's binanceusdm. Every call builds its own keyed client from
// the vault's Buffers and drops it; stop loss / take profit are whole-position algo orders.
import ccxt from "ccxt";
import type {
  Fill,
  LiveVenue,
  ModifyPositionInput,
  OpenPositionInput,
  OrderLookup,
  ScopeReport,
  Side,
  TriggerOrder,
} from "../../domain/venues/types";
import { VenueError } from "../../domain/venues/types";
import { assetModeOf, testnetScopeReport } from "./binanceusdm-account";
import { binanceCloseReason } from "./binanceusdm-close-reason";
import { binanceCode, mapBinanceError } from "./binanceusdm-errors";
import { closeFromFills } from "./ccxt-fills";
import {
  type CcxtVenueOptions,
  checkOpenNumbers,
  keyedClientFactory,
  linearPerpetual,
  openPositionOf,
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

/** `origin` is VENUE_URL_BINANCEUSDM (or the testnet's). */
export interface BinanceUsdmVenueOptions extends CcxtVenueOptions {
  /**
   * The USD-M futures testnet (`origin` is then its URL). It serves the /fapi endpoints only:
   * no /sapi, so apiRestrictions cannot be asked (ccxt: "sandbox/testnet does not support sapi
   * endpoints"), and its keys hold test funds only, which nothing can withdraw.
   */
  testnet?: boolean;
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

/** Warden's client order id in Binance's format (≤ 36 of [.A-Z:/a-z0-9_-]). */
const binanceClientId = (id: string) => `w-${id}`;

/** The leg a hedge-mode order addresses. */
const positionSideOf = (side: Side) => (side === "long" ? "LONG" : "SHORT");

/**
 * What addresses the position of `side`: in hedge mode its `positionSide` (and never
 * `reduceOnly`, -1106); in one-way mode `reduceOnly` on an order that must only reduce.
 */
function legParams(hedged: boolean, side: Side, reducing: boolean): Record<string, unknown> {
  if (hedged) return { positionSide: positionSideOf(side) };
  return reducing ? { reduceOnly: true } : {};
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

export function createBinanceUsdmVenue(options: BinanceUsdmVenueOptions = {}): LiveVenue {
  const client = keyedClientFactory<Client>({
    ...options,
    defaultApi: () => new ccxt.binanceusdm().urls.api,
    // Without this, loadMarkets also calls the signed spot endpoints capital/config/getall
    // and margin/allPairs, which a futures-only key need not reach.
    config: { options: { fetchCurrencies: false } },
    create: (config) => new ccxt.binanceusdm(config),
  });

  const session = keyedSession<Client, Client["markets"]>({
    venue: VENUE,
    pauses: options.pauses,
    client,
    mapError: (err) => mapBinanceError(err),
  });

  const perpetual = (ex: Client, symbol: string) => linearPerpetual(ex, symbol, `${VENUE} USD-M`);

  /** Binance dual side position: true in hedge mode (GET /fapi/v1/positionSide/dual). */
  async function hedgedOf(ex: Client): Promise<boolean> {
    return (await ex.fetchPositionMode()).hedged === true;
  }

  /** Open SL/TP algo orders on `symbol`, with the position each one acts on. */
  async function triggersOf(
    ex: Client,
    symbol: string,
  ): Promise<(TriggerOrder & { closePosition: boolean; reduces: Side })[]> {
    const open = await ex.fetchOpenOrders(symbol, undefined, undefined, { trigger: true });
    return open.flatMap((o) => {
      const info = record(o.info);
      const kind: Leg | null =
        info.orderType === LEG.stopLoss.type
          ? "stopLoss"
          : info.orderType === LEG.takeProfit.type
            ? "takeProfit"
            : null;
      if (kind === null || o.id === undefined) return [];
      const ps = info.positionSide;
      const positionSide: Side | null = ps === "LONG" ? "long" : ps === "SHORT" ? "short" : null;
      // A SELL trigger reduces a long; in hedge mode the leg says it outright.
      const reduces: Side = positionSide ?? (info.side === "SELL" ? "long" : "short");
      return [
        {
          id: String(o.id),
          symbol,
          kind,
          triggerPrice: num(info.triggerPrice) ?? 0,
          positionSide,
          closePosition: info.closePosition === true || info.closePosition === "true",
          reduces,
        },
      ];
    });
  }

  const cancelTrigger = (ex: Client, symbol: string, id: string) =>
    ex.cancelOrder(id, symbol, { trigger: true });

  /**
   * Sets each given leg of the position of `side`: a number places a whole-position trigger
   * (closePosition=true, so it follows later size changes and can only reduce), null removes
   * it, undefined leaves it. Binance allows one closePosition trigger of each kind per
   * direction (-4130), so a replacement is bridged: a quantity-based trigger at the new price
   * goes first, then the old one is cancelled, the new whole-position one placed and the bridge
   * withdrawn. The position is never unprotected by Warden's doing; if the bridge is refused,
   * nothing changed; if the final trigger is refused, the bridge stays as the protection.
   */
  async function setTriggers(
    ex: Client,
    symbol: string,
    position: { side: Side; size: number },
    hedged: boolean,
    legs: { stopLoss?: number | null; takeProfit?: number | null },
  ): Promise<void> {
    const { side } = position;
    const before = (await triggersOf(ex, symbol)).filter((t) => t.reduces === side);
    for (const leg of ["stopLoss", "takeProfit"] as const) {
      const price = legs[leg];
      if (price === undefined) continue;
      const old = before.filter((t) => t.kind === leg);
      if (price === null) {
        for (const t of old) await cancelTrigger(ex, symbol, t.id);
        continue;
      }
      const place = (params: Record<string, unknown>, size: number) =>
        ex.createOrder(symbol, "market", sell(side), size, undefined, {
          [LEG[leg].param]: price,
          ...params,
        });
      if (old.length === 0) {
        await place({ closePosition: true, ...legParams(hedged, side, false) }, 0);
        continue;
      }
      const bridge = await place(legParams(hedged, side, true), position.size);
      for (const t of old) await cancelTrigger(ex, symbol, t.id);
      try {
        await place({ closePosition: true, ...legParams(hedged, side, false) }, 0);
      } catch {
        continue; // the bridge protects the position at the new price
      }
      await cancelTrigger(ex, symbol, String(bridge.id)).catch(() => undefined);
    }
  }

  /**
   * Cancels the triggers in `symbol` whose position is gone (closed by Warden, a trigger, a
   * liquidation or in the exchange app): Binance leaves them open, and they would act on the
   * next position in that symbol.
   */
  async function cancelLeftovers(ex: Client, symbol: string): Promise<TriggerOrder[]> {
    const open = new Set(positionsOf(await ex.fetchPositions([symbol])).map((p) => p.side));
    const leftovers = (await triggersOf(ex, symbol)).filter((t) => !open.has(t.reduces));
    for (const t of leftovers) await cancelTrigger(ex, symbol, t.id);
    return leftovers.map(({ closePosition: _c, reduces: _r, ...t }) => t);
  }

  async function close(ex: Client, symbol: string, side?: Side): Promise<Fill | null> {
    const position = await openPositionOf(ex, symbol, side);
    let fill: Fill | null = null;
    if (position !== null) {
      const hedged = await hedgedOf(ex);
      const order = await ex.createOrder(
        symbol,
        "market",
        sell(position.side),
        position.size,
        undefined,
        legParams(hedged, position.side, true),
      );
      fill = fillOf(order, symbol, position.side);
    }
    // The close itself succeeded, so failing to tidy up must not turn it into an error; the
    // trading area's reconciliation finds what is left.
    await cancelLeftovers(ex, symbol).catch(() => []);
    return fill;
  }

  /** The order sent with Warden's client id, as Binance reports it (-2013: never placed). */
  async function lookup(
    ex: Client,
    symbol: string,
    side: Side,
    clientOrderId: string,
  ): Promise<OrderLookup> {
    let order: CcxtOrder;
    try {
      order = await ex.fetchOrder("", symbol, {
        origClientOrderId: binanceClientId(clientOrderId),
      });
    } catch (err) {
      if (err instanceof ccxt.ExchangeError && binanceCode(err.message) === "-2013") {
        return { status: "not_found" };
      }
      throw err;
    }
    if (order.status === "open") return { status: "pending" };
    if (!num(order.filled)) return { status: "cancelled" };
    return { status: "filled", fill: fillOf(order, symbol, side) };
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
          if (options.testnet === true) return testnetScopeReport(ex);
          const restrictions = record(await ex.sapiGetAccountApiRestrictions());
          return {
            venue: "binanceusdm",
            // The account's asset mode travels with the key's flags: the policy refuses
            // Multi-Assets Mode naming the setting (policies/binance-account.ts). A key without
            // futures may not read it (-2015) and is refused for that flag anyway.
            permissions:
              restrictions.enableFutures === true
                ? { ...restrictions, multiAssetsMargin: await assetModeOf(ex) }
                : restrictions,
            ipBound: restrictions.ipRestrict === true,
            // tradingAuthorityExpirationTime is the spot/margin permission's expiry (Binance
            // docs), not the key's: Binance reports no expiry for a futures key.
            expiresAt: null,
          };
        },
        false,
      );
    },

    openPosition(creds, input: OpenPositionInput) {
      return session(creds, async (ex) => {
        checkOpenNumbers(input);
        checkLeverage(input.leverage);
        const symbol = perpetual(ex, input.symbol);
        const hedged = await hedgedOf(ex);
        if (input.leverage !== undefined) await ex.setLeverage(input.leverage, symbol);
        const order = await ex.createOrder(
          symbol,
          "market",
          buy(input.side),
          input.size,
          undefined,
          {
            ...legParams(hedged, input.side, false),
            ...(input.clientOrderId === undefined
              ? {}
              : { newClientOrderId: binanceClientId(input.clientOrderId) }),
          },
        );
        const fill = fillOf(order, symbol, input.side);
        if (input.stopLoss === undefined && input.takeProfit === undefined) return fill;
        try {
          await setTriggers(ex, symbol, { side: input.side, size: fill.size }, hedged, {
            stopLoss: input.stopLoss,
            takeProfit: input.takeProfit,
          });
        } catch (err) {
          // Binance has no atomic entry + SL/TP. The position is open: say so plainly and let
          // the user retry the protection or close, rather than trading it back unasked.
          const reason = mapBinanceError(err);
          return {
            ...fill,
            protectionError: `${VENUE} opened the position but refused its stop loss / take profit: ${reason.message}`,
          };
        }
        return fill;
      });
    },

    modifyPosition(creds, input: ModifyPositionInput) {
      return session(creds, async (ex) => {
        checkPositive(input.stopLoss, "The stop loss");
        checkPositive(input.takeProfit, "The take profit");
        const symbol = perpetual(ex, input.symbol);
        const position = await openPositionOf(ex, symbol, input.side);
        if (position === null) {
          throw new VenueError("invalid_order", `There is no open ${VENUE} position in ${symbol}.`);
        }
        let fill: Fill | null = null;
        const resize = resizeOf(ex, symbol, position.size, input.size);
        if (resize.kind === "close") return close(ex, symbol, position.side);
        if (resize.kind === "trade") {
          const { qty, grow } = resize;
          const order = await ex.createOrder(
            symbol,
            "market",
            grow ? buy(position.side) : sell(position.side),
            qty,
            undefined,
            legParams(await hedgedOf(ex), position.side, !grow),
          );
          fill = fillOf(order, symbol, position.side);
        }
        if (input.stopLoss !== undefined || input.takeProfit !== undefined) {
          const size = (await openPositionOf(ex, symbol, position.side))?.size ?? position.size;
          await setTriggers(ex, symbol, { side: position.side, size }, await hedgedOf(ex), {
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

    findOrder(creds, input) {
      return session(creds, (ex) =>
        lookup(ex, perpetual(ex, input.symbol), input.side, input.clientOrderId),
      );
    },

    openTriggers(creds, input) {
      return session(creds, async (ex) => {
        const symbols =
          input.symbol === undefined
            ? Object.values(ex.markets ?? {})
                .filter((m) => m?.swap && m.linear)
                .map((m) => m!.symbol)
            : [perpetual(ex, input.symbol)];
        const out: TriggerOrder[] = [];
        for (const symbol of symbols) {
          for (const { closePosition: _c, reduces: _r, ...t } of await triggersOf(ex, symbol)) {
            out.push(t);
          }
        }
        return out;
      });
    },

    cancelLeftoverTriggers(creds, input) {
      return session(creds, (ex) => cancelLeftovers(ex, perpetual(ex, input.symbol)));
    },

    positions(creds) {
      return session(creds, async (ex) => positionsOf(withLeverage(await ex.fetchPositions())));
    },

    // GET /fapi/v1/userTrades for the fills, GET /fapi/v1/income (FUNDING_FEE) for funding,
    // the closing fills' orders for the reason (binanceusdm-close-reason.ts).
    lastClose(creds, symbol, since, side) {
      return session(creds, (ex) => {
        const unified = perpetual(ex, symbol);
        return closeFromFills(ex, unified, side, since, {
          funding: true,
          reasonOf: (ids) => binanceCloseReason(ex, ex.market(unified).id ?? unified, since, ids),
        });
      });
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
