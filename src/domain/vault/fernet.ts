// Fernet tokens (github.com/fernet/spec) on node:crypto, byte-compatible with Python's
// `cryptography` so tokens written by either side decrypt on the other.
import {
  type Cipher,
  createCipheriv,
  createDecipheriv,
  createHmac,
  createSecretKey,
  type Decipher,
  type KeyObject,
  randomFillSync,
  timingSafeEqual,
} from "node:crypto";

import { type BatchOps, rotateBatch } from "./fernet-batch";

const VERSION = 0x80;
const HEADER_LEN = 25; // version (1) + timestamp (8) + IV (16)
const MAC_LEN = 32;
const BLOCK = 16;
// PKCS#7 always adds at least one block, so no valid token is shorter than this.
const MIN_TOKEN_LEN = HEADER_LEN + BLOCK + MAC_LEN;
const MAX_CLOCK_SKEW_SECONDS = 60;
/** Ciphertext length from which `open` uses OpenSSL's CBC instead of ECB and an XOR loop. */
const LARGE_CIPHERTEXT = 4096;
const INSPECT = Symbol.for("nodejs.util.inspect.custom");

// Python writes padded base64url; Node's "base64url" drops the padding. Indexed by length % 3.
const PADDING = ["", "==", "="] as const;

function toPaddedBase64Url(bytes: Buffer): string {
  return bytes.toString("base64url") + PADDING[bytes.length % 3];
}

/**
 * Node's base64 decoder is lenient (skips junk, mixes alphabets, ignores trailing bits), so a
 * decoded value is accepted only if re-encoding it gives back the very same string: one token
 * string per byte sequence, nothing else.
 */
function decodeCanonical(text: string, padded: boolean): Buffer | undefined {
  if (padded && text.length % 4 !== 0) return undefined;
  if (padded && text.length >= LARGE_TOKEN_CHARS) return decodeLargeCanonical(text);
  const bytes = Buffer.from(text, "base64url");
  const again = padded ? toPaddedBase64Url(bytes) : bytes.toString("base64url");
  return again === text ? bytes : undefined;
}

/** Token length from which decodeCanonical checks the text itself instead of re-encoding. */
const LARGE_TOKEN_CHARS = 8192;
const PADDED_BASE64URL = /^[A-Za-z0-9_-]*={0,2}$/;
const BASE64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/**
 * The same acceptance as decoding and re-encoding, without building a second copy of a large
 * token (backup chunks): only the URL-safe alphabet with at most two trailing "=" (no junk the
 * lenient decoder would skip, no "+" or "/"), exactly the byte count the length promises (so
 * no "=" inside and the padding is the right amount), and the last character's unused low bits
 * zero (the only other way two strings decode to the same bytes).
 */
function decodeLargeCanonical(text: string): Buffer | undefined {
  if (!PADDED_BASE64URL.test(text)) return undefined;
  const pad = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  const bytes = Buffer.from(text, "base64url");
  if (bytes.length !== (text.length / 4) * 3 - pad) return undefined;
  const last = BASE64URL_ALPHABET.indexOf(text.charAt(text.length - 1 - pad));
  if ((pad === 1 && (last & 0b11) !== 0) || (pad === 2 && (last & 0b1111) !== 0)) return undefined;
  return bytes;
}

/** Every invalid token gets this one error and message, so callers cannot build an oracle. */
export class InvalidFernetToken extends Error {
  readonly code = "FERNET_INVALID_TOKEN";
  constructor() {
    super("invalid token");
    this.name = "InvalidFernetToken";
  }
}

/** A key that is not 32 bytes of base64url, or a value that is not a FernetKey at all. */
export class InvalidFernetKey extends Error {
  readonly code = "FERNET_INVALID_KEY";
  constructor(reason: string) {
    super(`invalid Fernet key: ${reason}`);
    this.name = "InvalidFernetKey";
  }
}

// Module-private accessors, set from inside the class, so nothing outside this file can reach
// the KeyObjects (which could be exported back to raw bytes).
let signingOf: (key: FernetKey) => KeyObject;
let encryptionOf: (key: FernetKey) => KeyObject;
let blockDecryptorOf: (key: FernetKey) => Decipher;
let resetBlockDecryptor: (key: FernetKey) => void;
let blockEncryptorOf: (key: FernetKey) => Cipher;
let resetBlockEncryptor: (key: FernetKey) => void;

