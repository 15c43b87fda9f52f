// One-time tokens (S5.1, S5.3, S5.5): at least 128 random bits, URL-safe, stored as SHA-256.
import { describe, expect, it } from "vitest";
import { randomToken, sha256Hex } from "../../../../src/domain/accounts/tokens";

describe("one-time tokens", () => {
  it("when a token is made with the default size, then it is 32 bytes as 43 base64url characters", () => {
    const token = randomToken();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(token, "base64url")).toHaveLength(32);
  });

  it("when many tokens are made, then none repeats", () => {
    const tokens = new Set(Array.from({ length: 1000 }, () => randomToken()));
    expect(tokens.size).toBe(1000);
  });

  it("when fewer than 16 bytes (128 bits) are asked for, then it refuses", () => {
    expect(() => randomToken(15)).toThrow("a token needs at least 16 random bytes, got 15");
    expect(Buffer.from(randomToken(16), "base64url")).toHaveLength(16);
  });

  it("when a token is hashed for storage, then it is the lowercase hex SHA-256 of its text", () => {
    expect(sha256Hex("abc")).toBe(
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
    expect(sha256Hex(randomToken())).toMatch(/^[0-9a-f]{64}$/);
  });
});
