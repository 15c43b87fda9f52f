// Parsing of the versioned intake keys (issue 19): SIGNER_INTAKE_KEY holds the signer's X25519
// private keys, the published list their public halves, both as `VERSION:KEY` entries.

import { randomBytes } from "node:crypto";
import { encap } from "./hpke";
import { versionedEntries } from "./versioned-entries";

const KEY_PATTERN = /^[A-Za-z0-9_-]{43}=?$/;
export const INTAKE_KEY_BYTES = 32;

/** An intake key list that cannot be used. Messages name the variable, never key material. */
export class IntakeKeyError extends Error {
  readonly code = "SIGNER_INTAKE_KEY_INVALID";
  constructor(message: string) {
    super(message);
    this.name = "IntakeKeyError";
  }
}

/** A fresh intake private key, as it is written after `N:` in SIGNER_INTAKE_KEY. */
export function generateIntakeKey(): string {
  const key = randomBytes(INTAKE_KEY_BYTES);
  try {
    return key.toString("base64url");
  } finally {
    key.fill(0);
  }
}

export function encodeIntakeKey(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString("base64url");
}

function decodeKey(text: string): Uint8Array | null {
  if (!KEY_PATTERN.test(text)) return null;
  const unpadded = text.replace(/=$/, "");
  const decoded = Buffer.from(unpadded, "base64url");
  // Copied out of Buffer's shared pool so that zeroing it later touches only this key.
  const key = Uint8Array.from(decoded);
  decoded.fill(0);
  // 43 characters carry 258 bits: the two spare bits must be zero, or two texts would be one key.
  if (key.length !== INTAKE_KEY_BYTES || encodeIntakeKey(key) !== unpadded) {
    key.fill(0);
    return null;
  }
  return key;
}

/**
 * Splits `VERSION:KEY` entries separated by commas and/or newlines (blank and `#` lines
 * ignored), the grammar of MASTER_KEYS. Returns the decoded 32-byte keys by version.
 */
export function parseVersionedKeys(
  text: string,
  variable: string,
  kind: "private" | "public",
): Map<number, Uint8Array> {
  const keys = new Map<number, Uint8Array>();
  function fail(message: string): never {
    for (const key of keys.values()) key.fill(0);
    throw new IntakeKeyError(message);
  }
  for (const { version, keyText, named } of versionedEntries(text, variable, fail)) {
    const key = decodeKey(keyText);
    if (key === null) {
      fail(`${named}: key must be ${INTAKE_KEY_BYTES} bytes of base64url (an X25519 ${kind} key)`);
    } else {
      keys.set(version, key);
      if (kind === "public" && !usablePublicKey(key)) {
        fail(`${named}: key is not a usable X25519 public key`);
      }
      if (kind === "private" && key.every((b) => b === 0)) {
        fail(`${named}: key is all zeros`);
      }
    }
  }
  if (keys.size === 0) fail(`${variable} is empty: expected entries like 1:<intake ${kind} key>`);
  return keys;
}

// A low-order point would give every sender the same all-zero shared secret; noble refuses it.
function usablePublicKey(key: Uint8Array): boolean {
  try {
    encap(key).sharedSecret.fill(0);
    return true;
  } catch {
    return false;
  }
}
