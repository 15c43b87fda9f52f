// Password policy (S2.2), peppered pre-hashing in front of bcrypt (S2.1) and the dummy verify
// for unknown users (S3.1), with the real bcrypt adapter.
import { randomBytes } from "node:crypto";
import bcrypt from "bcrypt";
import { describe, expect, it } from "vitest";
import { AccountError } from "../../../../src/domain/accounts/errors";
import {
  assertPasswordPolicy,
  DUMMY_PASSWORD_HASH,
  dummyVerify,
  hashPassword,
  passwordLength,
  prehashPassword,
  verifyPassword,
} from "../../../../src/domain/accounts/password";
import { BCRYPT_PRODUCTION_COST, createBcryptHasher } from "../../../../src/infra/bcrypt-hasher";

const fast = { hasher: createBcryptHasher({ cost: 4 }), pepper: randomBytes(32) };

function codeOf(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    if (err instanceof AccountError) return err.code;
    throw err;
  }
  return "accepted";
}

async function asyncCodeOf(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
  } catch (err) {
    if (err instanceof AccountError) return err.code;
    throw err;
  }
  return "accepted";
}

describe("password policy", () => {
  it("when a password has 7, 8, 128 or 129 code points, then only 8 and 128 are accepted", () => {
    expect(codeOf(() => assertPasswordPolicy("a".repeat(7)))).toBe("password_too_short");
    expect(codeOf(() => assertPasswordPolicy("a".repeat(8)))).toBe("accepted");
    expect(codeOf(() => assertPasswordPolicy("a".repeat(128)))).toBe("accepted");
    expect(codeOf(() => assertPasswordPolicy("a".repeat(129)))).toBe("password_too_long");
  });

  it("when a password is made of emoji, then each emoji counts as one character, not two UTF-16 units", () => {
    const grin = "😀";
    expect("😀".repeat(7).length).toBe(14);
    expect(passwordLength(grin.repeat(7))).toBe(7);
    expect(codeOf(() => assertPasswordPolicy(grin.repeat(7)))).toBe("password_too_short");
    expect(codeOf(() => assertPasswordPolicy(grin.repeat(128)))).toBe("accepted");
    expect(codeOf(() => assertPasswordPolicy(grin.repeat(129)))).toBe("password_too_long");
  });

  it("when a letter is typed with a combining accent, then it is counted after NFC as one code point", () => {
    const decomposed = "e\u0301"; // é as e + COMBINING ACUTE ACCENT
    expect(passwordLength(decomposed.repeat(7))).toBe(7);
    expect(codeOf(() => assertPasswordPolicy(decomposed.repeat(7)))).toBe("password_too_short");
    expect(codeOf(() => assertPasswordPolicy(decomposed.repeat(128)))).toBe("accepted");
    // No precomposed form exists for q́, so it stays two code points.
    expect(passwordLength("q\u0301".repeat(4))).toBe(8);
  });

  it("when a password has no digits, symbols or capitals, then it is still accepted (no composition rules)", () => {
    expect(codeOf(() => assertPasswordPolicy("correcthorsebatterystaple"))).toBe("accepted");
    expect(codeOf(() => assertPasswordPolicy("        "))).toBe("accepted");
  });

  it("when hashPassword is given a too-short or too-long password, then it refuses with the policy code", async () => {
    expect(await asyncCodeOf(() => hashPassword(fast, "short"))).toBe("password_too_short");
    expect(await asyncCodeOf(() => hashPassword(fast, "x".repeat(129)))).toBe("password_too_long");
  });
});

describe("password hashing", () => {
  it("when a password is hashed and verified with the same pepper, then it verifies and a wrong one does not", async () => {
    const hash = await hashPassword(fast, "correct horse battery staple");
    expect(await verifyPassword(fast, "correct horse battery staple", hash)).toBe(true);
    expect(await verifyPassword(fast, "correct horse battery stapl", hash)).toBe(false);
  });

  it("when a 73-byte and a 74-byte password share their first 72 bytes, then neither verifies against the other's hash", async () => {
    const p73 = `${"a".repeat(72)}b`;
    const p74 = `${"a".repeat(72)}bc`;
    expect(Buffer.byteLength(p73)).toBe(73);
    expect(Buffer.byteLength(p74)).toBe(74);
    // Plain bcrypt truncates at 72 bytes: this is the flaw the pre-hash exists for.
    expect(await bcrypt.compare(p74, await bcrypt.hash(p73, 4))).toBe(true);

    const h73 = await hashPassword(fast, p73);
    const h74 = await hashPassword(fast, p74);
    expect(await verifyPassword(fast, p74, h73)).toBe(false);
    expect(await verifyPassword(fast, p73, h74)).toBe(false);
    expect(await verifyPassword(fast, p73, h73)).toBe(true);
    expect(await verifyPassword(fast, p74, h74)).toBe(true);
  });

  it("when multi-byte passwords differ only after byte 72, then they do not verify against each other", async () => {
    const base = "пароль".repeat(6); // 36 code points, 72 bytes
    const hash = await hashPassword(fast, `${base}один`);
    expect(await verifyPassword(fast, `${base}два`, hash)).toBe(false);
    expect(await verifyPassword(fast, `${base}один`, hash)).toBe(true);
  });

  it("when the same password is verified under a different pepper, then it does not verify", async () => {
    const hash = await hashPassword(fast, "same password here");
    const otherPepper = { hasher: fast.hasher, pepper: randomBytes(32) };
    expect(await verifyPassword(otherPepper, "same password here", hash)).toBe(false);
  });

  it("when a password is typed in NFD but was set in NFC, then it verifies", async () => {
    const hash = await hashPassword(fast, "caf\u00e9 au lait");
    expect(await verifyPassword(fast, "cafe\u0301 au lait", hash)).toBe(true);
  });

  it("when the pre-hash is computed, then it is base64 HMAC-SHA-256 of the NFC password under the pepper", () => {
    const pepper = Buffer.from("0123456789abcdef0123456789abcdef");
    const prehashed = prehashPassword(pepper, "correct horse battery staple");
    expect(prehashed).toBe("kP884gW+zhxEe3d1YpMbknIaGVZVJIRQa/No7gJ4vNM=");
    expect(prehashed).toHaveLength(44);
    expect(prehashPassword(pepper, "cafe\u0301")).toBe(prehashPassword(pepper, "caf\u00e9"));
  });

  it("when the production adapter hashes, then the hash starts with $2b$12$", async () => {
    const hasher = createBcryptHasher();
    const hash = await hashPassword({ hasher, pepper: fast.pepper }, "production cost check");
    expect(hash.startsWith("$2b$12$")).toBe(true);
    expect(hash).toHaveLength(60);
  });

  it("when the bcrypt cost is outside 4..31, then the adapter refuses to be created", () => {
    expect(() => createBcryptHasher({ cost: 3 })).toThrow(
      "bcrypt cost must be an integer from 4 to 31, got 3",
    );
    expect(() => createBcryptHasher({ cost: 12.5 })).toThrow("got 12.5");
  });

  it("when an unknown user signs in, then dummyVerify answers false against a hash at the production cost", async () => {
    expect(DUMMY_PASSWORD_HASH.startsWith(`$2b$${BCRYPT_PRODUCTION_COST}$`)).toBe(true);
    expect(await dummyVerify(fast, "any password at all")).toBe(false);
    expect(await dummyVerify(fast)).toBe(false);
  });
});
