// Backup codes (S4.3): ten single-use codes shown once, stored only as bcrypt hashes through
// the PasswordHasher port, matched without revealing which position matched.
import { createHmac, randomInt } from "node:crypto";
import type { PasswordDeps } from "./password";

export const BACKUP_CODE_COUNT = 10;
/**
 * Crockford's base32 alphabet in lower case: no i, l, o or u, so nothing reads as something else
 * (0 and 1 are the only digit-like glyphs; typed o, i and l are folded into them).
 */
export const BACKUP_CODE_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";
/** 10 characters × 5 bits = 50 bits per code, shown as two groups of five. */
export const BACKUP_CODE_LENGTH = 10;

const CANONICAL = new RegExp(`^[${BACKUP_CODE_ALPHABET}]{${BACKUP_CODE_LENGTH}}$`);

/** Fresh, distinct codes for display, as `xxxxx-xxxxx`. Store only hashBackupCodes' output. */
export function generateBackupCodes(count = BACKUP_CODE_COUNT): string[] {
  const codes = new Set<string>();
  while (codes.size < count) {
    let raw = "";
    // randomInt is uniform over exactly 32 values: no modulo bias.
    for (let i = 0; i < BACKUP_CODE_LENGTH; i++) raw += BACKUP_CODE_ALPHABET[randomInt(32)];
    codes.add(`${raw.slice(0, 5)}-${raw.slice(5)}`);
  }
  return [...codes];
}

/**
 * The canonical form of what a user typed (case, spaces and dashes ignored; o/i/l read as
 * 0/1/1 as in Crockford's base32), or null when it cannot be a backup code at all.
 */
export function normaliseBackupCode(input: string): string | null {
  const canonical = input
    .toLowerCase()
    .replace(/[\s-]/g, "")
    .replace(/o/g, "0")
    .replace(/[il]/g, "1");
  return CANONICAL.test(canonical) ? canonical : null;
}

/**
 * bcrypt (S4.3) rather than a fast keyed hash: a code has only 50 bits, so if the database and
 * the pepper both leaked, a fast hash would fall to brute force; bcrypt keeps each guess slow.
 * The peppered HMAC in front (labelled, so it never equals a password pre-hash) means a
 * database leak alone gives nothing to guess against.
 */
function prehashBackupCode(pepper: Buffer, canonical: string): string {
  if (pepper.length === 0) throw new Error("password pepper is empty");
  return createHmac("sha256", pepper).update(`backup-code:${canonical}`, "utf8").digest("base64");
}

/** Hashes to store, in the same order as `codes` (display or canonical form). */
export async function hashBackupCodes(deps: PasswordDeps, codes: string[]): Promise<string[]> {
  return Promise.all(
    codes.map((code) => {
      const canonical = normaliseBackupCode(code);
      if (canonical === null) throw new Error("not a backup code");
      return deps.hasher.hash(prehashBackupCode(deps.pepper, canonical));
    }),
  );
}

/**
 * The index in `hashes` whose code `input` is, or -1. Used codes are passed as null (so indices
 * stay stable) and skipped. Every remaining hash is checked, so timing does not reveal the
 * position; marking the index used must be atomic with the check (S4.3: one success per code).
 */
export async function findMatchingCode(
  deps: PasswordDeps,
  hashes: ReadonlyArray<string | null>,
  input: string,
): Promise<number> {
  const canonical = normaliseBackupCode(input);
  if (canonical === null) return -1;
  const prehashed = prehashBackupCode(deps.pepper, canonical);
  const results = await Promise.all(
    hashes.map((hash) => (hash === null ? false : deps.hasher.verify(prehashed, hash))),
  );
  let match = -1;
  results.forEach((ok, i) => {
    if (ok && match === -1) match = i;
  });
  return match;
}
