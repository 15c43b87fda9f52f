// RFC 9180 HPKE, base mode only: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, and AES-128-GCM or
// ChaCha20-Poly1305 from node:crypto. The building block under sealed intake (sealed-intake.ts).
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { x25519 } from "@noble/curves/ed25519.js";
import { expand, extract } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";

/** An AEAD that node:crypto provides, with its RFC 9180 identifier and sizes. */
export interface HpkeAead {
  readonly id: number;
  readonly cipher: "aes-128-gcm" | "chacha20-poly1305";
  readonly nk: number;
}

export const AEAD_AES_128_GCM: HpkeAead = Object.freeze({
  id: 0x0001,
  cipher: "aes-128-gcm",
  nk: 16,
});
export const AEAD_CHACHA20_POLY1305: HpkeAead = Object.freeze({
  id: 0x0003,
  cipher: "chacha20-poly1305",
  nk: 32,
});

const KEM_ID = 0x0020; // DHKEM(X25519, HKDF-SHA256)
const KDF_ID = 0x0001; // HKDF-SHA256
const MODE_BASE = 0x00;
const N_SECRET = 32;
const N_H = 32;
const N_N = 12;
export const TAG_LENGTH = 16;
export const ENC_LENGTH = 32;
const VERSION_LABEL = Buffer.from("HPKE-v1");
const KEM_SUITE = Buffer.concat([Buffer.from("KEM"), i2osp(KEM_ID, 2)]);

/** Authentication failed or an input was unusable. Carries no key, nonce or plaintext. */
export class HpkeOpenError extends Error {
  readonly code = "HPKE_OPEN_FAILED";
  constructor() {
    super("HPKE open failed");
    this.name = "HpkeOpenError";
  }
}

function i2osp(n: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  let rest = n;
  for (let i = length - 1; i >= 0 && rest > 0; i -= 1) {
    out[i] = rest % 256;
    rest = Math.floor(rest / 256);
  }
  return out;
}

function hpkeSuite(aead: HpkeAead): Buffer {
  return Buffer.concat([
    Buffer.from("HPKE"),
    i2osp(KEM_ID, 2),
    i2osp(KDF_ID, 2),
    i2osp(aead.id, 2),
  ]);
}

function labeledExtract(
  suite: Buffer,
  salt: Uint8Array,
  label: string,
  ikm: Uint8Array,
): Uint8Array {
  const labeled = Buffer.concat([VERSION_LABEL, suite, Buffer.from(label), ikm]);
  try {
    return extract(sha256, labeled, salt);
  } finally {
    labeled.fill(0);
  }
}

function labeledExpand(
  suite: Buffer,
  prk: Uint8Array,
  label: string,
  info: Uint8Array,
  length: number,
): Uint8Array {
  const labeled = Buffer.concat([i2osp(length, 2), VERSION_LABEL, suite, Buffer.from(label), info]);
  return expand(sha256, prk, labeled, length);
}

const EMPTY = new Uint8Array(0);

/** RFC 9180 7.1.3 DeriveKeyPair for X25519: a deterministic key pair from input keying material. */
export function deriveKeyPair(ikm: Uint8Array): { privateKey: Uint8Array; publicKey: Uint8Array } {
  const dkpPrk = labeledExtract(KEM_SUITE, EMPTY, "dkp_prk", ikm);
  try {
    const privateKey = labeledExpand(KEM_SUITE, dkpPrk, "sk", EMPTY, 32);
    return { privateKey, publicKey: x25519.getPublicKey(privateKey) };
  } finally {
    dkpPrk.fill(0);
  }
}

/** The X25519 public key of a private key. */
export function publicKeyOf(privateKey: Uint8Array): Uint8Array {
  return x25519.getPublicKey(privateKey);
}

function extractAndExpand(dh: Uint8Array, kemContext: Uint8Array): Uint8Array {
  const eaePrk = labeledExtract(KEM_SUITE, EMPTY, "eae_prk", dh);
  try {
    return labeledExpand(KEM_SUITE, eaePrk, "shared_secret", kemContext, N_SECRET);
  } finally {
    eaePrk.fill(0);
  }
}

// noble rejects low-order points (an all-zero shared secret, RFC 9180 7.1.4) by throwing.
function dh(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  try {
    return x25519.getSharedSecret(privateKey, publicKey);
  } catch {
    throw new HpkeOpenError();
  }
}

