// The PasswordHasher port on bcrypt (S2.1): the async API runs on libuv's thread pool, so a
// cost-12 hash (~250 ms) never blocks the event loop.
import bcrypt from "bcrypt";
import type { PasswordHasher } from "../domain/accounts/password";

export const BCRYPT_PRODUCTION_COST = 12;

export function createBcryptHasher(opts: { cost?: number } = {}): PasswordHasher {
  const cost = opts.cost ?? BCRYPT_PRODUCTION_COST;
  // bcrypt's own range is 4..31; checked here so a typo fails at start-up, not at first sign-up.
  if (!Number.isInteger(cost) || cost < 4 || cost > 31) {
    throw new Error(`bcrypt cost must be an integer from 4 to 31, got ${cost}`);
  }
  return {
    hash: (prehashed) => bcrypt.hash(prehashed, cost),
    verify: (prehashed, hash) => bcrypt.compare(prehashed, hash),
  };
}
