// Opaque one-time tokens (reset links, refresh tokens, WebSocket tickets): random enough to be
// unguessable (S5.1, S5.3, S5.5), and stored only as their SHA-256 so a leaked store grants nothing.
import { createHash, randomBytes } from "node:crypto";

/** The floor of S5: 128 bits. */
export const MIN_TOKEN_BYTES = 16;

/** `bytes` random bytes (default 32 = 256 bits) as base64url without padding. */
export function randomToken(bytes = 32): string {
  if (!Number.isInteger(bytes) || bytes < MIN_TOKEN_BYTES) {
    throw new Error(`a token needs at least ${MIN_TOKEN_BYTES} random bytes, got ${bytes}`);
  }
  return randomBytes(bytes).toString("base64url");
}

/**
 * The hex SHA-256 to store and look up by. Unsalted on purpose: the token already carries
 * ≥128 random bits, so there is nothing to brute-force, and lookups need a deterministic key.
 */
export function sha256Hex(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/**
 * S5.2 tokens_valid_after: a token issued before the cut-off is void. `iat` has whole seconds,
 * so a token from the cut-off's second but before it is refused, at the price of also refusing
 * one issued just after it in that second.
 */
export function issuedBeforeCutoff(iatSeconds: number, validAfter: Date): boolean {
  return iatSeconds * 1000 < validAfter.getTime();
}