/**
 * Encap: a fresh ephemeral key (or `ephemeralPrivateKey`, for test vectors only) agreed with
 * `recipientPublicKey`. The caller zeroes `sharedSecret`.
 */
export function encap(
  recipientPublicKey: Uint8Array,
  ephemeralPrivateKey?: Uint8Array,
): { sharedSecret: Uint8Array; enc: Uint8Array } {
  const skE = ephemeralPrivateKey ? Uint8Array.from(ephemeralPrivateKey) : randomBytes(32);
  let shared: Uint8Array | undefined;
  try {
    const enc = x25519.getPublicKey(skE);
    shared = dh(skE, recipientPublicKey);
    const kemContext = Buffer.concat([enc, recipientPublicKey]);
    return { sharedSecret: extractAndExpand(shared, kemContext), enc };
  } finally {
    skE.fill(0);
    shared?.fill(0);
  }
}

/** Decap: the shared secret for `enc` under the recipient's private key. Caller zeroes it. */
export function decap(enc: Uint8Array, recipientPrivateKey: Uint8Array): Uint8Array {
  if (enc.length !== ENC_LENGTH) throw new HpkeOpenError();
  const shared = dh(recipientPrivateKey, enc);
  try {
    const kemContext = Buffer.concat([enc, x25519.getPublicKey(recipientPrivateKey)]);
    return extractAndExpand(shared, kemContext);
  } finally {
    shared.fill(0);
  }
}

// One branch per cipher name so that node's typings pick the AEAD overloads.
function cipherFor(aead: HpkeAead, key: Uint8Array, nonce: Uint8Array) {
  const options = { authTagLength: TAG_LENGTH };
  return aead.cipher === "aes-128-gcm"
    ? createCipheriv(aead.cipher, key, nonce, options)
    : createCipheriv(aead.cipher, key, nonce, options);
}

function decipherFor(aead: HpkeAead, key: Uint8Array, nonce: Uint8Array) {
  const options = { authTagLength: TAG_LENGTH };
  return aead.cipher === "aes-128-gcm"
    ? createDecipheriv(aead.cipher, key, nonce, options)
    : createDecipheriv(aead.cipher, key, nonce, options);
}

/**
 * An HPKE encryption context (RFC 9180 5.2): key, base nonce, exporter secret and the sequence
 * number. `dispose()` zero-fills the secrets; a disposed context refuses to work.
 */
export class HpkeContext {
  #seq = 0;
  #disposed = false;
  constructor(
    readonly aead: HpkeAead,
    readonly key: Uint8Array,
    readonly baseNonce: Uint8Array,
    readonly exporterSecret: Uint8Array,
  ) {}