/**
 * The two halves of a Fernet key as KeyObjects: they are faster for node:crypto to use than
 * Buffers and never print their bytes. No raw copy of the key is kept.
 */
export class FernetKey {
  readonly #signing: KeyObject;
  readonly #encryption: KeyObject;
  // One long-lived AES-ECB decryptor per key; see `open` for why CBC is unrolled over it.
  #blockDecryptor: Decipher;
  // And an encryptor, made on first use, for `rotateTokens` (CBC unrolled across a batch).
  #blockEncryptor: Cipher | undefined;

  static {
    signingOf = (key) => key.#signing;
    encryptionOf = (key) => key.#encryption;
    blockDecryptorOf = (key) => key.#blockDecryptor;
    resetBlockDecryptor = (key) => {
      key.#blockDecryptor = FernetKey.#ecbDecipher(key.#encryption);
    };
    blockEncryptorOf = (key) => {
      if (key.#blockEncryptor === undefined) {
        const cipher = createCipheriv("aes-128-ecb", key.#encryption, null);
        cipher.setAutoPadding(false);
        key.#blockEncryptor = cipher;
      }
      return key.#blockEncryptor;
    };
    resetBlockEncryptor = (key) => {
      key.#blockEncryptor = undefined;
    };
  }

  static #ecbDecipher(encryption: KeyObject): Decipher {
    const decipher = createDecipheriv("aes-128-ecb", encryption, null);
    decipher.setAutoPadding(false);
    return decipher;
  }

  private constructor(signing: KeyObject, encryption: KeyObject) {
    this.#signing = signing;
    this.#encryption = encryption;
    this.#blockDecryptor = FernetKey.#ecbDecipher(encryption);
  }

  /** The key's 32 bytes; the caller's buffer is left untouched (zero it yourself if needed). */
  static fromBytes(bytes: Buffer): FernetKey {
    if (!Buffer.isBuffer(bytes)) throw new InvalidFernetKey("expected a Buffer");
    if (bytes.length !== 32) throw new InvalidFernetKey("must be 32 bytes");
    // createSecretKey copies the bytes into the KeyObject, so views leave no extra copies.
    return new FernetKey(
      createSecretKey(bytes.subarray(0, 16)),
      createSecretKey(bytes.subarray(16, 32)),
    );
  }

  /** Constant-time comparison of the key bytes (KeyObject.equals), e.g. to refuse key reuse. */
  equals(other: FernetKey): boolean {
    assertKey(other);
    const signing = this.#signing.equals(other.#signing);
    const encryption = this.#encryption.equals(other.#encryption);
    return signing && encryption;
  }

  toString(): string {
    return "FernetKey(<redacted>)";
  }

  toJSON(): string {
    return this.toString();
  }

  [INSPECT](): string {
    return this.toString();
  }
}

/** Parses a key as Python writes it (44-char padded base64url); missing padding is tolerated. */
export function parseFernetKey(text: string): FernetKey {
  if (typeof text !== "string") throw new InvalidFernetKey("expected a base64url string");
  const trimmed = text.trim();
  const bytes =
    decodeCanonical(trimmed, true) ??
    (trimmed.includes("=") ? undefined : decodeCanonical(trimmed, false));
  if (bytes === undefined) throw new InvalidFernetKey("not valid base64url");
  try {
    if (bytes.length !== 32) {
      throw new InvalidFernetKey(`must decode to 32 bytes, got ${bytes.length}`);
    }
    return FernetKey.fromBytes(bytes);
  } finally {
    bytes.fill(0);
  }
}

/** A fresh random key, padded base64url like Python's `Fernet.generate_key()`. */
export function generateFernetKey(): string {
  const bytes = Buffer.allocUnsafe(32);
  randomFillSync(bytes);
  const text = toPaddedBase64Url(bytes);
  bytes.fill(0);
  return text;
}

function assertKey(key: FernetKey): void {
  if (!(key instanceof FernetKey)) {
    throw new InvalidFernetKey("expected a FernetKey (use parseFernetKey)");
  }
}

// IVs come from a pre-filled random pool: one CSPRNG call per 256 tokens instead of one per
// token is a large share of the encrypt cost. Each IV is handed out once and never reused.
const IV_POOL = Buffer.allocUnsafe(BLOCK * 256);
let ivOffset = IV_POOL.length;

