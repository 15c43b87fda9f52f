// The PasswordHasher port on bcrypt (S2.1): the async API runs on libuv's thread pool, so a
// cost-12 hash (~250 ms) never blocks the event loop. At most one bcrypt per core runs at once:
// more cannot go faster, and a pool queue full of bcrypt jobs would make every other pool user
// (WebCrypto signing of access tokens, zlib, fs) wait behind them.
import { availableParallelism } from "node:os";
import bcrypt from "bcrypt";
import type { PasswordHasher } from "../domain/accounts/password";

export const BCRYPT_PRODUCTION_COST = 12;

function semaphore(size: number) {
  let active = 0;
  const waiting: Array<() => void> = [];
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    if (active >= size) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

export function createBcryptHasher(
  opts: { cost?: number; maxConcurrent?: number } = {},
): PasswordHasher {
  const cost = opts.cost ?? BCRYPT_PRODUCTION_COST;
  // bcrypt's own range is 4..31; checked here so a typo fails at start-up, not at first sign-up.
  if (!Number.isInteger(cost) || cost < 4 || cost > 31) {
    throw new Error(`bcrypt cost must be an integer from 4 to 31, got ${cost}`);
  }
  const limit = semaphore(opts.maxConcurrent ?? availableParallelism());
  return {
    hash: (prehashed) => limit(() => bcrypt.hash(prehashed, cost)),
    verify: (prehashed, hash) => limit(() => bcrypt.compare(prehashed, hash)),
  };
}
