// Sealed intake (issue 19): the bot and the API seal a pasted credential to the signer's intake
// public key (RFC 9180 HPKE base mode) so that it crosses Redis only as ciphertext; only the
// signer, holding SIGNER_INTAKE_KEY, opens it (src/jobs/processors/signer-keys.ts).
import { createHash } from "node:crypto";
import {
  AEAD_CHACHA20_POLY1305,
  ENC_LENGTH,
  HpkeOpenError,
  openBase,
  publicKeyOf,
  sealBase,
  TAG_LENGTH,
} from "./hpke";
import { encodeIntakeKey, parseVersionedKeys } from "./intake-keys";

const INSPECT = Symbol.for("nodejs.util.inspect.custom");
const AEAD = AEAD_CHACHA20_POLY1305;
/**
 * HPKE `info`: binds every sealed intake to this protocol and its version. v2 binds the request's
 * terms (what the signer is asked to do with the key) as well; v1 envelopes (user, venue, request
 * only) are refused as outdated: they live two minutes, and accepting them would leave those
 * terms open to whoever can edit the queued job.
 */
export const INTAKE_INFO = "warden intake v2";
const INFO_BYTES = Buffer.from(INTAKE_INFO);
const ENVELOPE_PREFIX = "wsi2";
const OUTDATED_PREFIXES: readonly string[] = ["wsi1"];
/** A credential is well under 1 KiB; the cap keeps a hostile envelope from costing much. */
export const MAX_INTAKE_PLAINTEXT = 16 * 1024;
const MAX_ENVELOPE_LENGTH =
  ENVELOPE_PREFIX.length + 20 + 43 + Math.ceil(((MAX_INTAKE_PLAINTEXT + TAG_LENGTH) * 4) / 3) + 3;
const VERSION_PATTERN = /^[1-9][0-9]{0,14}$/;
const B64URL = /^[A-Za-z0-9_-]+$/;

/** Whom and what a sealed credential is for; bound as AAD, so a blob opens for nothing else. */
export interface IntakePurpose {
  userId: string;
  venue: string;
  /**
   * The intake request (random, one per paste) and its expiry (epoch ms): bound too, so that the
   * signer can refuse an envelope whose request it has already served, or that is stale.
   */
  request?: { id: string; expiresAt: number };
  /**
   * Everything else the signer acts on (e.g. the action, the key it targets, the network, the
   * label), as name/value pairs in a fixed order; only with a request. Bound too, so that a
   * changed term makes the envelope fail to open.
   */
  terms?: ReadonlyArray<readonly [string, string]>;
}

export type SealedIntakeErrorCode =
  | "INTAKE_ENVELOPE_MALFORMED"
  | "INTAKE_ENVELOPE_OUTDATED"
  | "INTAKE_KEY_VERSION_UNKNOWN"
  | "INTAKE_OPEN_FAILED"
  | "INTAKE_PURPOSE_INVALID"
  | "INTAKE_TOO_LARGE";

/** A sealed intake that cannot be sealed or opened. Messages carry no key or plaintext. */
export class SealedIntakeError extends Error {
  constructor(
    readonly code: SealedIntakeErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "SealedIntakeError";
  }
}

function lengthPrefixed(parts: readonly string[]): Buffer {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const bytes = Buffer.from(part, "utf8");
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    chunks.push(length, bytes);
  }
  return Buffer.concat(chunks);
}

// Length-prefixed so that ("ab", "c") and ("a", "bc") differ; the key version is bound too. With
// a request the terms follow their count, so no field list is a prefix of another's.
function aadFor(version: number, purpose: IntakePurpose): Buffer {
  const { userId, venue, request, terms = [] } = purpose;
  if (typeof userId !== "string" || userId === "" || typeof venue !== "string" || venue === "") {
    throw new SealedIntakeError(
      "INTAKE_PURPOSE_INVALID",
      "sealed intake needs a user id and a venue",
    );
  }
  if (request === undefined) {
    if (terms.length > 0) {
      throw new SealedIntakeError("INTAKE_PURPOSE_INVALID", "sealed intake terms need a request");
    }
    return lengthPrefixed([INTAKE_INFO, String(version), userId, venue]);
  }
  if (
    typeof request.id !== "string" ||
    request.id === "" ||
    !Number.isSafeInteger(request.expiresAt) ||
    request.expiresAt <= 0
  ) {
    throw new SealedIntakeError(
      "INTAKE_PURPOSE_INVALID",
      "sealed intake needs a request id and an expiry",
    );
  }
  const bound: string[] = [];
  for (const term of terms) {
    if (!Array.isArray(term) || term.length !== 2 || !term.every((t) => typeof t === "string")) {
      throw new SealedIntakeError(
        "INTAKE_PURPOSE_INVALID",
        "sealed intake terms are name/value pairs",
      );
    }
    bound.push(term[0], term[1]);
  }
  const fields = [INTAKE_INFO, String(version), userId, venue, request.id];
  return lengthPrefixed([...fields, String(request.expiresAt), String(terms.length), ...bound]);
}