function takeIv(target: Buffer, at: number): void {
  if (ivOffset === IV_POOL.length) {
    randomFillSync(IV_POOL);
    ivOffset = 0;
  }
  IV_POOL.copy(target, at, ivOffset, ivOffset + BLOCK);
  ivOffset += BLOCK;
}

export interface EncryptOptions {
  /** Unix seconds written into the token; defaults to now. */
  timestamp?: number;
  /** 16 bytes; for test vectors only, a fresh random IV is used otherwise. */
  iv?: Buffer;
}

export interface DecryptOptions {
  /** Maximum token age; only when it is given are the age and clock-skew checks applied. */
  ttlSeconds?: number;
  /** Unix seconds to check the TTL against; defaults to now. */
  now?: number;
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

function checkTimestamp(timestamp: number): void {
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw new RangeError("Fernet timestamp must be a non-negative integer of unix seconds");
  }
}

/**
 * Writes header, ciphertext and MAC into one buffer. The timestamp comes as two 32-bit halves
 * so that rotation can copy it exactly, whatever its size.
 */
function seal(
  key: FernetKey,
  plaintext: Buffer,
  stampHigh: number,
  stampLow: number,
  iv: Buffer | undefined,
): string {
  const ctLen = (Math.floor(plaintext.length / BLOCK) + 1) * BLOCK;
  const macAt = HEADER_LEN + ctLen;
  const out = Buffer.allocUnsafe(macAt + MAC_LEN);
  out[0] = VERSION;
  out.writeUInt32BE(stampHigh, 1);
  out.writeUInt32BE(stampLow, 5);
  if (iv === undefined) {
    takeIv(out, 9);
  } else {
    if (!Buffer.isBuffer(iv) || iv.length !== BLOCK) throw new RangeError("IV must be 16 bytes");
    iv.copy(out, 9);
  }
  const cipher = createCipheriv("aes-128-cbc", encryptionOf(key), out.subarray(9, HEADER_LEN));
  const head = cipher.update(plaintext);
  head.copy(out, HEADER_LEN);
  cipher.final().copy(out, HEADER_LEN + head.length);
  createHmac("sha256", signingOf(key)).update(out.subarray(0, macAt)).digest().copy(out, macAt);
  return toPaddedBase64Url(out);
}

/** Encrypts `plaintext` into a token; the plaintext buffer is not modified. */
export function encrypt(key: FernetKey, plaintext: Buffer, opts?: EncryptOptions): string {
  assertKey(key);
  if (!Buffer.isBuffer(plaintext)) throw new TypeError("plaintext must be a Buffer");
  const timestamp = opts?.timestamp ?? nowSeconds();
  checkTimestamp(timestamp);
  return seal(key, plaintext, Math.floor(timestamp / 0x1_0000_0000), timestamp >>> 0, opts?.iv);
}

interface Opened {
  plaintext: Buffer;
  raw: Buffer;
  timestamp: number;
}

/** The token's bytes if it is well-formed and its MAC is right under `key`, else undefined. */
function authenticate(key: FernetKey, token: unknown): Buffer | undefined {
  if (typeof token !== "string") return undefined;
  const raw = decodeCanonical(token, true);
  if (
    raw === undefined ||
    raw.length < MIN_TOKEN_LEN ||
    (raw.length - HEADER_LEN - MAC_LEN) % BLOCK !== 0 ||
    raw[0] !== VERSION
  ) {
    return undefined;
  }
  const macAt = raw.length - MAC_LEN;
  const expected = createHmac("sha256", signingOf(key)).update(raw.subarray(0, macAt)).digest();
  return timingSafeEqual(expected, raw.subarray(macAt)) ? raw : undefined;
}

