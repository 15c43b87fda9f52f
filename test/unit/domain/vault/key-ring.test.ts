// The master key ring: parsing MASTER_KEYS, version-exact decryption, rotation, and that no
// error, log line or serialisation ever carries key material.
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import {
  decryptWithTimestamp,
  generateFernetKey,
  InvalidFernetToken,
  parseFernetKey,
} from "../../../../src/domain/vault/fernet";
import {
  type KeyRing,
  MasterKeyError,
  parseMasterKeys,
  UnknownKeyVersion,
} from "../../../../src/domain/vault/key-ring";

const k1 = generateFernetKey();
const k2 = generateFernetKey();
const k3 = generateFernetKey();

function errorOf(run: () => unknown): Error {
  try {
    run();
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected an error");
}

describe("parseMasterKeys", () => {
  it("when entries are comma-separated, then every version is loaded and the highest is current", () => {
    const ring = parseMasterKeys(`1:${k1},3:${k3},2:${k2}`);
    expect(ring.versions).toEqual([1, 2, 3]);
    expect(ring.currentVersion).toBe(3);
    expect(ring.has(2)).toBe(true);
    expect(ring.has(4)).toBe(false);
  });

  it("when the file form has comments, blank lines, CRLF and whitespace, then they are ignored", () => {
    const text = [
      "# Warden master keys",
      "",
      `  1 : ${k1}  `,
      "   # retired soon",
      `2:${k2},  `,
      "\t",
      `3:${k3}`,
      "",
    ].join("\r\n");
    const ring = parseMasterKeys(text);
    expect(ring.versions).toEqual([1, 2, 3]);
    expect(ring.currentVersion).toBe(3);
  });

  it("when commas and newlines are mixed, then both separate entries", () => {
    expect(parseMasterKeys(`1:${k1},\n2:${k2}\n,3:${k3}`).versions).toEqual([1, 2, 3]);
  });

  it("when a key is given without its = padding, then it is accepted", () => {
    const ring = parseMasterKeys(`7:${k1.replace(/=+$/, "")}`);
    expect(ring.currentVersion).toBe(7);
    expect(ring.containsKeyMaterial(k1)).toBe(true);
  });

  const badKey = k2; // a real key appears in several bad inputs; it must never be echoed.
  it.each([
    ["no entries at all", "", /MASTER_KEYS is empty/],
    ["only comments", "# nothing here\n\n", /MASTER_KEYS is empty/],
    ["an entry without a colon", `1:${k1},${badKey}`, /MASTER_KEYS: entry 2 is malformed/],
    ["a non-numeric version", `v1:${badKey}`, /MASTER_KEYS: entry 1 is malformed/],
    ["version zero", `0:${badKey}`, /entry 1 is malformed .*positive integer/],
    ["a negative version", `-2:${badKey}`, /entry 1 is malformed/],
    ["a version with leading zero", `01:${badKey}`, /entry 1 is malformed/],
    ["an empty key", `1:${k1}\n2:`, /MASTER_KEYS: entry 2 \(version 2\) has no key/],
    ["a duplicate version", `1:${k1},2:${k2},1:${badKey}`, /entry 3 \(version 1\) is a duplicate/],
    ["a 16-byte key", `4:${badKey.slice(0, 22)}`, /entry 1 \(version 4\).*32 bytes.*got 16/],
    ["a 33-byte key", `5:${Buffer.alloc(33, 9).toString("base64url")}`, /version 5.*got 33/],
    ["invalid base64 characters", `6:${badKey.slice(0, 40)}$$$=`, /version 6\): key is not valid/],
    ["non-canonical base64", `8:${badKey.slice(0, 42)}B=`, /version 8\): key is not valid/],
  ])(
    "when MASTER_KEYS has %s, then a MasterKeyError names it without key material",
    (_, text, pattern) => {
      const err = errorOf(() => parseMasterKeys(text));
      expect(err).toBeInstanceOf(MasterKeyError);
      expect(err.message).toMatch(/^MASTER_KEYS/);
      expect(err.message).toMatch(pattern);
      for (const key of [k1, k2, k3]) {
        expect(err.message).not.toContain(key.slice(0, 16));
        expect(err.message).not.toContain(key.slice(-20));
      }
      expect(err.stack ?? "").not.toContain(badKey.slice(0, 16));
    },
  );

  it("when the source is MASTER_KEYS_FILE, then errors can name that variable instead", () => {
    expect(errorOf(() => parseMasterKeys("", "MASTER_KEYS_FILE")).message).toMatch(
      /^MASTER_KEYS_FILE is empty/,
    );
  });
});

