// A versioned key ring: MASTER_KEYS (exchange keys) or ACCOUNT_KEYS (account secrets). The
// highest version encrypts, and each stored token is decrypted by exactly the version (and
// ring) recorded beside it.

import {
  type DecryptOptions,
  decrypt,
  decryptWithTimestamp,
  type EncryptOptions,
  encrypt,
  type FernetKey,
  InvalidFernetKey,
  parseFernetKey,
  rotateTokens,
} from "./fernet";
import { versionedEntries } from "./versioned-entries";

const INSPECT = Symbol.for("nodejs.util.inspect.custom");
// Checked before decoding so that "bad characters" and "wrong length" get distinct messages.
const KEY_PATTERN = /^[A-Za-z0-9_-]+={0,2}$/;

/** Which ring: `master` (MASTER_KEYS, exchange keys) or `account` (ACCOUNT_KEYS, account secrets). */
export type RingName = "master" | "account";

/** The variable each ring is configured by. */
export const RING_VARIABLE = { master: "MASTER_KEYS", account: "ACCOUNT_KEYS" } as const;

/** A MASTER_KEYS or ACCOUNT_KEYS value that cannot be used. Messages never contain key material. */
export class MasterKeyError extends Error {
  readonly code = "MASTER_KEYS_INVALID";
  constructor(message: string) {
    super(message);
    this.name = "MasterKeyError";
  }
}

/** A token whose recorded key version is not in the ring (a key was removed too early). */
export class UnknownKeyVersion extends Error {
  readonly code = "MASTER_KEY_VERSION_UNKNOWN";
  constructor(
    readonly version: number,
    known: readonly number[],
    ring: RingName = "master",
  ) {
    super(
      `no ${ring} key for version ${version} (${RING_VARIABLE[ring]} has versions ${known.join(", ") || "none"})`,
    );
    this.name = "UnknownKeyVersion";
  }
}

export interface VersionedToken {
  token: string;
  version: number;
}

/**
 * One ring. `R` names it in the type, so a module that receives the account ring cannot be
 * handed the exchange ring (ExchangeKeyRing vs AccountKeyRing) without a type error.
 */
export class KeyRing<R extends RingName = RingName> {
  readonly ring: R;
  readonly #keys: ReadonlyMap<number, FernetKey>;
  readonly versions: readonly number[];
  readonly currentVersion: number;
  readonly #current: FernetKey;

  /** Use parseMasterKeys / parseAccountKeys for configuration; this is for keys already parsed. */
  constructor(entries: Iterable<readonly [number, FernetKey]>, ring: R) {
    this.ring = ring;
    const variable = RING_VARIABLE[ring];
    const keys = new Map<number, FernetKey>();
    for (const [version, key] of entries) {
      if (!Number.isSafeInteger(version) || version < 1) {
        throw new MasterKeyError(`${variable}: version ${version} is not a positive integer`);
      }
      if (keys.has(version)) throw new MasterKeyError(`${variable}: duplicate version ${version}`);
      keys.set(version, key);
    }
    if (keys.size === 0) throw new MasterKeyError(`${variable}: no keys given`);
    this.#keys = keys;
    this.versions = Object.freeze([...keys.keys()].sort((a, b) => a - b));
    this.currentVersion = this.versions[this.versions.length - 1]!;
    this.#current = keys.get(this.currentVersion)!;
  }

  has(version: number): boolean {
    return this.#keys.has(version);
  }