interface Envelope {
  version: number;
  enc: Buffer;
  ciphertext: Buffer;
}

function malformed(why: string): SealedIntakeError {
  return new SealedIntakeError("INTAKE_ENVELOPE_MALFORMED", `sealed intake is malformed: ${why}`);
}

function decodeCanonical(text: string): Buffer | null {
  if (!B64URL.test(text)) return null;
  const bytes = Buffer.from(text, "base64url");
  return bytes.toString("base64url") === text ? bytes : null;
}

/** `wsi2.<intake key version>.<enc, base64url>.<ciphertext, base64url>` */
function parseEnvelope(envelope: string): Envelope {
  if (typeof envelope !== "string") throw malformed("not a string");
  if (envelope.length > MAX_ENVELOPE_LENGTH) throw malformed("too long");
  const parts = envelope.split(".");
  if (parts.length === 4 && OUTDATED_PREFIXES.includes(parts[0]!)) {
    throw new SealedIntakeError(
      "INTAKE_ENVELOPE_OUTDATED",
      `sealed intake is of an older format (${parts[0]}); it binds too little to be opened`,
    );
  }
  if (parts.length !== 4 || parts[0] !== ENVELOPE_PREFIX) {
    throw malformed(`expected ${ENVELOPE_PREFIX}.VERSION.ENC.CIPHERTEXT`);
  }
  const [, versionText, encText, ciphertextText] = parts as [string, string, string, string];
  if (!VERSION_PATTERN.test(versionText))
    throw malformed("the key version is not a positive integer");
  const enc = decodeCanonical(encText);
  if (enc === null || enc.length !== ENC_LENGTH) throw malformed(`enc must be ${ENC_LENGTH} bytes`);
  const ciphertext = decodeCanonical(ciphertextText);
  if (ciphertext === null || ciphertext.length < TAG_LENGTH) {
    throw malformed("the ciphertext is shorter than its authentication tag");
  }
  return { version: Number(versionText), enc, ciphertext };
}

/** The intake key version an envelope names, and SHA-256 of its encapsulated key (its identity). */
export function envelopeIdentity(envelope: string): { version: number; encHash: Buffer } {
  const { version, enc } = parseEnvelope(envelope);
  return { version, encHash: createHash("sha256").update(enc).digest() };
}

/** The intake public keys the bot and the API seal to: the highest version is current. */
export class IntakePublicKeys {
  readonly #keys: ReadonlyMap<number, Uint8Array>;
  readonly versions: readonly number[];
  readonly currentVersion: number;

  constructor(keys: ReadonlyMap<number, Uint8Array>) {
    if (keys.size === 0) throw new RangeError("IntakePublicKeys needs at least one key");
    this.#keys = new Map([...keys].map(([v, k]) => [v, Uint8Array.from(k)]));
    this.versions = Object.freeze([...keys.keys()].sort((a, b) => a - b));
    this.currentVersion = this.versions[this.versions.length - 1]!;
  }

  publicKey(version: number): Uint8Array {
    const key = this.#keys.get(version);
    if (key === undefined) {
      throw new SealedIntakeError(
        "INTAKE_KEY_VERSION_UNKNOWN",
        `no intake public key for version ${version} (known: ${this.versions.join(", ")})`,
      );
    }
    return Uint8Array.from(key);
  }

  /**
   * Seals `plaintext` for the signer under the current version. The caller still owns (and
   * zeroes) `plaintext`; nothing secret outlives this call here.
   */
  seal(plaintext: Uint8Array, purpose: IntakePurpose): string {
    if (plaintext.length > MAX_INTAKE_PLAINTEXT) {
      throw new SealedIntakeError(
        "INTAKE_TOO_LARGE",
        `sealed intake holds at most ${MAX_INTAKE_PLAINTEXT} bytes`,
      );
    }
    const version = this.currentVersion;
    const aad = aadFor(version, purpose);
    const { enc, ciphertext } = sealBase(AEAD, this.publicKey(version), INFO_BYTES, aad, plaintext);
    const encText = Buffer.from(enc).toString("base64url");
    return `${ENVELOPE_PREFIX}.${version}.${encText}.${ciphertext.toString("base64url")}`;
  }

