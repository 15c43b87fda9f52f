// Respecting the venues' rate limits (issue 16): when a venue answers "too many requests"
// (HTTP 429, ccxt RateLimitExceeded) or bans (Binance HTTP 418 "IP auto-banned", ccxt
// DDoSProtection), the key's calls to that venue pause until the time the venue gave in
// `Retry-After` — no call leaves Warden meanwhile, so there is no retry storm — and the user is
// told plainly how long to wait. Binance's docs (General Info, "LIMITS"): a 429 means back off;
// repeated 429s earn an IP ban answered with 418; both carry Retry-After in seconds. A 418 bans
// Warden's IP, so it pauses every key of the venue. With a PauseStore (Redis, issue 18) a pause
// seen by one process holds in every api, bot and worker process within CACHE_MS.
import { createHash } from "node:crypto";
import ccxt from "ccxt";
import { VenueError } from "../../domain/venues/types";

/** Without a Retry-After, a limit answer pauses this long (Binance's limits are per minute). */
export const DEFAULT_PAUSE_SECONDS = 60;
/** A Retry-After beyond this is capped (Binance bans last 2 minutes to 3 days). */
const MAX_PAUSE_SECONDS = 3 * 24 * 3600;

/** The id a venue-wide pause (an IP ban) is kept under, beside the key ids. */
export const VENUE_WIDE = "*";
/** How long a read of the shared pauses is trusted: at most one store read per key this often. */
export const CACHE_MS = 250;
/** A store read slower than this counts as a failure (the call is refused, not delayed). */
const READ_TIMEOUT_MS = 1_000;

/** Pauses shared between processes (src/infra/venues/redis-pauses.ts). */
export interface PauseStore {
  /** Milliseconds left of `keyId`'s own pause and of the venue-wide one; 0 when none. */
  remaining(keyId: string): Promise<{ key: number; venue: number }>;
  /** Pauses `id` (a key id or VENUE_WIDE) for `ms`, never shortening a longer pause. */
  pause(id: string, ms: number): Promise<void>;
}

export interface RateGate {
  /** Rejects with a rate_limited VenueError while `keyId` (or the whole venue) is paused. */
  check(keyId: string): Promise<void>;
  /**
   * When `err` is a limit or ban answer, pauses `keyId` (a ban: the whole venue) for the time
   * in `headers`, here and in the store, and returns the error to show; otherwise undefined.
   */
  onError(keyId: string, err: unknown, headers: unknown): Promise<VenueError | undefined>;
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

/**
 * A gate for one venue adapter. Without a store, pauses live in this process only (tests of a
 * single adapter). With one, every check reads the shared pauses at most once per CACHE_MS per
 * key, so a burst of calls costs one round trip, and a pause another process wrote is seen
 * within CACHE_MS. A store that cannot be read fails closed: the call is refused as
 * rate_limited ("try again shortly", a 503 on the API) and nothing reaches the venue, because
 * a key we cannot check may be one that another process has just seen banned — calling it is
 * the retry storm (and the longer Binance IP ban) this gate exists to prevent. The same Redis
 * outage already answers 503 on the API's own rate limits (src/infra/unavailable.ts).
 */
export function createRateGate(
  venue: string,
  now: () => number = Date.now,
  store?: PauseStore,
): RateGate {
  const pausedUntil = new Map<string, number>();
  const reads = new Map<string, { at: number; read: Promise<void> }>();

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

  const note = (id: string, until: number) => {
    pausedUntil.set(id, Math.max(until, pausedUntil.get(id) ?? 0));
  };

  const checkLocal = (keyId: string) => {
    const ban = remaining(VENUE_WIDE);
    if (ban !== undefined) throw new VenueError("rate_limited", message(ban, true));
    const until = remaining(keyId);
    if (until !== undefined) throw new VenueError("rate_limited", message(until, false));
  };

  /** One store read per key per CACHE_MS; its answer lands in pausedUntil. */
  const readShared = (s: PauseStore, keyId: string): Promise<void> => {
    const at = now();
    const cached = reads.get(keyId);
    if (cached !== undefined && at - cached.at < CACHE_MS) return cached.read;
    if (reads.size > 10_000) {
      for (const [id, r] of reads) if (at - r.at >= CACHE_MS) reads.delete(id);
      for (const id of pausedUntil.keys()) remaining(id);
    }
    const read = withTimeout(s.remaining(keyId), READ_TIMEOUT_MS).then(
      (left) => {
        if (left.venue > 0) note(VENUE_WIDE, now() + left.venue);
        if (left.key > 0) note(keyId, now() + left.key);
      },
      () => {
        throw new VenueError(
          "rate_limited",
          `Warden cannot check ${venue}'s rate limits right now; try again shortly.`,
        );
      },
    );
    // A failed read is remembered for CACHE_MS too: a Redis outage is not hammered per call.
    read.catch(() => {});
    reads.set(keyId, { at, read });
    return read;
  };

  return {
    async check(keyId) {
      checkLocal(keyId);
      if (store === undefined) return;
      await readShared(store, keyId);
      checkLocal(keyId);
    },
    async onError(keyId, err, headers) {
      if (!(err instanceof ccxt.RateLimitExceeded || err instanceof ccxt.DDoSProtection)) {
        return undefined;
      }
      // ccxt's binance throws DDoSProtection("binanceusdm 418 …") for both statuses; the
      // status in its message tells a ban (418) from a limit (429).
      const banned = /\s418\s/.test(err.message);
      const given =
        retryAfterSeconds(headerOf(headers, "Retry-After"), now()) ??
        resetSeconds(headerOf(headers, "X-Bapi-Limit-Reset-Timestamp"), now());
      const ms = Math.max(1, Math.min(given ?? DEFAULT_PAUSE_SECONDS, MAX_PAUSE_SECONDS)) * 1000;
      const until = now() + ms;
      const id = banned ? VENUE_WIDE : keyId;
      note(id, until);
      // This process holds the pause whatever happens; if the write fails, the others cannot
      // read the store either and refuse their calls (fail closed above).
      if (store !== undefined)
        await withTimeout(store.pause(id, ms), READ_TIMEOUT_MS).catch(() => {});
      return new VenueError("rate_limited", message(until, banned));
    },
  };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
