// Access JWTs (S5.2): round trip, and every forged, downgraded or malformed token refused with
// the one invalid_token code (token_expired only for a genuine token past its exp).
import { createHmac, randomBytes } from "node:crypto";
import { decodeProtectedHeader, generateKeyPair, SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { AccountError } from "../../../src/domain/accounts/errors";
import { createAccessTokens } from "../../../src/infra/jwt";

const SECRET = randomBytes(32);
const T0 = 1_700_000_000_000;
const T0S = T0 / 1000;
let clock = T0;
const tokens = createAccessTokens({ secret: SECRET, now: () => clock });

function b64(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

/** A correctly HS256-signed token with any header and payload: isolates the check under test. */
function handSigned(header: Record<string, unknown>, payload: Record<string, unknown>): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${createHmac("sha256", SECRET).update(input).digest("base64url")}`;
}

const good = () => ({ sub: "user-1", jti: "jti-1", iat: T0S, exp: T0S + 900 });

async function codeOf(token: string, opts?: { tokensValidAfter?: Date }, at = T0): Promise<string> {
  clock = at;
  try {
    await tokens.verify(token, opts);
    return "accepted";
  } catch (err) {
    if (err instanceof AccountError) return err.code;
    throw err;
  } finally {
    clock = T0;
  }
}

describe("access tokens", () => {
  it("when a token is signed and verified, then the claims come back with a 15-minute life and an HS256 JWT header", async () => {
    const signed = await tokens.sign({ sub: "user-1", sid: "family-9", role: "admin" });
    expect(signed.expiresIn).toBe(900);
    expect(signed.jti).toMatch(/^[0-9a-f-]{36}$/);
    expect(decodeProtectedHeader(signed.token)).toEqual({ alg: "HS256", typ: "JWT" });
    expect(await tokens.verify(signed.token)).toEqual({
      sub: "user-1",
      jti: signed.jti,
      iat: T0S,
      exp: T0S + 900,
      sid: "family-9",
      role: "admin",
    });
  });

  it("when two tokens are signed, then their jti differ", async () => {
    const a = await tokens.sign({ sub: "user-1" });
    const b = await tokens.sign({ sub: "user-1" });
    expect(a.jti).not.toBe(b.jti);
  });

  it("when the hand-built control token is well formed, then it is accepted (so the refusals below are meaningful)", async () => {
    expect(await codeOf(handSigned({ alg: "HS256", typ: "JWT" }, good()))).toBe("accepted");
    expect(await codeOf(handSigned({ alg: "HS256" }, good()))).toBe("accepted");
  });

  it("when a token has no iat, then it is refused", async () => {
    const noIat = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("user-1")
      .setJti("jti-1")
      .setExpirationTime(T0S + 600)
      .sign(SECRET);
    expect(await codeOf(noIat)).toBe("invalid_token");
  });

  it("when a token says alg none and carries no signature, then it is refused", async () => {
    const unsigned = `${b64({ alg: "none", typ: "JWT" })}.${b64(good())}.`;
    expect(await codeOf(unsigned)).toBe("invalid_token");
    expect(await codeOf(`${b64({ alg: "none" })}.${b64(good())}`)).toBe("invalid_token");
  });

  it("when a token is HS512-signed with the same secret, then it is refused", async () => {
    const hs512 = await new SignJWT({})
      .setProtectedHeader({ alg: "HS512" })
      .setSubject("user-1")
      .setJti("jti-1")
      .setIssuedAt(T0S)
      .setExpirationTime(T0S + 600)
      .sign(SECRET);
    expect(await codeOf(hs512)).toBe("invalid_token");
  });

  it("when a token is RS256-signed, then it is refused", async () => {
    const { privateKey } = await generateKeyPair("RS256");
    const rs256 = await new SignJWT({})
      .setProtectedHeader({ alg: "RS256" })
      .setSubject("user-1")
      .setJti("jti-1")
      .setIssuedAt(T0S)
      .setExpirationTime(T0S + 600)
      .sign(privateKey);
    expect(await codeOf(rs256)).toBe("invalid_token");
  });

  it("when a validly signed token embeds or points to a key (jwk, jku, x5u, x5c, kid), then it is refused", async () => {
    const jwk = { kty: "oct", k: SECRET.toString("base64url") };
    for (const extra of [
      { jwk },
      { jku: "https://evil.example/keys.json" },
      { x5u: "https://evil.example/cert.pem" },
      { x5c: ["MIIB"] },
      { kid: "../../dev/null" },
    ]) {
      expect(await codeOf(handSigned({ alg: "HS256", typ: "JWT", ...extra }, good()))).toBe(
        "invalid_token",
      );
    }
  });

  it("when a validly signed token has a crit header, then it is refused", async () => {
    const withCrit = handSigned({ alg: "HS256", crit: ["exp"] }, good());
    expect(await codeOf(withCrit)).toBe("invalid_token");
    const b64False = handSigned({ alg: "HS256", crit: ["b64"], b64: false }, good());
    expect(await codeOf(b64False)).toBe("invalid_token");
  });

  it("when a genuine token is past its exp, then it is refused with token_expired", async () => {
    const { token } = await tokens.sign({ sub: "user-1" });
    expect(await codeOf(token, {}, T0 + 899_000)).toBe("accepted");
    expect(await codeOf(token, {}, T0 + 906_000)).toBe("token_expired");
  });

  it("when a token's iat is before tokensValidAfter, then it is refused, and one issued at or after it is accepted", async () => {
    const { token } = await tokens.sign({ sub: "user-1" });
    expect(await codeOf(token, { tokensValidAfter: new Date(T0 + 1) })).toBe("invalid_token");
    expect(await codeOf(token, { tokensValidAfter: new Date(T0) })).toBe("accepted");
    expect(await codeOf(token, { tokensValidAfter: new Date(T0 - 60_000) })).toBe("accepted");
  });

  it("when the payload is changed after signing, then the token is refused", async () => {
    const { token } = await tokens.sign({ sub: "user-1", role: "user" });
    const [header, payload, signature] = token.split(".");
    const claims = JSON.parse(Buffer.from(payload!, "base64url").toString("utf8"));
    const tampered = `${header}.${b64({ ...claims, role: "admin" })}.${signature}`;
    expect(await codeOf(tampered)).toBe("invalid_token");
  });

  it("when a token is signed with another secret, then it is refused", async () => {
    const other = createAccessTokens({ secret: randomBytes(32), now: () => T0 });
    const { token } = await other.sign({ sub: "user-1" });
    expect(await codeOf(token)).toBe("invalid_token");
  });

  it("when a validly signed token lacks jti or sub, or has them empty or of the wrong type, then it is refused", async () => {
    const { jti: _jti, ...noJti } = good();
    const { sub: _sub, ...noSub } = good();
    for (const payload of [
      noJti,
      noSub,
      { ...good(), sub: "" },
      { ...good(), jti: "" },
      { ...good(), sub: 42 },
    ]) {
      expect(await codeOf(handSigned({ alg: "HS256" }, payload))).toBe("invalid_token");
    }
  });

  it("when a validly signed token lacks exp, then it is refused", async () => {
    const { exp: _exp, ...noExp } = good();
    expect(await codeOf(handSigned({ alg: "HS256" }, noExp))).toBe("invalid_token");
  });

  it("when a validly signed token was minted to live longer than 15 minutes, then it is refused even while fresh", async () => {
    const longLived = handSigned({ alg: "HS256" }, { ...good(), exp: T0S + 3600 });
    expect(await codeOf(longLived)).toBe("invalid_token");
    expect(await codeOf(handSigned({ alg: "HS256" }, { ...good(), exp: T0S + 900 }))).toBe(
      "accepted",
    );
  });

  it("when a validly signed token's iat is in the future beyond clock skew, then it is refused", async () => {
    const future = handSigned({ alg: "HS256" }, { ...good(), iat: T0S + 60, exp: T0S + 900 });
    expect(await codeOf(future)).toBe("invalid_token");
  });

  it("when the input is not a JWT at all, then it is refused with invalid_token", async () => {
    for (const junk of ["", "abc", "a.b.c", "....", `${b64({ alg: "HS256" })}.%%%.x`]) {
      expect(await codeOf(junk)).toBe("invalid_token");
    }
  });

  it("when an issuer is configured, then a token from another issuer is refused", async () => {
    const warden = createAccessTokens({ secret: SECRET, issuer: "warden", now: () => T0 });
    const { token } = await warden.sign({ sub: "user-1" });
    expect((await warden.verify(token)).iss).toBe("warden");
    const foreign = handSigned({ alg: "HS256" }, { ...good(), iss: "someone-else" });
    await expect(warden.verify(foreign)).rejects.toMatchObject({ code: "invalid_token" });
    await expect(warden.verify(handSigned({ alg: "HS256" }, good()))).rejects.toMatchObject({
      code: "invalid_token",
    });
  });

  it("when the factory is given a short secret or a TTL over 15 minutes, then it refuses to start", () => {
    expect(() => createAccessTokens({ secret: randomBytes(31) })).toThrow(
      "JWT secret must be at least 32 bytes",
    );
    expect(() => createAccessTokens({ secret: SECRET, ttlSeconds: 901 })).toThrow(
      "access token TTL must be 1 to 900 seconds",
    );
  });
});
