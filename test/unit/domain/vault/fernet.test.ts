// Fernet against the public spec vectors, Python-made interop tokens and a seeded fuzz of
// mutated tokens: every invalid token must fail the same way.
import { createCipheriv, createHmac, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import {
  decrypt,
  decryptWithTimestamp,
  encrypt,
  type FernetKey,
  generateFernetKey,
  InvalidFernetKey,
  InvalidFernetToken,
  parseFernetKey,
  rotateToken,
  rotateTokens,
} from "../../../../src/domain/vault/fernet";

// shared/ sits beside the repository (also in CI's clean clone). Missing fixtures must fail.
const FIXTURES = new URL("../../../../../shared/fernet/", import.meta.url);

function fixture<T>(name: string): T {
  const url = new URL(name, FIXTURES);
  let text: string;
  try {
    text = readFileSync(url, "utf8");
  } catch (err) {
    throw new Error(`Fernet fixture ${url.pathname} is missing: ${(err as Error).message}`);
  }
  return JSON.parse(text) as T;
}

interface GenerateVector {
  token: string;
  now: string;
  iv: number[];
  src: string;
  secret: string;
}
interface VerifyVector {
  token: string;
  now: string;
  ttl_sec: number;
  src: string;
  secret: string;
}
interface InvalidVector {
  desc: string;
  token: string;
  now: string;
  ttl_sec: number;
  secret: string;
}
interface Interop {
  cases: Array<{ key: string; token: string; plaintext_b64: string; timestamp: number }>;
  rotation: Array<{
    old_key: string;
    new_key: string;
    token: string;
    rotated_example: string;
    plaintext_b64: string;
    timestamp: number;
  }>;
}

const generateVectors = fixture<GenerateVector[]>("generate.json");
const verifyVectors = fixture<VerifyVector[]>("verify.json");
const invalidVectors = fixture<InvalidVector[]>("invalid.json");
const interop = fixture<Interop>("interop.json");

const seconds = (iso: string): number => Math.floor(Date.parse(iso) / 1000);

function rejection(run: () => unknown): unknown {
  try {
    run();
  } catch (err) {
    return err;
  }
  return undefined;
}

function expectInvalidToken(run: () => unknown): void {
  const err = rejection(run);
  expect(err).toBeInstanceOf(InvalidFernetToken);
  expect((err as Error).message).toBe("invalid token");
}

describe("fernet spec vectors", () => {
  it("when the fixtures are loaded, then every file has vectors", () => {
    expect(generateVectors.length).toBeGreaterThan(0);
    expect(verifyVectors.length).toBeGreaterThan(0);
    expect(invalidVectors.length).toBeGreaterThan(0);
    expect(interop.cases.length).toBeGreaterThan(0);
    expect(interop.rotation.length).toBeGreaterThan(0);
  });

  it.each(generateVectors)(
    "when encrypting with the vector's IV and time, then the token is exactly $token",
    (v) => {
      const token = encrypt(parseFernetKey(v.secret), Buffer.from(v.src, "utf8"), {
        timestamp: seconds(v.now),
        iv: Buffer.from(v.iv),
      });
      expect(token).toBe(v.token);
    },
  );

  it.each(verifyVectors)(
    "when verifying $token with ttl $ttl_sec at $now, then it decrypts to the source",
    (v) => {
      const plaintext = decrypt(parseFernetKey(v.secret), v.token, {
        ttlSeconds: v.ttl_sec,
        now: seconds(v.now),
      });
      expect(plaintext.toString("utf8")).toBe(v.src);
    },
  );

  it.each(invalidVectors)("when the token has $desc, then it is rejected as invalid", (v) => {
    expectInvalidToken(() =>
      decrypt(parseFernetKey(v.secret), v.token, { ttlSeconds: v.ttl_sec, now: seconds(v.now) }),
    );
  });

  it("when any invalid vector is rejected, then every error message is identical", () => {
    const messages = new Set(
      invalidVectors.map(
        (v) =>
          (
            rejection(() =>
              decrypt(parseFernetKey(v.secret), v.token, {
                ttlSeconds: v.ttl_sec,
                now: seconds(v.now),
              }),
            ) as Error
          ).message,
      ),
    );
    expect([...messages]).toEqual(["invalid token"]);
  });
});

describe("fernet batch rotation against the spec vectors", () => {
  it("when every generate vector is rotated in one batch with its IV, then each token is exactly the vector's", () => {
    // Each vector's plaintext, first under other keys (two, so the batch mixes old keys) at the
    // vector's time; rotated to the vector's key with the vector's IV it must be its token.
    const olds = [parseFernetKey(generateFernetKey()), parseFernetKey(generateFernetKey())];
    for (const v of generateVectors) {
      const items = olds.map((old) => ({
        key: old,
        token: encrypt(old, Buffer.from(v.src, "utf8"), { timestamp: seconds(v.now) }),
      }));
      const ivs = items.map(() => Buffer.from(v.iv));
      expect(rotateTokens(parseFernetKey(v.secret), items, ivs)).toEqual([v.token, v.token]);
    }
  });

  it("when verify vectors are rotated in one batch, then each decrypts to its source under the new key", () => {
    const newKey = parseFernetKey(generateFernetKey());
    const items = verifyVectors.map((v) => ({ key: parseFernetKey(v.secret), token: v.token }));
    const rotated = rotateTokens(newKey, items);
    rotated.forEach((token, i) => {
      const v = verifyVectors[i]!;
      const opened = decryptWithTimestamp(newKey, token!);
      expect(opened.plaintext.toString("utf8")).toBe(v.src);
      expect(opened.timestamp).toBe(Buffer.from(v.token, "base64url").readUInt32BE(5));
    });
  });

  it("when invalid vectors sit between valid tokens of every length, then only they come back undefined", () => {
    const newKey = parseFernetKey(generateFernetKey());
    const oldKey = parseFernetKey(generateFernetKey());
    const sizes = [0, 1, 15, 16, 17, 31, 32, 33, 64, 100, 1000, 5000];
    const items = [];
    for (const [i, n] of sizes.entries()) {
      items.push({
        key: oldKey,
        token: encrypt(oldKey, Buffer.alloc(n, i + 1), { timestamp: 1000 + i }),
      });
      const v = invalidVectors[i % invalidVectors.length]!;
      items.push({ key: parseFernetKey(v.secret), token: v.token });
    }
    items.push({ key: newKey, token: items[0]!.token }); // right token, wrong key
    const rotated = rotateTokens(newKey, items);
    for (const [i, n] of sizes.entries()) {
      const opened = decryptWithTimestamp(newKey, rotated[2 * i]!);
      expect(opened.plaintext.equals(Buffer.alloc(n, i + 1))).toBe(true);
      expect(opened.timestamp).toBe(1000 + i);
      expect(rotated[2 * i]).toHaveLength(items[2 * i]!.token.length);
      expectInvalidToken(() => decrypt(oldKey, rotated[2 * i]!));
      // Expired or future-dated vectors are valid tokens for rotation (no TTL), the rest not.
      const v = invalidVectors[i % invalidVectors.length]!;
      const opensWithoutTtl =
        rejection(() => decrypt(parseFernetKey(v.secret), v.token)) === undefined;
      expect(rotated[2 * i + 1] !== undefined).toBe(opensWithoutTtl);
    }
    expect(rotated.at(-1)).toBeUndefined();
  });

  it("when a batch is rotated, then every token gets its own fresh IV", () => {
    const oldKey = parseFernetKey(generateFernetKey());
    const token = encrypt(oldKey, Buffer.from("same"), { timestamp: 5 });
    const rotated = rotateTokens(
      parseFernetKey(generateFernetKey()),
      Array.from({ length: 600 }, () => ({ key: oldKey, token })),
    );
    const ivs = new Set(rotated.map((t) => Buffer.from(t!, "base64url").toString("hex", 9, 25)));
    expect(ivs.size).toBe(600);
  });
});

describe("fernet interop with Python cryptography", () => {
  it.each(interop.cases)(
    "when decrypting Python's token at $timestamp, then the plaintext and timestamp match",
    (c) => {
      const { plaintext, timestamp } = decryptWithTimestamp(parseFernetKey(c.key), c.token);
      expect(plaintext.equals(Buffer.from(c.plaintext_b64, "base64"))).toBe(true);
      expect(timestamp).toBe(c.timestamp);
    },
  );

  it.each(interop.rotation)(
    "when rotating a token from $timestamp to a new key, then plaintext and timestamp are kept",
    (r) => {
      const oldKey = parseFernetKey(r.old_key);
      const newKey = parseFernetKey(r.new_key);
      const rotated = rotateToken(oldKey, newKey, r.token);

      const after = decryptWithTimestamp(newKey, rotated);
      expect(after.plaintext.equals(Buffer.from(r.plaintext_b64, "base64"))).toBe(true);
      expect(after.timestamp).toBe(r.timestamp);
      expectInvalidToken(() => decrypt(oldKey, rotated));
      // Python's own rotation of the same token is equally valid under the new key only.
      expect(decryptWithTimestamp(newKey, r.rotated_example).timestamp).toBe(r.timestamp);
      expectInvalidToken(() => decrypt(oldKey, r.rotated_example));
    },
  );
});

describe("fernet behaviour", () => {
  const keyText = generateFernetKey();
  const key = parseFernetKey(keyText);

  it("when a key is generated, then it is 44 chars of padded base64url like Python's", () => {
    expect(keyText).toMatch(/^[A-Za-z0-9_-]{43}=$/);
    expect(Buffer.from(keyText, "base64url")).toHaveLength(32);
  });

  it("when a key lacks its padding, then it is still accepted and means the same key", () => {
    expect(parseFernetKey(keyText.slice(0, 43)).equals(key)).toBe(true);
    const token = encrypt(key, Buffer.from("x"));
    expect(decrypt(parseFernetKey(keyText.slice(0, 43)), token).toString()).toBe("x");
  });

  it.each([
    ["too short", "c2hvcnQ="],
    ["33 bytes", Buffer.alloc(33, 7).toString("base64url")],
    ["bad characters", `${keyText.slice(0, 40)}%%%=`],
    ["standard base64 alphabet", `${"+".repeat(43)}=`],
    ["wrong padding", `${keyText.slice(0, 43)}==`],
    ["empty", ""],
  ])("when a key is %s, then InvalidFernetKey is thrown without echoing it", (_, bad) => {
    const err = rejection(() => parseFernetKey(bad));
    expect(err).toBeInstanceOf(InvalidFernetKey);
    expect(err).not.toBeInstanceOf(InvalidFernetToken);
    if (bad.length > 4) expect((err as Error).message).not.toContain(bad);
  });

  it("when something other than a FernetKey is passed, then InvalidFernetKey is thrown", () => {
    const notAKey = keyText as unknown as FernetKey;
    expect(() => encrypt(notAKey, Buffer.from("x"))).toThrow(InvalidFernetKey);
    expect(() => decrypt(notAKey, "gAAAA")).toThrow(InvalidFernetKey);
  });

  it("when a key is printed or serialised, then no key material shows", () => {
    expect(inspect(key)).toBe("FernetKey(<redacted>)");
    expect(JSON.stringify({ key })).toBe('{"key":"FernetKey(<redacted>)"}');
    expect(String(key)).not.toContain(keyText.slice(0, 10));
  });

  it.each([0, 1, 15, 16, 17, 31, 32, 33, 64, 1000, 4096])(
    "when %i bytes are encrypted and decrypted, then the same bytes come back",
    (n) => {
      const plaintext = randomBytes(n);
      const copy = Buffer.from(plaintext);
      const token = encrypt(key, plaintext);
      expect(plaintext.equals(copy)).toBe(true);
      expect(token.length % 4).toBe(0);
      expect(token).toMatch(/^gAAAAA[A-Za-z0-9_-]*={0,2}$/);
      expect(decrypt(key, token).equals(copy)).toBe(true);
    },
  );

  it("when the same plaintext is encrypted twice, then the IVs and tokens differ", () => {
    const a = encrypt(key, Buffer.from("same"));
    const b = encrypt(key, Buffer.from("same"));
    expect(a).not.toBe(b);
    const iv = (t: string) => Buffer.from(t, "base64url").subarray(9, 25).toString("hex");
    expect(iv(a)).not.toBe(iv(b));
  });

  it("when many tokens are made, then no IV repeats across the random pool refills", () => {
    const ivs = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      ivs.add(Buffer.from(encrypt(key, Buffer.alloc(0)), "base64url").toString("hex", 9, 25));
    }
    expect(ivs.size).toBe(2000);
  });

  it("when decrypting, then the returned plaintext owns its memory and the caller may zero it", () => {
    const token = encrypt(key, Buffer.from("secret-value"));
    const first = decrypt(key, token);
    const backing = first.buffer.byteLength;
    first.fill(0);
    expect(backing - first.length).toBeLessThanOrEqual(16); // only the PKCS#7 padding
    expect(decrypt(key, token).toString()).toBe("secret-value");
  });

  it("when no TTL is given, then an old token still decrypts", () => {
    const token = encrypt(key, Buffer.from("old"), { timestamp: 1 });
    expect(decrypt(key, token).toString()).toBe("old");
    expectInvalidToken(() => decrypt(key, token, { ttlSeconds: 60 }));
  });

  it("when the token is exactly ttl seconds old, then it is accepted; one more and it is not", () => {
    const token = encrypt(key, Buffer.from("t"), { timestamp: 1_000 });
    expect(decrypt(key, token, { ttlSeconds: 60, now: 1_060 }).toString()).toBe("t");
    expectInvalidToken(() => decrypt(key, token, { ttlSeconds: 60, now: 1_061 }));
  });

  it("when the token is up to 60 s in the future, then it is accepted; beyond, rejected", () => {
    const token = encrypt(key, Buffer.from("t"), { timestamp: 1_060 });
    expect(decrypt(key, token, { ttlSeconds: 10, now: 1_000 }).toString()).toBe("t");
    expectInvalidToken(() => decrypt(key, token, { ttlSeconds: 10, now: 999 }));
    // Without a TTL the clock is not consulted at all, as in Python.
    expect(decrypt(key, token, { now: 0 }).toString()).toBe("t");
  });

  it("when a token is decrypted with a different key, then it is rejected as invalid", () => {
    const token = encrypt(key, Buffer.from("t"));
    expectInvalidToken(() => decrypt(parseFernetKey(generateFernetKey()), token));
  });

  it("when a token's padding is removed, then it is rejected (tokens must be canonical)", () => {
    const token = encrypt(key, Buffer.from("pad me")); // 73+16 bytes → one "=" of padding
    expect(token.endsWith("=")).toBe(true);
    expectInvalidToken(() => decrypt(key, token.replace(/=+$/, "")));
    expectInvalidToken(() => decrypt(key, `${token}=`));
    expectInvalidToken(() => decrypt(key, ` ${token}`));
    // The standard alphabet differs only where the token has "-" or "_": use a token that has
    // one (a random token has none in about 2 % of cases, which made this flaky).
    let urlSafe = token;
    while (!/[-_]/.test(urlSafe)) urlSafe = encrypt(key, Buffer.from("pad me"));
    const standard = urlSafe.replace(/-/g, "+").replace(/_/g, "/");
    expect(standard).not.toBe(urlSafe);
    expectInvalidToken(() => decrypt(key, standard));
  });

  it("when a large token (a backup chunk) is not canonical, then it is rejected as a small one is", () => {
    const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    // Plaintext lengths giving each padding: 0, 1 and 2 "=".
    for (const size of [20_000, 20_001, 20_002]) {
      const plain = randomBytes(size);
      const token = encrypt(key, plain);
      expect(decrypt(key, token).equals(plain)).toBe(true);
      const pad = token.length - token.replace(/=+$/, "").length;
      const body = token.slice(0, token.length - pad);
      const mid = Math.floor(body.length / 2);
      const at = (i: number, c: string) => token.slice(0, i) + c + token.slice(i + 1);
      const bad = [
        `${token}=`,
        `${token}==`,
        ` ${token}`,
        `${token.slice(0, -4)}\n${token.slice(-3)}`,
        at(mid, "="),
        at(mid, "+"),
        at(mid, "/"),
        at(mid, "*"),
        token.replace(/-/g, "+").replace(/_/g, "/"),
        `${token.slice(0, mid)}${token.slice(mid + 4)}AAAA`,
      ];
      if (pad > 0) {
        bad.push(body);
        const last = body.length - 1;
        const value = B64URL.indexOf(token[last]!) | 1;
        bad.push(at(last, B64URL[value]!));
      }
      for (const t of bad) if (t !== token) expectInvalidToken(() => decrypt(key, t));
    }
  });

  it("when a correctly signed token has a partial block, then it is rejected and the key still works", () => {
    const { sign } = fuzzSetup(keyText);
    const raw = Buffer.from(encrypt(key, Buffer.from("a 20-byte plaintext!")), "base64url");
    const body = raw.subarray(0, raw.length - 32);
    for (let cut = 1; cut < 16; cut++) {
      expectInvalidToken(() => decrypt(key, sign(body.subarray(0, body.length - cut))));
      expect(decrypt(key, padded(raw)).toString()).toBe("a 20-byte plaintext!");
    }
  });

  it("when the token is not a string, then it is rejected as invalid", () => {
    expectInvalidToken(() => decrypt(key, Buffer.from("x") as unknown as string));
  });

  it("when a timestamp is negative or fractional, then encrypt refuses it", () => {
    expect(() => encrypt(key, Buffer.alloc(1), { timestamp: -1 })).toThrow(RangeError);
    expect(() => encrypt(key, Buffer.alloc(1), { timestamp: 1.5 })).toThrow(RangeError);
    expect(() => encrypt(key, Buffer.alloc(1), { iv: Buffer.alloc(8) })).toThrow(RangeError);
  });

  it("when a timestamp needs more than 32 bits, then it round-trips exactly", () => {
    const timestamp = 2 ** 40 + 12345;
    const token = encrypt(key, Buffer.from("far"), { timestamp });
    expect(decryptWithTimestamp(key, token).timestamp).toBe(timestamp);
    const other = parseFernetKey(generateFernetKey());
    expect(decryptWithTimestamp(other, rotateToken(key, other, token)).timestamp).toBe(timestamp);
  });
});

