// Helpers the API-key venues (Binance USD-M, Bybit) share: checking the key pair is there,
// a market cache (public data only, never a client), and ccxt results in Warden's types.
import type { Balance, Position, Side, VenueCredentials } from "../../domain/venues/types";
import { VenueError } from "../../domain/venues/types";
import { createRateGate, keyIdOf, type PauseStore } from "./rate-gate";

/** The pair as Buffers; callers turn them into strings only when building the client. */
export function keyPairOf(
  creds: VenueCredentials,
  venue: string,
): { apiKey: Buffer; secret: Buffer } {
  const { apiKey, secret } = creds;
  if (apiKey === null || apiKey.length === 0 || secret === null || secret.length === 0) {
    throw new VenueError(
      "unsupported_credentials",
      `${venue} needs an API key and its secret.`,
      false,
    );
  }
  return { apiKey, secret };
}

interface MarketClient<M> {
  loadMarkets(): Promise<M>;
  setMarkets(markets: M): unknown;
  last_response_headers?: unknown;
}

/**
 * Runs `fn` with a fresh keyed client: the key pair is checked first, the markets come from
 * the adapter's shared cache (loaded once per TTL), and every error goes through `mapError`.
 */
export function keyedSession<C extends MarketClient<M>, M>(opts: {
  venue: string;
  client: (keys: { apiKey: Buffer; secret: Buffer }) => C;
  mapError: (err: unknown) => Error;
  /** Pauses shared with the other processes (Redis); without it, this process's only. */
  pauses?: PauseStore;
}) {
  const markets = createMarketCache<M>();
  const gate = createRateGate(opts.venue, Date.now, opts.pauses);
  return async <T>(
    creds: VenueCredentials,
    fn: (ex: C) => Promise<T>,
    loadMarkets = true,
  ): Promise<T> => {
    const keys = keyPairOf(creds, opts.venue);
    const keyId = keyIdOf(keys.apiKey);
    // A paused key sends nothing until the venue's Retry-After has passed.
    await gate.check(keyId);
    let ex: C | undefined;
    try {
      ex = opts.client(keys);
      if (loadMarkets) {
        const cached = markets.get();
        if (cached !== undefined) ex.setMarkets(cached);
        else markets.set(await ex.loadMarkets());
      }
      return await fn(ex);
    } catch (err) {
      throw (await gate.onError(keyId, err, ex?.last_response_headers)) ?? opts.mapError(err);
    }
  };
}

/**
 * ccxt's parsed markets, shared between the short-lived clients of one adapter for `ttlMs`.
 * Markets are public, so sharing them leaks nothing; loading them per call would fetch the
 * venue's whole instrument list before every order.
 */
export function createMarketCache<M>(ttlMs = 10 * 60_000, now: () => number = Date.now) {
  let entry: { markets: M; at: number } | undefined;
  return {
    get(): M | undefined {
      return entry !== undefined && now() - entry.at < ttlMs ? entry.markets : undefined;
    },
    set(markets: M): void {
      entry = { markets, at: now() };
    },
  };
}

export function num(value: unknown): number | null {
  const n = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
  return typeof n === "number" && Number.isFinite(n) ? n : null;
}

export function record(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

/** The order side that grows a position of `side`, and the one that shrinks it. */
export const buy = (side: Side): "buy" | "sell" => (side === "long" ? "buy" : "sell");
export const sell = (side: Side): "buy" | "sell" => (side === "long" ? "sell" : "buy");

export function checkPositive(value: number | undefined | null, what: string): void {
  if (value === undefined || value === null) return;
  if (!Number.isFinite(value) || value <= 0) {
    throw new VenueError("invalid_order", `${what} must be a positive number.`);
  }
}

interface CcxtPositionLike {
  symbol?: string;
  side?: string;
  contracts?: number;
  contractSize?: number;
  entryPrice?: number;
  markPrice?: number;
  unrealizedPnl?: number;
  leverage?: number;
}

/** Open positions in base-currency size; flat or unparseable entries are dropped. */
export function positionsOf(list: readonly CcxtPositionLike[]): Position[] {
  return list.flatMap((p): Position[] => {
    const contracts = num(p.contracts);
    if (!contracts || !p.symbol || (p.side !== "long" && p.side !== "short")) return [];
    return [
      {
        symbol: p.symbol,
        side: p.side,
        size: Math.abs(contracts) * (num(p.contractSize) ?? 1),
        entryPrice: num(p.entryPrice) ?? 0,
        markPrice: num(p.markPrice),
        unrealizedPnl: num(p.unrealizedPnl),
        leverage: num(p.leverage),
      },
    ];
  });
}

/**
 * Every currency ccxt reports a total for; free falls back to total − used. ccxt's typings
 * declare a balance as a dictionary of accounts, but it also carries total/free/used maps.
 */
export function balancesOf(balance: object): Balance[] {
  const b = record(balance);
  const totals = record(b.total);
  const free = record(b.free);
  const used = record(b.used);
  return Object.keys(totals).flatMap((currency): Balance[] => {
    const total = num(totals[currency]);
    if (total === null) return [];
    return [{ currency, total, free: num(free[currency]) ?? total - (num(used[currency]) ?? 0) }];
  });
}

/**
 * `value` rounded to the nearest multiple of `step` (a lot size such as 0.001), so that float
 * noise (0.03 − 0.01 = 0.0199…) does not lose a step when ccxt truncates to precision.
 */
export function roundToStep(value: number, step: number | undefined): number {
  if (step === undefined || !(step > 0)) return value;
  const decimals = Math.max(0, Math.ceil(-Math.log10(step) - 1e-9));
  return Number((Math.round(value / step) * step).toFixed(Math.min(decimals + 2, 16)));
}