function open(key: FernetKey, token: string, opts: DecryptOptions | undefined): Opened {
  assertKey(key);
  const raw = authenticate(key, token);
  if (raw === undefined) throw new InvalidFernetToken();
  const macAt = raw.length - MAC_LEN;

  // Read only after the MAC passed, so an unauthenticated timestamp never decides anything.
  const timestamp = raw.readUInt32BE(1) * 0x1_0000_0000 + raw.readUInt32BE(5);
  if (opts?.ttlSeconds !== undefined) {
    const now = opts.now ?? nowSeconds();
    if (timestamp + opts.ttlSeconds < now) throw new InvalidFernetToken();
    if (now + MAX_CLOCK_SKEW_SECONDS < timestamp) throw new InvalidFernetToken();
  }

  // CBC decryption is P[i] = AES⁻¹(C[i]) XOR C[i-1] with C[-1] = IV. Creating a CBC decipher
  // per token costs more than all the rest of decrypt, so the block decryptions go through the
  // key's persistent ECB decipher and the XOR is done here. ECB without padding keeps no state
  // between calls as long as every input is whole blocks, which the length check above
  // guarantees. Padding is removed by hand: one output buffer and no Buffer.concat, so no stray
  // plaintext copies are left behind; the MAC already passed, so this is no padding oracle.
  let padded: Buffer | undefined;
  try {
    if (macAt - HEADER_LEN >= LARGE_CIPHERTEXT) {
      // Large tokens (backup chunks): the decipher's set-up is amortised and OpenSSL's CBC is
      // about twice as fast as the XOR loop below. Whole blocks, no padding: nothing is held back.
      const cbc = createDecipheriv("aes-128-cbc", encryptionOf(key), raw.subarray(9, HEADER_LEN));
      cbc.setAutoPadding(false);
      const out = cbc.update(raw.subarray(HEADER_LEN, macAt));
      cbc.final();
      if (out.length !== macAt - HEADER_LEN) {
        out.fill(0);
        throw new InvalidFernetToken();
      }
      return unpad(out, raw, timestamp);
    }
    padded = blockDecryptorOf(key).update(raw.subarray(HEADER_LEN, macAt));
  } catch (err) {
    if (err instanceof InvalidFernetToken) throw err;
    // Unreachable after the length checks; kept so no OpenSSL error can ever leak out.
  }
  if (padded === undefined || padded.length !== macAt - HEADER_LEN) {
    // Also unreachable; a decryptor holding a partial block would garble every later token.
    padded?.fill(0);
    resetBlockDecryptor(key);
    throw new InvalidFernetToken();
  }
  for (let i = 0; i < padded.length; i++) padded[i] = padded[i]! ^ raw[9 + i]!;
  return unpad(padded, raw, timestamp);
}

/** Checks and strips PKCS#7 padding in place; the MAC already passed, so this is no oracle. */
function unpad(padded: Buffer, raw: Buffer, timestamp: number): Opened {
  const pad = padded[padded.length - 1] ?? 0;
  let bad = pad === 0 || pad > BLOCK ? 1 : 0;
  for (let i = padded.length - pad; i < padded.length && bad === 0; i++) {
    if (padded[i] !== pad) bad = 1;
  }
  if (bad !== 0) {
    padded.fill(0);
    throw new InvalidFernetToken();
  }
  // A view, not a copy: the caller zero-filling it clears every plaintext byte we produced.
  return { plaintext: padded.subarray(0, padded.length - pad), raw, timestamp };
}

/** Decrypts a token; throws InvalidFernetToken for anything that is not a valid token. */
export function decrypt(key: FernetKey, token: string, opts?: DecryptOptions): Buffer {
  return open(key, token, opts).plaintext;
}

/**
 * Authenticates a token as decrypt does, but decrypts only the first `headBytes` of its plaintext
 * and the last block (for the padding, hence the length): for a reader that must check a large
 * token and look at its beginning without needing the rest (a backup's verifying pass). Returns
 * the whole plaintext when the token is small. Throws InvalidFernetToken as decrypt does.
 */