describe("KeyRing", () => {
  const ring: KeyRing = parseMasterKeys(`1:${k1}\n2:${k2}`);

  it("when encrypting, then the highest version is used and reported", () => {
    const { token, version } = ring.encrypt(Buffer.from("api-secret"));
    expect(version).toBe(2);
    expect(decryptWithTimestamp(parseFernetKey(k2), token).plaintext.toString()).toBe("api-secret");
    expect(ring.decrypt(2, token).toString()).toBe("api-secret");
  });

  it("when decrypting, then exactly the recorded version's key is used (no trial decryption)", () => {
    const older = parseMasterKeys(`1:${k1}`).encrypt(Buffer.from("v1 secret"));
    expect(older.version).toBe(1);
    expect(ring.decrypt(1, older.token).toString()).toBe("v1 secret");
    // The right token under the wrong version column is an error, not a silent fallback.
    expect(() => ring.decrypt(2, older.token)).toThrow(InvalidFernetToken);
  });

  it("when the version is not in the ring, then UnknownKeyVersion names it", () => {
    const { token } = ring.encrypt(Buffer.from("x"));
    const err = errorOf(() => ring.decrypt(9, token));
    expect(err).toBeInstanceOf(UnknownKeyVersion);
    expect((err as UnknownKeyVersion).version).toBe(9);
    expect(err.message).toContain("version 9");
    expect(err.message).toContain("1, 2");
    expect(() => ring.rotate(token, 9)).toThrow(UnknownKeyVersion);
  });

  it("when rotating a token, then it moves to the current version and keeps its timestamp", () => {
    const old = parseMasterKeys(`1:${k1}`).encrypt(Buffer.from("rotate me"), {
      timestamp: 1_650_000_000,
    });
    const rotated = ring.rotate(old.token, 1);
    expect(rotated.version).toBe(2);
    const opened = decryptWithTimestamp(parseFernetKey(k2), rotated.token);
    expect(opened.plaintext.toString()).toBe("rotate me");
    expect(opened.timestamp).toBe(1_650_000_000);
    expect(() => ring.decrypt(1, rotated.token)).toThrow(InvalidFernetToken);
  });

  it("when a batch mixes versions and a corrupt token, then each moves to the current version and only the corrupt one is undefined", () => {
    const three = parseMasterKeys(`1:${k1}\n2:${k2}\n3:${k3}`);
    const v1 = parseMasterKeys(`1:${k1}`).encrypt(Buffer.from("one"), { timestamp: 1_600_000_001 });
    const v2 = ring.encrypt(Buffer.from("two"), { timestamp: 1_600_000_002 });
    const corrupt = `${v2.token.slice(0, 40)}${v2.token[40] === "A" ? "B" : "A"}${v2.token.slice(41)}`;
    const out = three.rotateMany([
      { token: v1.token, version: 1 },
      { token: v2.token, version: 2 },
      { token: corrupt, version: 2 },
      { token: v1.token, version: 2 }, // right token, wrong recorded version
    ]);
    expect(three.decrypt(3, out[0]!).toString()).toBe("one");
    expect(decryptWithTimestamp(parseFernetKey(k3), out[0]!).timestamp).toBe(1_600_000_001);
    expect(three.decrypt(3, out[1]!).toString()).toBe("two");
    expect(decryptWithTimestamp(parseFernetKey(k3), out[1]!).timestamp).toBe(1_600_000_002);
    expect(out.slice(2)).toEqual([undefined, undefined]);
    expect(() => three.rotateMany([{ token: v1.token, version: 9 }])).toThrow(UnknownKeyVersion);
  });

  it("when a candidate key is checked, then only the ring's own keys match", () => {
    expect(ring.containsKeyMaterial(k1)).toBe(true);
    expect(ring.containsKeyMaterial(k2)).toBe(true);
    expect(ring.containsKeyMaterial(k3)).toBe(false);
    expect(ring.containsKeyMaterial("not a key")).toBe(false);
  });

  it("when the ring is inspected, stringified or serialised, then no key material shows", () => {
    const shown = [
      inspect(ring),
      inspect({ nested: { ring } }, { depth: 10, showHidden: true }),
      String(ring),
      JSON.stringify({ ring }),
    ];
    expect(shown[0]).toBe("KeyRing(versions=1,2; current=2)");
    expect(JSON.stringify({ ring })).toBe('{"ring":"KeyRing(versions=1,2; current=2)"}');
    for (const text of shown) {
      for (const key of [k1, k2]) {
        expect(text).not.toContain(key.slice(0, 12));
        expect(text).not.toContain(Buffer.from(key, "base64url").toString("hex").slice(0, 12));
      }
    }
  });
});