  /** The publishable form, `1:<public key>,2:<public key>` (public keys are not secret). */
  toString(): string {
    return this.versions.map((v) => `${v}:${encodeIntakeKey(this.#keys.get(v)!)}`).join(",");
  }

  toJSON(): string {
    return this.toString();
  }
}

/** The signer's intake private keys (SIGNER_INTAKE_KEY). Never printed; `dispose()` zeroes them. */
export class IntakeKeyRing {
  readonly #keys: Map<number, Uint8Array>;
  readonly versions: readonly number[];
  readonly currentVersion: number;

  /** Takes ownership of `keys` (they are zeroed on dispose). Use parseIntakeKeys for config. */
  constructor(keys: Map<number, Uint8Array>) {
    if (keys.size === 0) throw new RangeError("IntakeKeyRing needs at least one key");
    this.#keys = keys;
    this.versions = Object.freeze([...keys.keys()].sort((a, b) => a - b));
    this.currentVersion = this.versions[this.versions.length - 1]!;
  }

  /** The public halves, to publish where the bot and the API read them. */
  publicKeys(): IntakePublicKeys {
    this.#live();
    return new IntakePublicKeys(new Map([...this.#keys].map(([v, sk]) => [v, publicKeyOf(sk)])));
  }

  /**
   * Opens an envelope sealed for `purpose` with the version it names (the old version still
   * opens while it stays in SIGNER_INTAKE_KEY). The caller zeroes the returned Buffer; prefer
   * withOpenedIntake, which does.
   */
  open(envelope: string, purpose: IntakePurpose): Buffer {
    this.#live();
    const { version, enc, ciphertext } = parseEnvelope(envelope);
    const key = this.#keys.get(version);
    if (key === undefined) {
      throw new SealedIntakeError(
        "INTAKE_KEY_VERSION_UNKNOWN",
        `sealed intake names intake key version ${version}; SIGNER_INTAKE_KEY has versions ${this.versions.join(", ")}`,
      );
    }
    if (ciphertext.length - TAG_LENGTH > MAX_INTAKE_PLAINTEXT) throw malformed("too long");
    try {
      return openBase(AEAD, enc, key, INFO_BYTES, aadFor(version, purpose), ciphertext);
    } catch (err) {
      if (!(err instanceof HpkeOpenError)) throw err;
      throw new SealedIntakeError(
        "INTAKE_OPEN_FAILED",
        "sealed intake did not open: tampered, or sealed for another user, venue, request or key",
      );
    }
  }

  /** Zero-fills the private keys; the ring refuses to work afterwards. */
  dispose(): void {
    for (const key of this.#keys.values()) key.fill(0);
    this.#keys.clear();
  }

  #live(): void {
    if (this.#keys.size === 0) throw new Error("IntakeKeyRing was disposed");
  }

  toString(): string {
    return `IntakeKeyRing(versions=${this.versions.join(",")}; current=${this.currentVersion})`;
  }

  toJSON(): string {
    return this.toString();
  }

  [INSPECT](): string {
    return this.toString();
  }
}

/**
 * Opens `envelope`, runs `fn` with the plaintext, and zero-fills it when `fn` returns or throws
 * (the scope of withDecryptedExchangeKeys, S1.3). A string made from it inside `fn` is beyond
 * reach: V8 strings are immutable; make one as late as possible.
 */
export async function withOpenedIntake<T>(
  ring: IntakeKeyRing,
  envelope: string,
  purpose: IntakePurpose,
  fn: (plaintext: Buffer) => Promise<T>,
): Promise<T> {
  const plaintext = ring.open(envelope, purpose);
  try {
    return await fn(plaintext);
  } finally {
    plaintext.fill(0);
  }
}

/** Parses SIGNER_INTAKE_KEY: `VERSION:KEY` entries (X25519 private keys, 32 bytes base64url). */
export function parseIntakeKeys(text: string, variable = "SIGNER_INTAKE_KEY"): IntakeKeyRing {
  return new IntakeKeyRing(parseVersionedKeys(text, variable, "private"));
}

/** Parses a published public key list, the form IntakePublicKeys.toString() writes. */
export function parseIntakePublicKeys(text: string, variable: string): IntakePublicKeys {
  const keys = parseVersionedKeys(text, variable, "public");
  return new IntakePublicKeys(keys);
}
