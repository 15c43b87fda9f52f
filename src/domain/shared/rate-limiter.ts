// Rate limiting and lockout as ports: the core decides the policy, the adapter (Redis) makes it
// hold across every process (S3.2).

export interface RateLimitResult {
  allowed: boolean;
  count: number;
  /** Milliseconds until the window resets (0 when allowed). */
  retryAfterMs: number;
}

export interface RateLimiter {
  hit(key: string, limit: number, windowMs: number): Promise<RateLimitResult>;
  reset(key: string): Promise<void>;
}

export interface Lockout {
  /** Milliseconds the key is still locked for, 0 when not locked. */
  lockedFor(key: string): Promise<number>;
  /** Counts a failure; from `threshold` failures on, locks for a doubling period. */
  fail(key: string, threshold: number, baseLockMs: number, maxLockMs: number): Promise<number>;
  clear(key: string): Promise<void>;
}