// ---- Fuzz ---------------------------------------------------------------------------------

/** mulberry32: tiny, seedable, good enough to pick mutations reproducibly. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const JUNK = [" ", "\n", "\t", "\r", "+", "/", "%", ".", "!", "*", "~", "\0", "é", "=", "😀", ":"];
const padded = (b: Buffer) => b.toString("base64url") + ["", "==", "="][b.length % 3];

type Mutation = (token: string, raw: Buffer, rand: () => number) => string;

function fuzzSetup(keyText: string) {
  const bytes = Buffer.from(keyText, "base64url");
  const signing = bytes.subarray(0, 16);
  const encryption = bytes.subarray(16, 32);
  // Re-sign a forged body so that only the structural checks after the MAC can reject it.
  const sign = (body: Buffer) =>
    padded(Buffer.concat([body, createHmac("sha256", signing).update(body).digest()]));
  const rawEncrypt = (iv: Buffer, blocks: Buffer) => {
    const c = createCipheriv("aes-128-cbc", encryption, iv);
    c.setAutoPadding(false);
    return Buffer.concat([c.update(blocks), c.final()]);
  };
  return { sign, rawEncrypt };
}

describe("fernet fuzz", () => {
  it("when 100,000 mutated tokens are decrypted, then every one fails with InvalidFernetToken", () => {
    const seed = Number(process.env.FERNET_FUZZ_SEED ?? 0x5eed_f00d) >>> 0;
    const rand = prng(seed);
    const int = (n: number) => Math.floor(rand() * n);
    const keyText = padded(Buffer.from(Array.from({ length: 32 }, () => int(256))));
    const key = parseFernetKey(keyText);
    const { sign, rawEncrypt } = fuzzSetup(keyText);
    const randBytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));

    const bases = Array.from({ length: 48 }, (_, i) =>
      encrypt(key, randBytes(i < 40 ? i : int(300)), {
        timestamp: int(2 ** 31),
        iv: randBytes(16),
      }),
    );

    const mutations: Record<string, Mutation> = {
      "flip raw bits": (_t, raw, r) => {
        const b = Buffer.from(raw);
        for (let n = 1 + Math.floor(r() * 3); n > 0; n--) {
          b[Math.floor(r() * b.length)]! ^= 1 << Math.floor(r() * 8);
        }
        return padded(b);
      },
      "truncate raw": (_t, raw, r) => padded(raw.subarray(0, Math.floor(r() * raw.length))),
      "extend raw": (_t, raw, r) =>
        padded(Buffer.concat([raw, randBytes(1 + Math.floor(r() * 40))])),
      "truncate string": (t, _raw, r) => t.slice(0, Math.floor(r() * t.length)),
      "extend string": (t) =>
        t + Array.from({ length: 1 + int(8) }, () => `${B64URL}=`[int(65)]).join(""),
      "insert junk char": (t, _raw, r) => {
        const at = Math.floor(r() * (t.length + 1));
        return t.slice(0, at) + JUNK[int(JUNK.length)] + t.slice(at);
      },
      "replace char": (t, _raw, r) => {
        const at = Math.floor(r() * t.length);
        return t.slice(0, at) + B64URL[int(64)] + t.slice(at + 1);
      },
      "wrong version byte": (_t, raw) => {
        const b = Buffer.from(raw);
        b[0] = (0x80 + 1 + int(255)) & 0xff;
        return padded(b);
      },
      "wrong version byte, re-signed": (_t, raw) => {
        const body = Buffer.from(raw.subarray(0, raw.length - 32));
        body[0] = (0x80 + 1 + int(255)) & 0xff;
        return sign(body);
      },
      "swap blocks": (_t, raw) => {
        const b = Buffer.from(raw);
        const blocks = Math.floor((b.length - 9 - 32) / 16); // IV + ciphertext blocks
        const i = int(blocks);
        const j = int(blocks);
        const a = Buffer.from(b.subarray(9 + 16 * i, 25 + 16 * i));
        b.copy(b, 9 + 16 * i, 9 + 16 * j, 25 + 16 * j);
        a.copy(b, 9 + 16 * j);
        return padded(b);
      },
      "remove padding": (t) => t.replace(/=+$/, ""),
      "extra padding": (t) => t + (rand() < 0.5 ? "=" : "=="),
      "non-canonical trailing bits": (t) => {
        const pad = t.length - t.replace(/=+$/, "").length;
        if (pad === 0) return t;
        const at = t.length - pad - 1;
        const value = B64URL.indexOf(t[at]!) | (1 + int(pad === 1 ? 3 : 15));
        return t.slice(0, at) + B64URL[value] + t.slice(at + 1);
      },
      "random string": () => {
        const n = int(300);
        return Array.from({ length: n }, () => B64URL[int(64)]).join("") + "=".repeat(int(3));
      },
      "random well-formed bytes": () => {
        const b = randBytes(57 + 16 * (1 + int(8)));
        b[0] = 0x80;
        return padded(b);
      },
      "ciphertext not block-aligned, re-signed": (_t, raw) => {
        const body = raw.subarray(0, raw.length - 32);
        return sign(body.subarray(0, body.length - 1 - int(15)));
      },
      "no ciphertext, re-signed": (_t, raw) => sign(Buffer.from(raw.subarray(0, 25))),
      "bad PKCS#7 padding, re-signed": (_t, raw) => {
        const iv = raw.subarray(9, 25);
        const blocks = randBytes(16 * (1 + int(3)));
        const last = blocks.length - 1;
        const kind = int(3);
        if (kind === 0) blocks[last] = 0;
        else if (kind === 1) blocks[last] = 17 + int(239);
        else {
          const pad = 2 + int(15);
          blocks.fill(pad, blocks.length - pad);
          blocks[last - 1 - int(pad - 1)] = pad + 1 + int(200);
        }
        return sign(Buffer.concat([raw.subarray(0, 25), rawEncrypt(iv, blocks)]));
      },
    };
    const names = Object.keys(mutations);
    const counts = new Map<string, number>(names.map((n) => [n, 0]));
    const failures: string[] = [];
    let failed = 0;
    let skipped = 0;

    for (let i = 0; i < 100_000; i++) {
      const base = bases[int(bases.length)]!;
      const name = names[i % names.length]!;
      const mutated = mutations[name]!(base, Buffer.from(base, "base64url"), rand);
      if (mutated === base) {
        skipped++;
        continue;
      }
      counts.set(name, counts.get(name)! + 1);
      let outcome: string;
      try {
        decrypt(key, mutated);
        outcome = "accepted";
      } catch (err) {
        if (err instanceof InvalidFernetToken && err.message === "invalid token") continue;
        outcome = `threw ${String(err)}`;
      }
      failed++;
      if (failures.length < 5) {
        failures.push(
          `seed=${seed} i=${i} mutation="${name}" ${outcome}: ${JSON.stringify(mutated)}`,
        );
      }
    }

    expect(failures, `${failed} failures; rerun with FERNET_FUZZ_SEED=${seed}`).toEqual([]);
    expect(skipped).toBeLessThan(20_000);
    for (const [name, count] of counts) expect(count, name).toBeGreaterThan(1_000);
    for (const base of bases) expect(() => decrypt(key, base)).not.toThrow();
  });
});