  /** Encrypts under the current (highest) version; store the version beside the token. */
  encrypt(plaintext: Buffer, opts?: EncryptOptions): VersionedToken {
    return { token: encrypt(this.#current, plaintext, opts), version: this.currentVersion };
  }

  /**
   * Decrypts with exactly the key of `version`: no trial of other keys, so a wrong version
   * column shows up as an error instead of being silently papered over.
   */
  decrypt(version: number, token: string, opts?: DecryptOptions): Buffer {
    return decrypt(this.#key(version), token, opts);
  }

  /** Re-encrypts under the current version, keeping the token's timestamp (MultiFernet.rotate). */
  rotate(token: string, fromVersion: number): VersionedToken {
    const { plaintext, timestamp } = decryptWithTimestamp(this.#key(fromVersion), token);
    try {
      return this.encrypt(plaintext, { timestamp });
    } finally {
      plaintext.fill(0);
    }
  }

  /**
   * `rotate` for a batch: each token (of its recorded version in `from`, this ring unless
   * given) under this ring's current version, in order; a token that does not decrypt under
   * its version comes back undefined. With another `from`, it moves tokens between rings.
   */
  rotateMany(
    items: ReadonlyArray<{ token: string; version: number }>,
    from: KeyRing = this,
  ): Array<string | undefined> {
    return rotateTokens(
      this.#current,
      items.map((x) => ({ key: from.#key(x.version), token: x.token })),
    );
  }

  /** True when the two rings have a key in common (the rings must be independent). */
  sharesKeyWith(other: KeyRing): boolean {
    let shared = false;
    for (const key of this.#keys.values()) {
      for (const theirs of other.#keys.values()) if (key.equals(theirs)) shared = true;
    }
    return shared;
  }

  /** True when `candidate` (a Fernet key string) is one of the ring's keys; invalid → false. */
  containsKeyMaterial(candidate: string): boolean {
    let other: FernetKey;
    try {
      other = parseFernetKey(candidate);
    } catch (err) {
      if (err instanceof InvalidFernetKey) return false;
      throw err;
    }
    let found = false;
    for (const key of this.#keys.values()) {
      if (key.equals(other)) found = true;
    }
    return found;
  }

  #key(version: number): FernetKey {
    const key = this.#keys.get(version);
    if (key === undefined) throw new UnknownKeyVersion(version, this.versions, this.ring);
    return key;
  }

  toString(): string {
    return `KeyRing(versions=${this.versions.join(",")}; current=${this.currentVersion})`;
  }

  toJSON(): string {
    return this.toString();
  }

  [INSPECT](): string {
    return this.toString();
  }
}

/** The exchange-key ring (MASTER_KEYS): exchange_credentials only. */
export type ExchangeKeyRing = KeyRing<"master">;
/** The account ring (ACCOUNT_KEYS): TOTP secrets, sealed mail and reset requests. */
export type AccountKeyRing = KeyRing<"account">;

/** MASTER_KEYS (or the MASTER_KEYS_FILE contents); see parseKeyRing. */
export function parseMasterKeys(text: string, variable = "MASTER_KEYS"): ExchangeKeyRing {
  return parseKeyRing(text, "master", variable);
}

/** ACCOUNT_KEYS (or the ACCOUNT_KEYS_FILE contents); see parseKeyRing. */
export function parseAccountKeys(text: string, variable = "ACCOUNT_KEYS"): AccountKeyRing {
  return parseKeyRing(text, "account", variable);
}

/**
 * Parses a ring's variable: `VERSION:KEY` entries separated by commas and/or newlines; blank
 * lines and `#` comment lines are ignored. Errors name the variable, the entry's position and
 * version, never the key.
 */
export function parseKeyRing<R extends RingName>(
  text: string,
  ring: R,
  variable: string = RING_VARIABLE[ring],
): KeyRing<R> {
  const entries: Array<readonly [number, FernetKey]> = [];
  const fail = (message: string): never => {
    throw new MasterKeyError(message);
  };
  for (const { version, keyText, named } of versionedEntries(text, variable, fail)) {
    if (!KEY_PATTERN.test(keyText)) {
      throw new MasterKeyError(`${named}: key is not valid base64url`);
    }
    let key: FernetKey;
    try {
      key = parseFernetKey(keyText);
    } catch (err) {
      if (!(err instanceof InvalidFernetKey)) throw err;
      const bytes = Buffer.from(keyText.replace(/=+$/, ""), "base64url");
      const size = bytes.length;
      bytes.fill(0);
      throw new MasterKeyError(
        size === 32
          ? `${named}: key is not valid base64url`
          : `${named}: key must be 32 bytes of base64url (a Fernet key), got ${size} bytes`,
      );
    }
    // A key typed by hand (all zeros, one repeated pattern) decodes fine but guards nothing;
    // 32 random bytes have about 30 distinct values.
    const bytes = Buffer.from(keyText.replace(/=+$/, ""), "base64url");
    const distinct = new Set(bytes).size;
    bytes.fill(0);
    if (distinct < 8) {
      throw new MasterKeyError(`${named}: key is too repetitive to be random (a weak key)`);
    }
    entries.push([version, key]);
  }
  if (entries.length === 0) {
    throw new MasterKeyError(`${variable} is empty: expected entries like 1:<fernet key>`);
  }
  return new KeyRing(entries, ring);
}
