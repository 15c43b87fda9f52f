// The venue rate gate's pauses in Redis, so that a limit or ban one process was answered holds
// in every process calling the venue (issue 18: two api processes and two workers must not
// keep calling a banned key between them). One key per paused venue key, expiring with the
// pause (PX), under the app's key prefix; the name holds the gate's key id (a hash of the
// key's public part, see keyIdOf), never the API key or its secret.
import type { Redis } from "ioredis";
import { type PauseStore, VENUE_WIDE } from "./rate-gate";

// Lengthens a pause, never shortens it: a later 429 with a shorter Retry-After must not cut an
// IP ban another process is honouring. PTTL is -2 without the key, -1 without an expiry.
const PAUSE_SCRIPT = `
local left = redis.call('PTTL', KEYS[1])
if left < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
return 1`;

/**
 * Pauses of one venue adapter, `scope` naming it (venue id, plus ":testnet" for a test-network
 * adapter, whose bans are not the mainnet's). `redis` must carry the app's keyPrefix.
 */
export function createRedisPauses(redis: Redis, scope: string): PauseStore {
  const keyOf = (id: string) =>
    id === VENUE_WIDE ? `venue-pause:${scope}:venue` : `venue-pause:${scope}:key:${id}`;
  const left = (pttl: number) => (pttl > 0 ? pttl : 0);
  return {
    async remaining(keyId) {
      // Sent back to back on one connection: one round trip for both.
      const [key, venue] = await Promise.all([
        redis.pttl(keyOf(keyId)),
        redis.pttl(keyOf(VENUE_WIDE)),
      ]);
      return { key: left(key), venue: left(venue) };
    },
    async pause(id, ms) {
      await redis.eval(PAUSE_SCRIPT, 1, keyOf(id), String(Math.ceil(ms)));
    },
  };
}
