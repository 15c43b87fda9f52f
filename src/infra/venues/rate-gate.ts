// Respecting the venues' rate limits (issue 16): when a venue answers "too many requests"
// (HTTP 429, ccxt RateLimitExceeded) or bans (Binance HTTP 418 "IP auto-banned", ccxt
// DDoSProtection), the key's calls to that venue pause until the time the venue gave in
// `Retry-After` — no call leaves Warden meanwhile, so there is no retry storm — and the user is
// told plainly how long to wait. Binance's docs (General Info, "LIMITS"): a 429 means back off;
// repeated 429s earn an IP ban answered with 418; both carry Retry-After in seconds. A 418 bans
// Warden's IP, so it pauses every key of the venue. Held in memory per process and adapter (one
// adapter per venue and network): a restart forgets a pause, which costs at most one answer.
import { createHash } from "node:crypto";
import ccxt from "ccxt";
import { VenueError } from "../../domain/venues/types";

/** Without a Retry-After, a limit answer pauses this long (Binance's limits are per minute). */
export const DEFAULT_PAUSE_SECONDS = 60;
/** A Retry-After beyond this is capped (Binance bans last 2 minutes to 3 days). */
const MAX_PAUSE_SECONDS = 3 * 24 * 3600;

export interface RateGate {
  /** Throws a rate_limited VenueError while `keyId` (or the whole venue) is paused. */
  check(keyId: string): void;
  /**
   * When `err` is a limit or ban answer, pauses `keyId` (a ban: the whole venue) for the time
   * in `headers` and returns the error to show; otherwise returns undefined.
   */
  onError(keyId: string, err: unknown, headers: unknown): VenueError | undefined;
}

/** A stable id for a key that is not the key: a hash of its public part. */
export function keyIdOf(publicPart: Buffer | string | null): string {
  return createHash("sha256")
    .update(publicPart ?? "")
    .digest("hex")
    .slice(0, 32);
}

/** Seconds from a Retry-After value: delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function retryAfterSeconds(value: unknown, now: number): number | undefined {
  if (typeof value !== "string" && typeof value !== "number") return undefined;
  const text = String(value).trim();
  if (/^\d+$/.test(text)) return Number(text);
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

/** Bybit's X-Bapi-Limit-Reset-Timestamp (ms since the epoch) as seconds from now. */
function resetSeconds(value: unknown, now: number): number | undefined {
  const at = Number(value);
  return Number.isFinite(at) && at > 0 ? Math.max(0, Math.ceil((at - now) / 1000)) : undefined;
}

function headerOf(headers: unknown, name: string): unknown {
  if (typeof headers !== "object" || headers === null) return undefined;
  const entry = Object.entries(headers).find(([k]) => k.toLowerCase() === name.toLowerCase());
  return entry?.[1];
}

export function createRateGate(venue: string, now: () => number = Date.now): RateGate {
  const pausedUntil = new Map<string, number>();
  const VENUE_WIDE = "*";

  const message = (until: number, banned: boolean) => {
    const seconds = Math.max(1, Math.ceil((until - now()) / 1000));
    return banned
      ? `${venue} has temporarily banned Warden's requests for too many calls; try again in ${seconds} s.`
      : `${venue} is rate-limiting this key; try again in ${seconds} s.`;
  };

  const remaining = (id: string) => {
    const until = pausedUntil.get(id);
    if (until === undefined) return undefined;
    if (until <= now()) {
      pausedUntil.delete(id);
      return undefined;
    }
    return until;
  };

  return {
    check(keyId) {
      const ban = remaining(VENUE_WIDE);
      if (ban !== undefined) throw new VenueError("rate_limited", message(ban, true));
      const until = remaining(keyId);
      if (until !== undefined) throw new VenueError("rate_limited", message(until, false));
    },
    onError(keyId, err, headers) {
      if (!(err instanceof ccxt.RateLimitExceeded || err instanceof ccxt.DDoSProtection)) {
        return undefined;
      }
      // ccxt's binance throws DDoSProtection("binanceusdm 418 …") for both statuses; the
      // status in its message tells a ban (418) from a limit (429).
      const banned = /\s418\s/.test(err.message);
      const given =
        retryAfterSeconds(headerOf(headers, "Retry-After"), now()) ??
        resetSeconds(headerOf(headers, "X-Bapi-Limit-Reset-Timestamp"), now());
      const seconds = Math.min(given ?? DEFAULT_PAUSE_SECONDS, MAX_PAUSE_SECONDS);
      const until = now() + Math.max(1, seconds) * 1000;
      const id = banned ? VENUE_WIDE : keyId;
      pausedUntil.set(id, Math.max(until, pausedUntil.get(id) ?? 0));
      return new VenueError("rate_limited", message(until, banned));
    },
  };
}
