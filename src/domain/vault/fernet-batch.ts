// Fernet rotation a batch at a time, for master key rotation's hot loop. It works through
// operations fernet.ts hands it per call (rotateTokens there), so no key material is reachable
// from here: authenticate a token, AES-ECB over whole blocks, HMAC, fresh IVs.

const HEADER_LEN = 25; // version (1) + timestamp (8) + IV (16)
const MAC_LEN = 32;
const BLOCK = 16;

export interface BatchOps<Key> {
  /** The token's bytes if it is well-formed and its MAC is right under `key`, else undefined. */
  authenticate(key: Key, token: string): Buffer | undefined;
  /** AES-ECB over whole blocks, all of them returned (throws rather than hold any back). */
  decryptBlocks(key: Key, blocks: Buffer): Buffer;
  encryptBlocks(key: Key, blocks: Buffer): Buffer;
  mac(key: Key, data: Buffer): Buffer;
  takeIv(target: Buffer, at: number): void;
  toText(token: Buffer): string;
}

/**
 * Re-encrypts each token's plaintext and timestamp bytes under `newKey`, a fresh IV each (see
 * rotateTokens in fernet.ts). A CBC cipher per token costs more than all the rest of rotating
 * it, so both directions run over the keys' long-lived ECB ciphers: decryption as one call per old key
 * for the whole batch, encryption as one call per block position (block j of every token,
 * chained on block j-1 of the same token). Entries that do not open under their key come back
 * undefined. Every plaintext byte is zeroed before returning. `ivs` is for test vectors only.
 */
export function rotateBatch<Key>(
  ops: BatchOps<Key>,
  newKey: Key,
  items: ReadonlyArray<{ key: Key; token: string }>,
  ivs: readonly Buffer[] | undefined,
): Array<string | undefined> {
  const n = items.length;
  const result = new Array<string | undefined>(n).fill(undefined);
  const raws = new Array<Buffer | undefined>(n);
  const byKey = new Map<Key, number[]>();
  for (let i = 0; i < n; i++) {
    const { key, token } = items[i]!;
    const raw = ops.authenticate(key, token);
    if (raw === undefined) continue;
    raws[i] = raw;
    const group = byKey.get(key);
    if (group === undefined) byKey.set(key, [i]);
    else group.push(i);
  }

  // Plaintexts (still padded) of the authenticated tokens, each at plainAt[i] in its group's
  // buffer; a token with bad padding drops out here.
  const plains: Buffer[] = [];
  const plainOf = new Array<Buffer | undefined>(n);
  const plainAt = new Int32Array(n);
  try {
    for (const [key, group] of byKey) {
      let size = 0;
      for (const i of group) size += raws[i]!.length - HEADER_LEN - MAC_LEN;
      const ciphertext = Buffer.allocUnsafe(size);
      let at = 0;
      for (const i of group) {
        const raw = raws[i]!;
        at += raw.copy(ciphertext, at, HEADER_LEN, raw.length - MAC_LEN);
      }
      const padded = ops.decryptBlocks(key, ciphertext);
      plains.push(padded);
      at = 0;
      for (const i of group) {
        const raw = raws[i]!;
        const len = raw.length - HEADER_LEN - MAC_LEN;
        for (let b = 0; b < len; b++) padded[at + b] = padded[at + b]! ^ raw[9 + b]!;
        const pad = padded[at + len - 1]!;
        let bad = pad === 0 || pad > BLOCK ? 1 : 0;
        for (let b = len - pad; b < len && bad === 0; b++) if (padded[at + b] !== pad) bad = 1;
        if (bad === 0) {
          plainOf[i] = padded;
          plainAt[i] = at;
        }
        at += len;
      }
    }
    sealBatch(ops, newKey, raws, plainOf, plainAt, ivs, result);
  } finally {
    for (const p of plains) p.fill(0);
  }
  return result;
}

/**
 * Encrypts each opened token's padded plaintext under `key`. PKCS#7 padding depends only on
 * the length, so the old padded plaintext is exactly the new one and each new token has the
 * same size as the old: header (version and timestamp bytes copied), IV, ciphertext, MAC.
 */
function sealBatch<Key>(
  ops: BatchOps<Key>,
  key: Key,
  raws: ReadonlyArray<Buffer | undefined>,
  plainOf: ReadonlyArray<Buffer | undefined>,
  plainAt: Int32Array,
  ivs: readonly Buffer[] | undefined,
  result: Array<string | undefined>,
): void {
  const open: number[] = [];
  const outAt = new Int32Array(raws.length);
  let size = 0;
  for (let i = 0; i < raws.length; i++) {
    if (plainOf[i] === undefined) continue;
    open.push(i);
    outAt[i] = size;
    size += raws[i]!.length;
  }
  if (open.length === 0) return;
  const out = Buffer.allocUnsafe(size);
  for (const i of open) {
    raws[i]!.copy(out, outAt[i]!, 0, 9);
    const iv = ivs?.[i];
    if (iv === undefined) {
      ops.takeIv(out, outAt[i]! + 9);
    } else {
      if (!Buffer.isBuffer(iv) || iv.length !== BLOCK) throw new RangeError("IV must be 16 bytes");
      iv.copy(out, outAt[i]! + 9);
    }
  }
  // Longest first, so the tokens that still have a block j are always a prefix of `open`.
  const blocksOf = (i: number) => (raws[i]!.length - HEADER_LEN - MAC_LEN) / BLOCK;
  open.sort((a, b) => blocksOf(b) - blocksOf(a));
  const chained = Buffer.allocUnsafe(open.length * BLOCK);
  try {
    let active = open.length;
    for (let j = 0; active > 0; j++) {
      while (active > 0 && blocksOf(open[active - 1]!) <= j) active--;
      if (active === 0) break;
      // Block j of every token still that long: P[j] XOR C[j-1] (C[-1] being the IV).
      for (let k = 0; k < active; k++) {
        const i = open[k]!;
        const plain = plainOf[i]!;
        const p = plainAt[i]! + j * BLOCK;
        const prev = outAt[i]! + 9 + j * BLOCK;
        for (let b = 0; b < BLOCK; b++) chained[k * BLOCK + b] = plain[p + b]! ^ out[prev + b]!;
      }
      const sealed = ops.encryptBlocks(key, chained.subarray(0, active * BLOCK));
      for (let k = 0; k < active; k++) {
        sealed.copy(out, outAt[open[k]!]! + HEADER_LEN + j * BLOCK, k * BLOCK, (k + 1) * BLOCK);
      }
    }
  } finally {
    chained.fill(0);
  }
  for (const i of open) {
    const at = outAt[i]!;
    const macAt = at + raws[i]!.length - MAC_LEN;
    ops.mac(key, out.subarray(at, macAt)).copy(out, macAt);
    result[i] = ops.toText(out.subarray(at, macAt + MAC_LEN));
  }
}
