import { describe, expect, it } from "vitest";
import {
  type DecryptedKeys,
  generateFernetKey,
  parseMasterKeys,
  UnknownKeyVersion,
} from "../../../../src/domain/vault";
import { withDecryptedExchangeKeys } from "../../../../src/domain/vault/decrypt-scope";

const ring = parseMasterKeys(`1:${generateFernetKey()}`);
const enc = (s: string) => ring.encrypt(Buffer.from(s)).token;
const credential = () => ({
  apiKey: enc("the-api-key-plaintext"),
  secret: enc("the-secret-plaintext"),
  privateKey: enc("0xprivate-key-plaintext"),
  walletAddress: "0x1234",
  encryptionKeyVersion: 1,
});

const buffersOf = (k: DecryptedKeys) =>
  [k.apiKey, k.secret, k.privateKey].filter((b): b is Buffer => b !== null);

describe("withDecryptedExchangeKeys (S1.3)", () => {
  it("when the callback returns, then it saw the plaintext and every buffer is zero afterwards", async () => {
    let seen: DecryptedKeys | undefined;
    const result = await withDecryptedExchangeKeys(ring, credential(), async (keys) => {
      seen = keys;
      expect(keys.apiKey?.toString()).toBe("the-api-key-plaintext");
      expect(keys.secret?.toString()).toBe("the-secret-plaintext");
      expect(keys.privateKey?.toString()).toBe("0xprivate-key-plaintext");
      expect(keys.walletAddress).toBe("0x1234");
      return "done";
    });
    expect(result).toBe("done");
    const bufs = buffersOf(seen!);
    expect(bufs).toHaveLength(3);
    for (const b of bufs) {
      expect(b.length).toBeGreaterThan(0);
      expect(b.every((byte) => byte === 0)).toBe(true);
    }
  });

  it("when the callback throws, then the error propagates and every buffer is zero", async () => {
    let seen: DecryptedKeys | undefined;
    await expect(
      withDecryptedExchangeKeys(ring, credential(), async (keys) => {
        seen = keys;
        throw new Error("venue exploded");
      }),
    ).rejects.toThrow("venue exploded");
    for (const b of buffersOf(seen!)) expect(b.every((byte) => byte === 0)).toBe(true);
  });

  it("when a later field fails to decrypt, then the fields already decrypted are zeroed", async () => {
    const c = { ...credential(), privateKey: "gAAAAAB-not-a-valid-token" };
    const before = Buffer.alloc(0);
    const captured: Buffer[] = [before];
    const originalDecrypt = ring.decrypt.bind(ring);
    const spyRing = Object.create(ring) as typeof ring;
    spyRing.decrypt = (v, t) => {
      const b = originalDecrypt(v, t);
      captured.push(b);
      return b;
    };
    await expect(withDecryptedExchangeKeys(spyRing, c, async () => "never")).rejects.toThrow(
      "invalid token",
    );
    expect(captured.slice(1)).toHaveLength(2);
    for (const b of captured.slice(1)) expect(b.every((byte) => byte === 0)).toBe(true);
  });

  it("when the row's key version is not in the ring, then it fails naming the version", async () => {
    const c = { ...credential(), encryptionKeyVersion: 7 };
    await expect(withDecryptedExchangeKeys(ring, c, async () => 1)).rejects.toBeInstanceOf(
      UnknownKeyVersion,
    );
    await expect(withDecryptedExchangeKeys(ring, c, async () => 1)).rejects.toThrow("version 7");
  });

  it("when a field is null (no private key at this venue), then it is null inside the scope", async () => {
    const c = { ...credential(), privateKey: null, walletAddress: null };
    await withDecryptedExchangeKeys(ring, c, async (keys) => {
      expect(keys.privateKey).toBeNull();
      expect(keys.walletAddress).toBeNull();
    });
  });
});
