// The steps the API-key futures adapters (Binance USD-M, Bybit) take alike: building a keyed
// ccxt client on a rebased origin, resolving a linear perpetual, finding a position's leg,
// checking an order's numbers, sizing a resize, and turning a venue's coded refusal into the
// venue's reason and what to do. Each venue module keeps only what is its own.
import type { Exchange } from "ccxt";
import type { Side } from "../../domain/venues/types";
import { VenueError, type VenueErrorCode } from "../../domain/venues/types";
import { CCXT_BASE_OPTIONS, rebaseUrls } from "./ccxt-common";
import { checkPositive, positionsOf, roundToStep } from "./ccxt-keyed";
import type { PauseStore } from "./rate-gate";

type UrlTree = Parameters<typeof rebaseUrls>[0];

/** What a ccxt exchange class gives these helpers. */
type FuturesClient = Pick<Exchange, "market" | "amountToPrecision" | "fetchPositions">;

/** What every API-key futures adapter is configured with. */
export interface CcxtVenueOptions {
  /** VENUE_URL_*: every urls.api entry is rebased onto this origin (tests, a testnet, a proxy). */
  origin?: string;
  timeoutMs?: number;
  /** ccxt's client-side rate limiter; on by default, off when an origin override is set. */
  enableRateLimit?: boolean;
  /** The rate gate's pauses shared between processes (createRedisPauses). */
  pauses?: PauseStore;
}

/**
 * A factory of keyed clients: `create` gets ccxt's constructor config, with every API URL
 * rebased onto `origin` when one is set (tests, testnets). The key becomes a string only here,
 * and the client lives as long as one adapter call.
 */
export function keyedClientFactory<C>(
  opts: CcxtVenueOptions & {
    /** ccxt's default `urls.api` of the exchange class, rebased once. */
    defaultApi: () => unknown;
    /** The venue's own constructor options (options, has…). */
    config: Record<string, unknown>;
    create: (config: Record<string, unknown>) => C;
  },
): (keys: { apiKey: Buffer; secret: Buffer }) => C {
  const { origin, timeoutMs = CCXT_BASE_OPTIONS.timeout } = opts;
  const enableRateLimit = opts.enableRateLimit ?? origin === undefined;
  let apiUrls: unknown;
  return (keys) => {
    if (origin !== undefined && apiUrls === undefined) {
      apiUrls = rebaseUrls(opts.defaultApi() as UrlTree, origin);
    }
    return opts.create({
      ...CCXT_BASE_OPTIONS,
      timeout: timeoutMs,
      enableRateLimit,
      ...opts.config,
      ...(apiUrls === undefined ? {} : { urls: { api: apiUrls } }),
      apiKey: keys.apiKey.toString("utf8").trim(),
      secret: keys.secret.toString("utf8").trim(),
    });
  };
}

/**
 * `symbol` as the venue's linear perpetual, or unknown_symbol. `refuse` may refuse a listed
 * market the key cannot trade, with the reason the user sees.
 */
export function linearPerpetual(
  ex: FuturesClient,
  symbol: string,
  venue: string,
  refuse?: (market: { symbol: string; settle?: string }) => string | null,
): string {
  const market = ex.market(symbol);
  if (!market.swap || !market.linear) {
    throw new VenueError("unknown_symbol", `${venue} has no linear perpetual ${symbol}.`);
  }
  const reason = refuse?.(market) ?? null;
  if (reason !== null) throw new VenueError("permission_denied", reason);
  return market.symbol;
}

/** The open position in `symbol` (the leg of `side` when given), or null. */
export async function openPositionOf(ex: FuturesClient, symbol: string, side?: Side) {
  const positions = positionsOf(await ex.fetchPositions([symbol]));
  return (
    positions.find((p) => p.symbol === symbol && (side === undefined || p.side === side)) ?? null
  );
}

/** The numbers of an open order, each positive when given. */
export function checkOpenNumbers(input: {
  size: number;
  stopLoss?: number;
  takeProfit?: number;
}): void {
  checkPositive(input.size, "The position size");
  checkPositive(input.stopLoss, "The stop loss");
  checkPositive(input.takeProfit, "The take profit");
}

/** What a modify's new absolute size asks: close, nothing, or a market order of `qty`. */
export type Resize =
  | { kind: "close" }
  | { kind: "none" }
  | { kind: "trade"; qty: number; grow: boolean };

export function resizeOf(
  ex: FuturesClient,
  symbol: string,
  current: number,
  size: number | undefined,
): Resize {
  if (size === undefined) return { kind: "none" };
  if (!Number.isFinite(size) || size < 0) {
    throw new VenueError("invalid_order", "The new position size must be zero or more.");
  }
  if (size === 0) return { kind: "close" };
  const diff = roundToStep(size - current, ex.market(symbol).precision.amount);
  if (diff === 0) return { kind: "none" };
  return {
    kind: "trade",
    qty: Number(ex.amountToPrecision(symbol, Math.abs(diff))),
    grow: diff > 0,
  };
}

/** One row of a venue's error table: the domain code and, where there is one, what to do. */
export interface CodedError {
  code: VenueErrorCode;
  hint?: string;
  /** A better hint when the venue's reason matches (one code, several reasons). */
  hints?: readonly (readonly [RegExp, string])[];
}

/**
 * Maps a refusal that carries the venue's own code to a VenueError: the venue's short reason,
 * what the user can do, and the code in the message's tail for the log and the audit entry.
 * Returns undefined when `message` holds no code; a code outside the table is a plain refusal.
 */
export function codedVenueError(
  venue: string,
  table: Readonly<Record<string, CodedError>>,
  found: { code: string | undefined; reason: string | undefined },
): VenueError | undefined {
  const { code, reason } = found;
  if (code === undefined) return undefined;
  const mapped = table[code];
  if (mapped === undefined) {
    return new VenueError(
      "venue_error",
      `${venue} refused the request${reason ? `: ${reason}` : "."} (code ${code})`,
      false,
    );
  }
  const what =
    mapped.code === "insufficient_funds"
      ? `${venue}: insufficient margin for this order.`
      : mapped.code === "unknown_symbol"
        ? `${venue} does not list that symbol.`
        : mapped.code === "permission_denied"
          ? `${venue} says this key may not do that${reason ? `: ${reason}` : "."}`
          : `${venue} refused the order${reason ? `: ${reason}` : "."}`;
  const hint =
    (reason === undefined ? undefined : mapped.hints?.find(([re]) => re.test(reason))?.[1]) ??
    mapped.hint;
  // The venue's reason may end without a stop; the hint is a sentence of its own.
  const joined = hint ? `${/[.!?)]$/.test(what) ? what : `${what}.`} ${hint}` : what;
  return new VenueError(mapped.code, `${joined} (code ${code})`);
}

/** A venue's short reason from its JSON answer, printable ASCII only, never the request. */
export function reasonIn(message: string, field: string): string | undefined {
  const re = new RegExp(`"${field}"\\s*:\\s*"([^"]{1,200})"`);
  const text = re
    .exec(message)?.[1]
    ?.replace(/[^\x20-\x7e]/g, "")
    .trim();
  return text === "" ? undefined : text;
}

/** A venue's numeric code from its JSON answer. */
export function codeIn(message: string, field: string): string | undefined {
  return new RegExp(`"${field}"\\s*:\\s*(-?\\d+)`).exec(message)?.[1];
}