export function decryptHead(
  key: FernetKey,
  token: string,
  headBytes: number,
): { head: Buffer; length: number } {
  assertKey(key);
  if (typeof token !== "string") throw new InvalidFernetToken();
  const raw = decodeCanonical(token, true);
  if (raw === undefined || raw.length < HEADER_LEN + LARGE_CIPHERTEXT + MAC_LEN) {
    const plaintext = decrypt(key, token);
    return { head: plaintext.subarray(0, headBytes), length: plaintext.length };
  }
  if ((raw.length - HEADER_LEN - MAC_LEN) % BLOCK !== 0 || raw[0] !== VERSION) {
    throw new InvalidFernetToken();
  }
  const macAt = raw.length - MAC_LEN;
  const expected = createHmac("sha256", signingOf(key)).update(raw.subarray(0, macAt)).digest();
  if (!timingSafeEqual(expected, raw.subarray(macAt))) throw new InvalidFernetToken();
  // CBC: a block decrypts with the previous ciphertext block (or the IV) alone.
  const blocks = (macAt - HEADER_LEN) / BLOCK;
  const headBlocks = Math.min(blocks - 1, Math.ceil(headBytes / BLOCK));
  const first = createDecipheriv("aes-128-cbc", encryptionOf(key), raw.subarray(9, HEADER_LEN));
  first.setAutoPadding(false);
  const head = first.update(raw.subarray(HEADER_LEN, HEADER_LEN + headBlocks * BLOCK));
  first.final();
  const lastAt = macAt - BLOCK;
  const tail = createDecipheriv(
    "aes-128-cbc",
    encryptionOf(key),
    raw.subarray(lastAt - BLOCK, lastAt),
  );
  tail.setAutoPadding(false);
  const last = tail.update(raw.subarray(lastAt, macAt));
  tail.final();
  // The MAC passed, so a bad padding is no oracle: it is refused as any invalid token.
  const pad = last[BLOCK - 1] ?? 0;
  let bad = last.length !== BLOCK || pad === 0 || pad > BLOCK ? 1 : 0;
  for (let i = BLOCK - pad; i < BLOCK && bad === 0; i++) if (last[i] !== pad) bad = 1;
  last.fill(0);
  if (bad !== 0) {
    head.fill(0);
    throw new InvalidFernetToken();
  }
  return { head: head.subarray(0, headBytes), length: macAt - HEADER_LEN - pad };
}

/**
 * Like decrypt, also returning the token's creation time (unix seconds; exact up to 2^53,
 * which no real clock reaches).
 */
export function decryptWithTimestamp(
  key: FernetKey,
  token: string,
  opts?: DecryptOptions,
): { plaintext: Buffer; timestamp: number } {
  const { plaintext, timestamp } = open(key, token, opts);
  return { plaintext, timestamp };
}

/**
 * Re-encrypts a token under `newKey` with a fresh IV and the original timestamp bytes, as
 * Python's `MultiFernet.rotate()` does. The intermediate plaintext is zeroed.
 */
export function rotateToken(oldKey: FernetKey, newKey: FernetKey, token: string): string {
  assertKey(newKey);
  const { plaintext, raw } = open(oldKey, token, undefined);
  try {
    return seal(newKey, plaintext, raw.readUInt32BE(1), raw.readUInt32BE(5), undefined);
  } finally {
    plaintext.fill(0);
  }
}

/** One token for `rotateTokens`, with the key it was made with. */
export interface TokenToRotate {
  key: FernetKey;
  token: string;
}

// Only ever passed to rotateBatch: operations with the keys, never the keys themselves.
const BATCH_OPS: BatchOps<FernetKey> = {
  authenticate,
  decryptBlocks(key, blocks) {
    const out = blockDecryptorOf(key).update(blocks);
    if (out.length !== blocks.length) {
      // Unreachable (whole blocks only); a decryptor holding a partial block would garble
      // every later token, so it is replaced, and the batch fails rather than blame the rows.
      out.fill(0);
      resetBlockDecryptor(key);
      throw new Error("AES-ECB decryption returned a partial batch");
    }
    return out;
  },
  encryptBlocks(key, blocks) {
    const out = blockEncryptorOf(key).update(blocks);
    if (out.length !== blocks.length) {
      resetBlockEncryptor(key);
      throw new Error("AES-ECB encryption returned a partial batch");
    }
    return out;
  },
  mac: (key, data) => createHmac("sha256", signingOf(key)).update(data).digest(),
  takeIv,
  toText: toPaddedBase64Url,
};

/**
 * `rotateToken` for a whole batch (master key rotation's hot loop), with the same checks and
 * the same kind of output: each token's plaintext and timestamp bytes under `newKey`, a fresh
 * IV each. A CBC cipher per token costs more than all the rest of rotating it, so both
 * directions run over the keys' long-lived ECB ciphers (see fernet-batch.ts). Entries that do
 * not open under their key come back undefined. `ivs` is for test vectors only.
 */
export function rotateTokens(
  newKey: FernetKey,
  items: readonly TokenToRotate[],
  ivs?: readonly Buffer[],
): Array<string | undefined> {
  assertKey(newKey);
  for (const item of items) assertKey(item.key);
  return rotateBatch(BATCH_OPS, newKey, items, ivs);
}
