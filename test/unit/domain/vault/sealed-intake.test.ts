// Sealed intake (issue 19): what the signer opens, what it refuses (tampering, another user,
// venue, key or version, truncation), rotation overlap, SIGNER_INTAKE_KEY parsing, and that no
// error or printout carries key material.
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import {
  generateIntakeKey,
  INTAKE_INFO,
  IntakeKeyError,
  type IntakePurpose,
  parseIntakeKeys,
  parseIntakePublicKeys,
  SealedIntakeError,
  withOpenedIntake,
} from "../../../../src/domain/vault";
import { AEAD_CHACHA20_POLY1305, openBase } from "../../../../src/domain/vault/hpke";

const k1 = generateIntakeKey();
const k2 = generateIntakeKey();
const alice: IntakePurpose = { userId: "user-alice", venue: "binanceusdm" };
const secret = () => Buffer.from("api-secret-PLAINTEXT-0123456789");

function codeOf(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    if (err instanceof SealedIntakeError || err instanceof IntakeKeyError) return err.code;
    throw err;
  }
  throw new Error("expected an error");
}

function errorOf(run: () => unknown): Error {
  try {
    run();
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected an error");
}

/** Flips one bit of the decoded base64url part `index` of an envelope. */
function tamper(envelope: string, index: number, at: number): string {
  const parts = envelope.split(".");
  const bytes = Buffer.from(parts[index]!, "base64url");
  bytes[at]! ^= 0x01;
  parts[index] = bytes.toString("base64url");
  return parts.join(".");
}

describe("sealed intake", () => {
  const signer = parseIntakeKeys(`1:${k1}`);
  const published = signer.publicKeys().toString();
  const bot = parseIntakePublicKeys(published, "INTAKE_PUBLIC_KEYS_UNDER_TEST");

  it("when the bot seals with the published public keys, then the signer opens the same bytes", () => {
    const envelope = bot.seal(secret(), alice);
    expect(signer.open(envelope, alice).toString()).toBe(secret().toString());
  });

  it("when the same secret is sealed twice, then the envelopes differ and neither shows the secret", () => {
    const a = bot.seal(secret(), alice);
    const b = bot.seal(secret(), alice);
    expect(a).not.toBe(b);
    expect(a).toMatch(/^wsi2\.1\.[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]+$/);
    for (const e of [a, b]) {
      expect(e).not.toContain("PLAINTEXT");
      expect(Buffer.from(e.split(".")[3]!, "base64url").toString("latin1")).not.toContain(
        "PLAINTEXT",
      );
    }
  });

  it("when the envelope is opened with plain RFC 9180 and the documented info and AAD, then it opens", () => {
    const envelope = bot.seal(secret(), alice);
    const [, version, enc, ct] = envelope.split(".") as [string, string, string, string];
    const field = (s: string) => {
      const len = Buffer.alloc(4);
      len.writeUInt32BE(Buffer.byteLength(s));
      return Buffer.concat([len, Buffer.from(s)]);
    };
    const aad = Buffer.concat([INTAKE_INFO, version, alice.userId, alice.venue].map(field));
    const sk = Buffer.from(k1, "base64url");
    const pt = openBase(
      AEAD_CHACHA20_POLY1305,
      Buffer.from(enc, "base64url"),
      sk,
      Buffer.from("warden intake v2"),
      aad,
      Buffer.from(ct, "base64url"),
    );
    expect(pt.toString()).toBe(secret().toString());
  });

  it("when a sealed blob is replayed for another user or another venue, then it does not open", () => {
    const envelope = bot.seal(secret(), alice);
    expect(codeOf(() => signer.open(envelope, { ...alice, userId: "user-mallory" }))).toBe(
      "INTAKE_OPEN_FAILED",
    );
    expect(codeOf(() => signer.open(envelope, { ...alice, venue: "bybit" }))).toBe(
      "INTAKE_OPEN_FAILED",
    );
    // Length prefixes: shifting characters between the fields does not give the same AAD.
    const split = { userId: "user-alicebinance", venue: "usdm" };
    expect(codeOf(() => signer.open(envelope, split))).toBe("INTAKE_OPEN_FAILED");
  });

  it("when the request's terms are sealed, then a change of any term, its order, or a term added or dropped makes it not open", () => {
    const request = { id: "req-1", expiresAt: 1_900_000_000_000 };
    const terms = [
      ["action", "connect"],
      ["network", "testnet"],
      ["label", "main"],
    ] as const;
    const sealedFor = { ...alice, request, terms };
    const envelope = bot.seal(secret(), sealedFor);
    expect(signer.open(envelope, sealedFor).toString()).toBe(secret().toString());
    const changed: Array<ReadonlyArray<readonly [string, string]>> = [
      [["action", "rotate"], terms[1], terms[2]],
      [terms[0], ["network", "mainnet"], terms[2]],
      [terms[0], terms[1], ["label", "main "]],
      [terms[1], terms[0], terms[2]],
      [terms[0], terms[1]],
      [...terms, ["credentialId", "7"]],
      // Shifting characters between a name and its value does not give the same AAD.
      [terms[0], terms[1], ["labelm", "ain"]],
    ];
    for (const other of changed) {
      expect(codeOf(() => signer.open(envelope, { ...alice, request, terms: other }))).toBe(
        "INTAKE_OPEN_FAILED",
      );
    }
    expect(codeOf(() => signer.open(envelope, { ...alice, request }))).toBe("INTAKE_OPEN_FAILED");
    expect(codeOf(() => bot.seal(secret(), { ...alice, terms }))).toBe("INTAKE_PURPOSE_INVALID");
  });

  it("when an envelope of the older format (wsi1, terms unbound) arrives, then it is refused as outdated, not opened", () => {
    const [, version, enc, ct] = bot.seal(secret(), alice).split(".") as [
      string,
      string,
      string,
      string,
    ];
    const error = errorOf(() => signer.open(`wsi1.${version}.${enc}.${ct}`, alice));
    expect((error as SealedIntakeError).code).toBe("INTAKE_ENVELOPE_OUTDATED");
    expect(error.message).toContain("older format (wsi1)");
  });

  it("when a bit of the ciphertext, its tag or enc is flipped, then it does not open", () => {
    const envelope = bot.seal(secret(), alice);
    const tagAt = Buffer.from(envelope.split(".")[3]!, "base64url").length - 1;
    for (const bad of [
      tamper(envelope, 3, 0),
      tamper(envelope, 3, tagAt),
      tamper(envelope, 2, 7),
    ]) {
      expect(codeOf(() => signer.open(bad, alice))).toBe("INTAKE_OPEN_FAILED");
    }
  });

  it("when the envelope was sealed to another signer's key of the same version, then it does not open", () => {
    const other = parseIntakeKeys(`1:${k2}`);
    const envelope = other.publicKeys().seal(secret(), alice);
    const error = errorOf(() => signer.open(envelope, alice));
    expect((error as SealedIntakeError).code).toBe("INTAKE_OPEN_FAILED");
    expect(error.message).toMatch(/did not open/);
  });

  it("when the envelope's key version is changed or unknown, then it does not open and says which version", () => {
    const ring = parseIntakeKeys(`1:${k1},2:${k2}`);
    const envelope = ring.publicKeys().seal(secret(), alice);
    expect(envelope.startsWith("wsi2.2.")).toBe(true);
    expect(codeOf(() => ring.open(envelope.replace("wsi2.2.", "wsi2.1."), alice))).toBe(
      "INTAKE_OPEN_FAILED",
    );
    const unknown = errorOf(() => ring.open(envelope.replace("wsi2.2.", "wsi2.9."), alice));
    expect((unknown as SealedIntakeError).code).toBe("INTAKE_KEY_VERSION_UNKNOWN");
    expect(unknown.message).toContain("version 9");
    expect(unknown.message).toContain("SIGNER_INTAKE_KEY has versions 1, 2");
  });

  it("when the key rotates, then blobs sealed to the old version open during the overlap and not after", () => {
    const before = parseIntakeKeys(`1:${k1}`).publicKeys().seal(secret(), alice);
    const overlap = parseIntakeKeys(`1:${k1}\n2:${k2}`);
    expect(overlap.open(before, alice).toString()).toBe(secret().toString());
    const republished = parseIntakePublicKeys(overlap.publicKeys().toString(), "PUBLISHED");
    expect(republished.currentVersion).toBe(2);
    const after = republished.seal(secret(), alice);
    const retired = parseIntakeKeys(`2:${k2}`);
    expect(retired.open(after, alice).toString()).toBe(secret().toString());
    expect(codeOf(() => retired.open(before, alice))).toBe("INTAKE_KEY_VERSION_UNKNOWN");
  });

  it("when the envelope is truncated or garbled, then it is refused as malformed or unopenable", () => {
    const envelope = bot.seal(secret(), alice);
    const [prefix, version, enc, ct] = envelope.split(".") as [string, string, string, string];
    const shortCt = Buffer.from(ct, "base64url").subarray(0, 15).toString("base64url");
    const malformed = [
      "",
      envelope.slice(0, envelope.lastIndexOf(".")),
      `${prefix}.${version}.${enc}.${shortCt}`,
      `${prefix}.${version}.${enc.slice(0, 40)}.${ct}`,
      `${prefix}.${version}.${enc}.`,
      `wsi3.${version}.${enc}.${ct}`,
      `${prefix}.0.${enc}.${ct}`,
      `${prefix}.-1.${enc}.${ct}`,
      `${prefix}.${version}.${enc}.${ct}=`,
      `${prefix}.${version}.${enc}.${ct}.extra`,
      `${prefix}.${version}.${enc}.${"A".repeat(40_000)}`,
    ];
    for (const bad of malformed) {
      expect(
        codeOf(() => signer.open(bad, alice)),
        bad.slice(0, 60),
      ).toBe("INTAKE_ENVELOPE_MALFORMED");
    }
    const cut = Buffer.from(ct, "base64url");
    const shorter = `${prefix}.${version}.${enc}.${cut.subarray(0, cut.length - 1).toString("base64url")}`;
    expect(codeOf(() => signer.open(shorter, alice))).toBe("INTAKE_OPEN_FAILED");
    expect(codeOf(() => signer.open(123 as unknown as string, alice))).toBe(
      "INTAKE_ENVELOPE_MALFORMED",
    );
  });

  it("when the purpose lacks a user or venue, or the secret is oversized, then nothing is sealed", () => {
    expect(codeOf(() => bot.seal(secret(), { userId: "", venue: "bybit" }))).toBe(
      "INTAKE_PURPOSE_INVALID",
    );
    expect(codeOf(() => bot.seal(secret(), { userId: "u", venue: "" }))).toBe(
      "INTAKE_PURPOSE_INVALID",
    );
    expect(codeOf(() => bot.seal(Buffer.alloc(16 * 1024 + 1), alice))).toBe("INTAKE_TOO_LARGE");
  });

  it("when the plaintext is used through withOpenedIntake, then it is zero afterwards, also when the callback throws", async () => {
    let seen: Buffer | undefined;
    const result = await withOpenedIntake(signer, bot.seal(secret(), alice), alice, async (pt) => {
      seen = pt;
      expect(pt.toString()).toBe(secret().toString());
      return "stored";
    });
    expect(result).toBe("stored");
    expect(seen!.length).toBe(secret().length);
    expect(seen!.every((b) => b === 0)).toBe(true);
    let thrown: Buffer | undefined;
    await expect(
      withOpenedIntake(signer, bot.seal(secret(), alice), alice, async (pt) => {
        thrown = pt;
        throw new Error("venue refused the key");
      }),
    ).rejects.toThrow("venue refused the key");
    expect(thrown!.every((b) => b === 0)).toBe(true);
  });

  it("when the ring is disposed, then it no longer opens anything", () => {
    const ring = parseIntakeKeys(`1:${k1}`);
    const envelope = ring.publicKeys().seal(secret(), alice);
    ring.dispose();
    expect(() => ring.open(envelope, alice)).toThrow(/disposed/);
  });

  it("when the ring is printed, serialised or inspected, then no private key appears", () => {
    const ring = parseIntakeKeys(`1:${k1},2:${k2}`);
    for (const text of [
      String(ring),
      JSON.stringify({ ring }),
      inspect(ring),
      inspect({ ring }, { depth: 5 }),
    ]) {
      expect(text).toContain("IntakeKeyRing(versions=1,2; current=2)");
      expect(text).not.toContain(k1);
      expect(text).not.toContain(k2);
    }
  });
});

describe("SIGNER_INTAKE_KEY", () => {
  it("when entries are separated by commas, newlines and comments, then every version loads and the highest is current", () => {
    const ring = parseIntakeKeys(`# intake keys\r\n 1 : ${k1} ,\n\n2:${k2}=\n`);
    expect(ring.versions).toEqual([1, 2]);
    expect(ring.currentVersion).toBe(2);
  });

  const key = k2; // appears in bad inputs; it must never be echoed
  const sixteen = Buffer.alloc(16, 5).toString("base64url");
  it.each([
    ["an empty value", "", /SIGNER_INTAKE_KEY is empty/],
    ["only comments", "# none\n", /SIGNER_INTAKE_KEY is empty/],
    [
      "an entry without a colon",
      `1:${k1},${key}`,
      /SIGNER_INTAKE_KEY: entry 2 is malformed \(expected VERSION:KEY\)/,
    ],
    [
      "a zero version",
      `0:${key}`,
      /SIGNER_INTAKE_KEY: entry 1 is malformed \(VERSION must be a positive integer/,
    ],
    ["a word for a version", `v1:${key}`, /SIGNER_INTAKE_KEY: entry 1 is malformed/],
    [
      "no key after the colon",
      "1:",
      /SIGNER_INTAKE_KEY: entry 1 \(version 1\) has no key after the colon/,
    ],
    [
      "a duplicate version",
      `1:${k1},1:${key}`,
      /SIGNER_INTAKE_KEY: entry 2 \(version 1\) is a duplicate version/,
    ],
    [
      "a 16-byte key",
      `1:${sixteen}`,
      /SIGNER_INTAKE_KEY: entry 1 \(version 1\): key must be 32 bytes of base64url/,
    ],
    ["a key with other characters", `1:${key.slice(0, 42)}+`, /key must be 32 bytes of base64url/],
    ["a key one character short", `1:${key.slice(1)}`, /key must be 32 bytes of base64url/],
    [
      "a hex key",
      `1:${Buffer.from(key, "base64url").toString("hex")}`,
      /key must be 32 bytes of base64url/,
    ],
    [
      "an all-zero key",
      `1:${Buffer.alloc(32).toString("base64url")}`,
      /entry 1 \(version 1\): key is all zeros/,
    ],
  ])(
    "when it has %s, then start-up fails naming the variable, never the key",
    (_label, text, message) => {
      const error = errorOf(() => parseIntakeKeys(text));
      expect(error).toBeInstanceOf(IntakeKeyError);
      expect((error as IntakeKeyError).code).toBe("SIGNER_INTAKE_KEY_INVALID");
      expect(error.message).toMatch(message);
      expect(error.message).not.toContain(key);
      expect(error.message).not.toContain(key.slice(0, 20));
      expect(error.message).not.toContain(k1);
    },
  );

  it("when a key's spare trailing bits are set, then it is refused rather than read as the same key", () => {
    // The last of 43 characters carries 4 key bits and 2 spare bits that must be zero.
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const canonical = Buffer.alloc(32, 7).toString("base64url");
    const last = alphabet.indexOf(canonical.at(-1)!);
    const nonCanonical = canonical.slice(0, -1) + alphabet[last | 1];
    expect(nonCanonical).not.toBe(canonical);
    expect(Buffer.from(nonCanonical, "base64url")).toEqual(Buffer.alloc(32, 7));
    expect(parseIntakeKeys(`1:${canonical}`).versions).toEqual([1]);
    expect(() => parseIntakeKeys(`1:${nonCanonical}`)).toThrow(/key must be 32 bytes of base64url/);
  });

  it("when a published public key is a low-order point, then it is refused naming its variable", () => {
    const error = errorOf(() =>
      parseIntakePublicKeys(
        `1:${Buffer.alloc(32).toString("base64url")}`,
        "SIGNER_INTAKE_PUBLIC_KEY",
      ),
    );
    expect(error.message).toMatch(
      /^SIGNER_INTAKE_PUBLIC_KEY: entry 1 \(version 1\): key is not a usable X25519 public key/,
    );
  });
});
