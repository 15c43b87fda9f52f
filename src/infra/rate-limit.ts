// Fixed-window rate limiting in Redis, so limits hold across every process of a deployment.
import type { Redis } from "ioredis";

export interface RateLimitResult {
  allowed: boolean;
  count: number;
  /** Milliseconds until the window resets (0 when allowed and fresh). */
  retryAfterMs: number;
}

export interface RateLimiter {
  hit(key: string, limit: number, windowMs: number): Promise<RateLimitResult>;
  reset(key: string): Promise<void>;
}

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
