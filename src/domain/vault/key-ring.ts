// The versioned master keys from MASTER_KEYS: the highest version encrypts, and each stored
// token is decrypted by exactly the version recorded beside it.

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

/** A MASTER_KEYS value that cannot be used. Messages never contain key material. */
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
  ) {
    super(
      `no master key for version ${version} (MASTER_KEYS has versions ${known.join(", ") || "none"})`,
    );
    this.name = "UnknownKeyVersion";
  }
}

export interface VersionedToken {
  token: string;
  version: number;
}

export class KeyRing {
  readonly #keys: ReadonlyMap<number, FernetKey>;
  readonly versions: readonly number[];
  readonly currentVersion: number;
  readonly #current: FernetKey;

  /** Use parseMasterKeys for configuration; this is for keys already parsed. */
  constructor(entries: Iterable<readonly [number, FernetKey]>) {
    const keys = new Map<number, FernetKey>();
    for (const [version, key] of entries) {
      if (!Number.isSafeInteger(version) || version < 1) {
        throw new MasterKeyError(`MASTER_KEYS: version ${version} is not a positive integer`);
      }
      if (keys.has(version)) throw new MasterKeyError(`MASTER_KEYS: duplicate version ${version}`);
      keys.set(version, key);
    }
    if (keys.size === 0) throw new MasterKeyError("MASTER_KEYS: no keys given");
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
   * `rotate` for a batch: each token (of its recorded version) under the current version, in
   * order; a token that does not decrypt under its version comes back undefined.
   */
  rotateMany(items: ReadonlyArray<{ token: string; version: number }>): Array<string | undefined> {
    return rotateTokens(
      this.#current,
      items.map((x) => ({ key: this.#key(x.version), token: x.token })),
    );
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
    if (key === undefined) throw new UnknownKeyVersion(version, this.versions);
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

/**
 * Parses MASTER_KEYS (or the MASTER_KEYS_FILE contents): `VERSION:KEY` entries separated by
 * commas and/or newlines; blank lines and `#` comment lines are ignored. Errors name the
 * entry's position and version, never the key.
 */
export function parseMasterKeys(text: string, variable = "MASTER_KEYS"): KeyRing {
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
    entries.push([version, key]);
  }
  if (entries.length === 0) {
    throw new MasterKeyError(`${variable} is empty: expected entries like 1:<fernet key>`);
  }
  return new KeyRing(entries);
}
