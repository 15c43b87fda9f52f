// Fixed-window rate limiting in Redis, so limits hold across every process of a deployment.
import type { Redis } from "ioredis";
import type { Lockout, RateLimiter } from "../domain/shared/rate-limiter";

export type { Lockout, RateLimiter, RateLimitResult } from "../domain/shared/rate-limiter";

// INCR and the expiry in one atomic step: a crash between them would otherwise leave a
// counter without expiry, locking the key out for good.
const HIT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}
`;

export function createRateLimiter(redis: Redis, namespace = "rl:"): RateLimiter {
  return {
    async hit(key, limit, windowMs) {
      const [count, ttl] = (await redis.eval(HIT, 1, `${namespace}${key}`, windowMs)) as [
        number,
        number,
      ];
      const allowed = count <= limit;
      return { allowed, count, retryAfterMs: allowed ? 0 : Math.max(ttl, 1) };
    },
    async reset(key) {
      await redis.del(`${namespace}${key}`);
    },
  };
}

// Failures are counted for a day; from the threshold on, each failure locks for
// base * 2^(failures - threshold), capped, so guessing slows down exponentially.
const FAIL = `
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], 86400000)
local threshold = tonumber(ARGV[1])
if n >= threshold then
  local ms = math.min(tonumber(ARGV[2]) * (2 ^ (n - threshold)), tonumber(ARGV[3]))
  redis.call('SET', KEYS[2], '1', 'PX', math.floor(ms))
  return math.floor(ms)
end
return 0
`;

export function createLockout(redis: Redis, namespace = "lock:"): Lockout {
  return {
    async lockedFor(key) {
      const ttl = await redis.pttl(`${namespace}${key}:locked`);
      return ttl > 0 ? ttl : 0;
    },
    async fail(key, threshold, baseLockMs, maxLockMs) {
      return (await redis.eval(
        FAIL,
        2,
        `${namespace}${key}:failures`,
        `${namespace}${key}:locked`,
        threshold,
        baseLockMs,
        maxLockMs,
      )) as number;
    },
    async clear(key) {
      await redis.del(`${namespace}${key}:failures`, `${namespace}${key}:locked`);
    },
  };
}
