// TOTP (S4.1, S4.2): the ±1-step window, replay refusal by last-used step, input handling, the
// provisioning URI and the encrypted secret. Codes come from an independent RFC 6238 helper.
import { createHmac } from "node:crypto";
import { ScureBase32Plugin } from "otplib";
import { describe, expect, it } from "vitest";
import {
  decryptTotpSecret,
  encryptTotpSecret,
  generateTotpSecret,
  otpauthUri,
  totpStep,
  verifyTotp,
} from "../../../../src/domain/accounts/totp";
import { generateFernetKey } from "../../../../src/domain/vault/fernet";
import { parseAccountKeys } from "../../../../src/domain/vault/key-ring";

const base32 = new ScureBase32Plugin();
// RFC 6238 appendix B's SHA-1 key, "12345678901234567890".
const RFC_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
const SECRET = generateTotpSecret();
// Mid-step, so ±1 step is unambiguous: step 56_666_666 starts at 1_699_999_980 s.
const NOW = 1_699_999_995_000;
const STEP = totpStep(NOW);

/** RFC 4226/6238 code for `step`, written independently of otplib. */
function codeAt(secret: string, step: number): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac("sha1", base32.decode(secret)).update(counter).digest();
  const offset = mac[mac.length - 1]! & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 1_000_000).padStart(6, "0");
}

/** A well-formed code that matches none of the steps in the window around `step`. */
function wrongCode(secret: string, step: number): string {
  const taken = new Set([-1, 0, 1].map((d) => codeAt(secret, step + d)));
  for (let n = 0; ; n++) {
    const candidate = String(n).padStart(6, "0");
    if (!taken.has(candidate)) return candidate;
  }
}

describe("TOTP secrets and URI", () => {
  it("when a secret is generated, then it is 32 base32 characters decoding to 20 bytes and each is fresh", () => {
    expect(SECRET).toMatch(/^[A-Z2-7]{32}$/);
    expect(base32.decode(SECRET)).toHaveLength(20);
    expect(generateTotpSecret()).not.toBe(SECRET);
  });

  it("when the otpauth URI is built, then it names Warden as issuer and carries SHA1, 6 digits, 30 s", () => {
    expect(otpauthUri({ secret: RFC_SECRET, account: "alice@example.com" })).toBe(
      "otpauth://totp/Warden:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Warden&algorithm=SHA1&digits=6&period=30",
    );
  });

  it("when the account name holds a colon or spaces, then they are encoded so the issuer cannot be spoofed", () => {
    expect(otpauthUri({ secret: RFC_SECRET, account: "Evil Corp:bob" })).toBe(
      "otpauth://totp/Warden:Evil%20Corp%3Abob?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Warden&algorithm=SHA1&digits=6&period=30",
    );
  });

  it("when a secret is encrypted through the key ring, then the token hides it and decrypts back exactly", () => {
    const ring = { ring: parseAccountKeys(`1:${generateFernetKey()}`), legacy: undefined };
    const stored = encryptTotpSecret(ring, SECRET);
    expect(stored.version).toBe(1);
    expect(stored.token).not.toContain(SECRET);
    expect(stored.token.startsWith("gAAAAA")).toBe(true);
    expect(decryptTotpSecret(ring, stored)).toBe(SECRET);
  });

  it("when the ring gains a newer key, then new secrets use it and old ones still decrypt by their version", () => {
    const k1 = generateFernetKey();
    const old = encryptTotpSecret({ ring: parseAccountKeys(`1:${k1}`), legacy: undefined }, SECRET);
    const ring = { ring: parseAccountKeys(`1:${k1},2:${generateFernetKey()}`), legacy: undefined };
    expect(encryptTotpSecret(ring, SECRET).version).toBe(2);
    expect(decryptTotpSecret(ring, old)).toBe(SECRET);
  });
});