  #nextNonce(): Buffer {
    if (this.#disposed) throw new Error("HPKE context was disposed");
    if (this.#seq >= Number.MAX_SAFE_INTEGER) throw new Error("HPKE message limit reached");
    const nonce = Buffer.from(this.baseNonce);
    const seq = i2osp(this.#seq, N_N);
    for (let i = 0; i < N_N; i += 1) nonce[i]! ^= seq[i]!;
    return nonce;
  }

  seal(aad: Uint8Array, plaintext: Uint8Array): Buffer {
    const nonce = this.#nextNonce();
    const cipher = cipherFor(this.aead, this.key, nonce);
    cipher.setAAD(aad, { plaintextLength: plaintext.length });
    const out = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    this.#seq += 1;
    return out;
  }

  /** Returns the plaintext (the caller zeroes it) or throws HpkeOpenError; never partial output. */
  open(aad: Uint8Array, ciphertext: Uint8Array): Buffer {
    if (ciphertext.length < TAG_LENGTH) throw new HpkeOpenError();
    const nonce = this.#nextNonce();
    const body = ciphertext.subarray(0, ciphertext.length - TAG_LENGTH);
    const decipher = decipherFor(this.aead, this.key, nonce);
    decipher.setAuthTag(ciphertext.subarray(ciphertext.length - TAG_LENGTH));
    decipher.setAAD(aad, { plaintextLength: body.length });
    const plaintext = decipher.update(body);
    try {
      const rest = decipher.final();
      if (rest.length > 0) throw new Error("unexpected trailing AEAD output");
    } catch {
      // The stream cipher released unauthenticated plaintext before the tag check failed.
      plaintext.fill(0);
      throw new HpkeOpenError();
    }
    this.#seq += 1;
    return plaintext;
  }

  /** RFC 9180 5.3 Export. */
  export(exporterContext: Uint8Array, length: number): Uint8Array {
    if (this.#disposed) throw new Error("HPKE context was disposed");
    return labeledExpand(hpkeSuite(this.aead), this.exporterSecret, "sec", exporterContext, length);
  }

  /** Never print the secrets: not in a log line (JSON) nor in util.inspect / console.log. */
  toJSON(): { aead: HpkeAead } {
    return { aead: this.aead };
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `HpkeContext { aead: ${this.aead.cipher}, secrets hidden }`;
  }

  dispose(): void {
    this.#disposed = true;
    this.key.fill(0);
    this.baseNonce.fill(0);
    this.exporterSecret.fill(0);
  }
}

/** RFC 9180 5.1 KeySchedule in base mode (no PSK). Does not zero `sharedSecret`. */
export function keySchedule(
  aead: HpkeAead,
  sharedSecret: Uint8Array,
  info: Uint8Array,
): { context: HpkeContext; keyScheduleContext: Uint8Array } {
  const suite = hpkeSuite(aead);
  const pskIdHash = labeledExtract(suite, EMPTY, "psk_id_hash", EMPTY);
  const infoHash = labeledExtract(suite, EMPTY, "info_hash", info);
  const keyScheduleContext = Buffer.concat([i2osp(MODE_BASE, 1), pskIdHash, infoHash]);
  const secret = labeledExtract(suite, sharedSecret, "secret", EMPTY);
  try {
    const key = labeledExpand(suite, secret, "key", keyScheduleContext, aead.nk);
    const baseNonce = labeledExpand(suite, secret, "base_nonce", keyScheduleContext, N_N);
    const exporterSecret = labeledExpand(suite, secret, "exp", keyScheduleContext, N_H);
    return { context: new HpkeContext(aead, key, baseNonce, exporterSecret), keyScheduleContext };
  } finally {
    secret.fill(0);
  }
}

/** SetupBaseS: `enc` for the recipient and the sender's context. */
export function setupBaseS(
  aead: HpkeAead,
  recipientPublicKey: Uint8Array,
  info: Uint8Array,
  ephemeralPrivateKey?: Uint8Array,
): { enc: Uint8Array; context: HpkeContext } {
  const { sharedSecret, enc } = encap(recipientPublicKey, ephemeralPrivateKey);
  try {
    return { enc, context: keySchedule(aead, sharedSecret, info).context };
  } finally {
    sharedSecret.fill(0);
  }
}

/** SetupBaseR: the recipient's context for `enc`. */
export function setupBaseR(
  aead: HpkeAead,
  enc: Uint8Array,
  recipientPrivateKey: Uint8Array,
  info: Uint8Array,
): HpkeContext {
  const sharedSecret = decap(enc, recipientPrivateKey);
  try {
    return keySchedule(aead, sharedSecret, info).context;
  } finally {
    sharedSecret.fill(0);
  }
}

/** Single-shot Seal (RFC 9180 6.1): one message, sequence number 0, context zeroed after. */
export function sealBase(
  aead: HpkeAead,
  recipientPublicKey: Uint8Array,
  info: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
  ephemeralPrivateKey?: Uint8Array,
): { enc: Uint8Array; ciphertext: Buffer } {
  const { enc, context } = setupBaseS(aead, recipientPublicKey, info, ephemeralPrivateKey);
  try {
    return { enc, ciphertext: context.seal(aad, plaintext) };
  } finally {
    context.dispose();
  }
}

/** Single-shot Open (RFC 9180 6.1). Throws HpkeOpenError on any failure. */
export function openBase(
  aead: HpkeAead,
  enc: Uint8Array,
  recipientPrivateKey: Uint8Array,
  info: Uint8Array,
  aad: Uint8Array,
  ciphertext: Uint8Array,
): Buffer {
  const context = setupBaseR(aead, enc, recipientPrivateKey, info);
  try {
    return context.open(aad, ciphertext);
  } finally {
    context.dispose();
  }
}
