// Backup codes (S4.3): ten distinct 50-bit codes, forgiving input, bcrypt-hashed storage, and
// matching that finds the right index, skips used ones and refuses wrong input.
import { randomBytes } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import {
  BACKUP_CODE_ALPHABET,
  findMatchingCode,
  generateBackupCodes,
  hashBackupCodes,
  normaliseBackupCode,
} from "../../../../src/domain/accounts/backup-codes";
import { prehashPassword } from "../../../../src/domain/accounts/password";
import { createBcryptHasher } from "../../../../src/infra/bcrypt-hasher";

const deps = { hasher: createBcryptHasher({ cost: 4 }), pepper: randomBytes(32) };

describe("backup code generation", () => {
  it("when codes are generated, then there are 10 distinct codes shaped xxxxx-xxxxx from the unambiguous alphabet", () => {
    const codes = generateBackupCodes();
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    for (const code of codes) expect(code).toMatch(/^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$/);
  });

  it("when the alphabet is inspected, then it has 32 symbols without i, l, o or u, giving 50 bits per code", () => {
    expect(BACKUP_CODE_ALPHABET).toHaveLength(32);
    expect(new Set(BACKUP_CODE_ALPHABET).size).toBe(32);
    expect(BACKUP_CODE_ALPHABET).not.toMatch(/[ilou]/);
    expect(10 * Math.log2(BACKUP_CODE_ALPHABET.length)).toBe(50);
  });

  it("when many codes are generated, then every symbol of the alphabet turns up (no stuck positions)", () => {
    const seen = new Set(generateBackupCodes(200).join("").replace(/-/g, ""));
    expect(seen.size).toBe(32);
  });
});

describe("backup code normalisation", () => {
  it("when a code is typed in capitals, with spaces or without the dash, then it normalises to the same canonical form", () => {
    for (const typed of [
      "ab3de-fg7hj",
      "AB3DE-FG7HJ",
      "ab3defg7hj",
      " ab3de fg7hj ",
      "AB3D-EFG-7HJ",
    ]) {
      expect(normaliseBackupCode(typed)).toBe("ab3defg7hj");
    }
  });

  it("when o, i or l are typed, then they are read as 0, 1 and 1", () => {
    expect(normaliseBackupCode("oiL00-11abc")).toBe("0110011abc");
  });

  it("when the input has the wrong length or a symbol outside the alphabet, then it is not a code", () => {
    for (const typed of [
      "",
      "ab3de-fg7h",
      "ab3de-fg7hjk",
      "ab3de-fg7hu",
      "ab3de_fg7hj",
      "ab3dé-fg7hj",
    ]) {
      expect(normaliseBackupCode(typed)).toBeNull();
    }
  });
});

describe("backup code matching", () => {
  let codes: string[];
  let hashes: string[];

  beforeAll(async () => {
    codes = generateBackupCodes();
    hashes = await hashBackupCodes(deps, codes);
  });

  it("when codes are hashed, then each hash is bcrypt and none contains its code", () => {
    expect(hashes).toHaveLength(10);
    hashes.forEach((hash, i) => {
      expect(hash).toMatch(/^\$2b\$04\$/);
      expect(hash).not.toContain(codes[i]!.replace("-", ""));
    });
  });

  it("when each code is entered, then its own index is returned", async () => {
    for (const [i, code] of codes.entries()) {
      expect(await findMatchingCode(deps, hashes, code)).toBe(i);
    }
  });

  it("when a code is entered in another form, then it still matches its index", async () => {
    const code = codes[7]!;
    expect(await findMatchingCode(deps, hashes, ` ${code.toUpperCase().replace("-", " ")} `)).toBe(
      7,
    );
  });

  it("when the caller marks a used index as null, then that code no longer matches and the others keep their index", async () => {
    const afterUse = hashes.map((h, i) => (i === 3 ? null : h));
    expect(await findMatchingCode(deps, afterUse, codes[3]!)).toBe(-1);
    expect(await findMatchingCode(deps, afterUse, codes[4]!)).toBe(4);
  });

  it("when a wrong or malformed code is entered, then -1 is returned", async () => {
    const other = generateBackupCodes(1)[0]!;
    expect(await findMatchingCode(deps, hashes, other)).toBe(-1);
    expect(await findMatchingCode(deps, hashes, "not a code")).toBe(-1);
    expect(await findMatchingCode(deps, [], codes[0]!)).toBe(-1);
  });

  it("when the pepper differs, then no code matches", async () => {
    const otherPepper = { hasher: deps.hasher, pepper: randomBytes(32) };
    expect(await findMatchingCode(otherPepper, hashes, codes[0]!)).toBe(-1);
  });

  it("when a user's password equals a backup code's text, then the password pre-hash does not verify as that code", async () => {
    const canonical = normaliseBackupCode(codes[0]!)!;
    expect(await deps.hasher.verify(prehashPassword(deps.pepper, canonical), hashes[0]!)).toBe(
      false,
    );
  });
});
