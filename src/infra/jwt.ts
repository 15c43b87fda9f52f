// Short-lived access JWTs (S5.2) on jose: one pinned algorithm (HS256), required iat/exp/sub/jti,
// no header beyond alg and typ (so no embedded or referenced keys), and a TTL of at most 15 min.
import { randomUUID } from "node:crypto";
import { decodeProtectedHeader, errors, jwtVerify, SignJWT } from "jose";
import { AccountError } from "../domain/accounts/errors";
import { issuedBeforeCutoff } from "../domain/accounts/tokens";

export const ACCESS_TOKEN_ALGORITHM = "HS256";
export const ACCESS_TOKEN_MAX_TTL_SECONDS = 900;
export const MIN_JWT_SECRET_BYTES = 32;
/** Seconds of clock skew tolerated between processes for exp and a future iat. */
const CLOCK_TOLERANCE_SECONDS = 5;
/** jwk, jku, x5u, x5c, kid, crit, b64 …: none has a use here, and several are known attacks. */
const ALLOWED_HEADER_PARAMS = new Set(["alg", "typ"]);

export interface AccessTokenClaims {
  sub: string;
  jti: string;
  iat: number;
  exp: number;
  iss?: string;
  /** Session / refresh-token family id, so revoking a session can be checked per request. */
  sid?: string;
  role?: string;
}

export interface SignedAccessToken {
  token: string;
  jti: string;
  /** Seconds until expiry (for an OAuth-style `expires_in`). */
  expiresIn: number;
}

export interface VerifyOptions {
  /** The user's tokens_valid_after: a token whose iat is before it is refused. */
  tokensValidAfter?: Date;
}

export interface AccessTokens {
  sign(claims: { sub: string; sid?: string; role?: string }): Promise<SignedAccessToken>;
  /** Throws AccountError `invalid_token`, or `token_expired` for a genuine but expired token. */
  verify(token: string, opts?: VerifyOptions): Promise<AccessTokenClaims>;
}

export interface AccessTokenOptions {
  /** JWT_SECRET bytes, at least 32. */
  secret: Buffer;
  issuer?: string;
  ttlSeconds?: number;
  /** Injectable clock, ms since the epoch. */
  now?: () => number;
}

export function createAccessTokens(opts: AccessTokenOptions): AccessTokens {
  if (opts.secret.length < MIN_JWT_SECRET_BYTES) {
    throw new Error(`JWT secret must be at least ${MIN_JWT_SECRET_BYTES} bytes`);
  }
  const ttl = opts.ttlSeconds ?? ACCESS_TOKEN_MAX_TTL_SECONDS;
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > ACCESS_TOKEN_MAX_TTL_SECONDS) {
    throw new Error(`access token TTL must be 1 to ${ACCESS_TOKEN_MAX_TTL_SECONDS} seconds`);
  }
  // A copy, so a caller zero-filling or reusing its buffer cannot change the key under us.
  const key = new Uint8Array(opts.secret);
  const now = opts.now ?? Date.now;
  const { issuer } = opts;

  return {
    async sign({ sub, sid, role }) {
      if (sub === "") throw new Error("access token subject is empty");
      const iat = Math.floor(now() / 1000);
      const jti = randomUUID();
      const payload: Record<string, string> = {};
      if (sid !== undefined) payload.sid = sid;
      if (role !== undefined) payload.role = role;
      const builder = new SignJWT(payload)
        .setProtectedHeader({ alg: ACCESS_TOKEN_ALGORITHM, typ: "JWT" })
        .setSubject(sub)
        .setJti(jti)
        .setIssuedAt(iat)
        .setExpirationTime(iat + ttl);
      if (issuer !== undefined) builder.setIssuer(issuer);
      return { token: await builder.sign(key), jti, expiresIn: ttl };
    },

    async verify(token, verifyOpts = {}) {
      // Refused before any cryptography: an unexpected header is never worth verifying.
      let header: Record<string, unknown>;
      try {
        header = decodeProtectedHeader(token);
      } catch {
        throw new AccountError("invalid_token");
      }
      if (
        header.alg !== ACCESS_TOKEN_ALGORITHM ||
        Object.keys(header).some((name) => !ALLOWED_HEADER_PARAMS.has(name))
      ) {
        throw new AccountError("invalid_token");
      }

      let payload: Record<string, unknown>;
      try {
        ({ payload } = await jwtVerify(token, key, {
          algorithms: [ACCESS_TOKEN_ALGORITHM],
          requiredClaims: ["iat", "exp", "sub", "jti"],
          // Also makes jose refuse an iat from the future.
          maxTokenAge: ACCESS_TOKEN_MAX_TTL_SECONDS,
          clockTolerance: CLOCK_TOLERANCE_SECONDS,
          currentDate: new Date(now()),
          ...(issuer === undefined ? {} : { issuer }),
        }));
      } catch (err) {
        // jose checks the signature before the claims, so JWTExpired means a genuine token.
        if (err instanceof errors.JWTExpired) throw new AccountError("token_expired");
        throw new AccountError("invalid_token");
      }

      const { sub, jti, iat, exp, iss, sid, role } = payload;
      if (
        typeof sub !== "string" ||
        sub === "" ||
        typeof jti !== "string" ||
        jti === "" ||
        typeof iat !== "number" ||
        typeof exp !== "number" ||
        // A token minted with a longer life (by a bug or a leaked secret) is not honoured.
        exp - iat > ACCESS_TOKEN_MAX_TTL_SECONDS ||
        (sid !== undefined && typeof sid !== "string") ||
        (role !== undefined && typeof role !== "string")
      ) {
        throw new AccountError("invalid_token");
      }
      const validAfter = verifyOpts.tokensValidAfter;
      if (validAfter !== undefined && issuedBeforeCutoff(iat, validAfter)) {
        throw new AccountError("invalid_token");
      }
      const claims: AccessTokenClaims = { sub, jti, iat, exp };
      if (typeof iss === "string") claims.iss = iss;
      if (sid !== undefined) claims.sid = sid;
      if (role !== undefined) claims.role = role;
      return claims;
    },
  };
}