describe("verifyTotp", () => {
  it("when the RFC 6238 test vector is given at T=59 s, then it verifies at step 1", async () => {
    expect(codeAt(RFC_SECRET, 1)).toBe("287082");
    expect(
      await verifyTotp({ secret: RFC_SECRET, code: "287082", lastUsedStep: null, now: 59_000 }),
    ).toEqual({ ok: true, step: 1 });
  });

  it("when the code is for the previous, current or next step, then it verifies and returns that step", async () => {
    for (const delta of [-1, 0, 1]) {
      const code = codeAt(SECRET, STEP + delta);
      expect(await verifyTotp({ secret: SECRET, code, lastUsedStep: null, now: NOW })).toEqual({
        ok: true,
        step: STEP + delta,
      });
    }
  });

  it("when the code is two steps old or two steps ahead, then it is invalid", async () => {
    for (const delta of [-2, 2]) {
      const code = codeAt(SECRET, STEP + delta);
      // Guard against the 1-in-a-million chance that it equals a code inside the window.
      if ([-1, 0, 1].some((d) => codeAt(SECRET, STEP + d) === code)) continue;
      expect(await verifyTotp({ secret: SECRET, code, lastUsedStep: null, now: NOW })).toEqual({
        ok: false,
        reason: "invalid",
      });
    }
  });

  it("when a code is used again within its step, then it is refused as replayed", async () => {
    const code = codeAt(SECRET, STEP);
    const first = await verifyTotp({ secret: SECRET, code, lastUsedStep: null, now: NOW });
    expect(first).toEqual({ ok: true, step: STEP });
    expect(
      await verifyTotp({ secret: SECRET, code, lastUsedStep: STEP, now: NOW + 5_000 }),
    ).toEqual({ ok: false, reason: "replayed" });
  });

  it("when a code from an older step arrives after a newer step was used, then it is refused as replayed", async () => {
    const newer = await verifyTotp({
      secret: SECRET,
      code: codeAt(SECRET, STEP + 1),
      lastUsedStep: null,
      now: NOW,
    });
    expect(newer).toEqual({ ok: true, step: STEP + 1 });
    for (const delta of [-1, 0]) {
      expect(
        await verifyTotp({
          secret: SECRET,
          code: codeAt(SECRET, STEP + delta),
          lastUsedStep: STEP + 1,
          now: NOW,
        }),
      ).toEqual({ ok: false, reason: "replayed" });
    }
  });

  it("when the next step's code arrives after the previous step was used, then it verifies", async () => {
    expect(
      await verifyTotp({
        secret: SECRET,
        code: codeAt(SECRET, STEP),
        lastUsedStep: STEP - 1,
        now: NOW,
      }),
    ).toEqual({ ok: true, step: STEP });
  });

  it("when the last used step is beyond the whole window, then a genuine code is replayed and a wrong one invalid, without throwing", async () => {
    const base = { secret: SECRET, lastUsedStep: STEP + 5, now: NOW };
    expect(await verifyTotp({ ...base, code: codeAt(SECRET, STEP) })).toEqual({
      ok: false,
      reason: "replayed",
    });
    expect(await verifyTotp({ ...base, code: wrongCode(SECRET, STEP) })).toEqual({
      ok: false,
      reason: "invalid",
    });
  });

  it("when a wrong 6-digit code is given, then it is invalid, also with a last used step", async () => {
    const code = wrongCode(SECRET, STEP);
    expect(await verifyTotp({ secret: SECRET, code, lastUsedStep: null, now: NOW })).toEqual({
      ok: false,
      reason: "invalid",
    });
    expect(await verifyTotp({ secret: SECRET, code, lastUsedStep: STEP - 3, now: NOW })).toEqual({
      ok: false,
      reason: "invalid",
    });
  });

  it("when the code is typed with spaces or a dash, then it is normalised and verifies", async () => {
    const code = codeAt(SECRET, STEP);
    for (const typed of [
      `${code.slice(0, 3)} ${code.slice(3)}`,
      ` ${code} `,
      `${code.slice(0, 3)}-${code.slice(3)}`,
    ]) {
      expect(
        await verifyTotp({ secret: SECRET, code: typed, lastUsedStep: null, now: NOW }),
      ).toEqual({
        ok: true,
        step: STEP,
      });
    }
  });

  it("when the input is not exactly 6 digits, then it is invalid rather than an error", async () => {
    const code = codeAt(SECRET, STEP);
    for (const typed of [
      "",
      code.slice(0, 5),
      `${code}0`,
      "abcdef",
      "12345x",
      "１２３４５６",
      "1".repeat(10_000),
    ]) {
      expect(
        await verifyTotp({ secret: SECRET, code: typed, lastUsedStep: null, now: NOW }),
      ).toEqual({
        ok: false,
        reason: "invalid",
      });
    }
  });
});
