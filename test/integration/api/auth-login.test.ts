// Acceptance tests of sign-in over HTTP against the running service (S3, S5.2): the tokens and
// the refresh cookie, identical answers for unknown users and wrong passwords, per-account
// lockout with doubling backoff, the per-IP limit, the client IP and trusted proxies, and the
// access-JWT rules (pinned algorithm, required claims, TTL cap).
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { decodeJwt, decodeProtectedHeader, SignJWT, UnsecuredJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../../src/infra/logger";
import { createScrubber } from "../../../src/infra/scrub";
import { type RunningWarden, startWarden } from "../../../src/main";
import { captureLogs } from "../../support/log-capture";
import { startTestWarden, type TestWarden } from "../../support/warden-harness";
import {
  AuthClient,
  createSecrets,
  err,
  expectedRefreshCookie,
  expectNoLeaksAndNoStore,
  freshIp,
  leaksIn,
  newPassword,
  sha256Hex,
  sql,
  TRUSTED_LOOPBACK,
  uniqueEmail,
} from "./auth-support";

let w: TestWarden;
let c: AuthClient;

beforeAll(async () => {
  w = await startTestWarden({ env: TRUSTED_LOOPBACK });
  c = new AuthClient(w, createSecrets());
});
afterAll(async () => {
  await w?.stop();
});

const caller = () => c.as(freshIp());

function retryAfter(res: { headers: Headers }): number {
  const v = res.headers.get("retry-after");
  expect(v).toMatch(/^\d+$/);
  return Number(v);
}

describe("Sign-in (S3.1, S5.3)", () => {
  it("when the credentials are right, then 200 gives a 15-minute access JWT and exactly the HttpOnly/Secure/SameSite=Strict refresh cookie", async () => {
    const u = caller();
    const { id, email, password } = await u.register();
    const res = await u.post("/login", { email: email.toUpperCase(), password });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ accessToken: expect.any(String), expiresIn: 900 });
    expect(res.setCookies).toHaveLength(1);
    const refresh = res.refresh as string;
    expect(res.setCookies[0]).toBe(expectedRefreshCookie(refresh));
    expect(res.setCookies[0]!.toLowerCase()).not.toContain("domain=");
    // Opaque and at least 128 bits: not a JWT, ≥ 22 base64url characters.
    expect(refresh).toMatch(/^[A-Za-z0-9_-]{22,}$/);
    expect(refresh.split(".")).toHaveLength(1);
    // The refresh token is never in the body.
    expect(JSON.stringify(res.body)).not.toContain(refresh);

    const token = res.body.accessToken as string;
    expect(decodeProtectedHeader(token)).toEqual({ alg: "HS256", typ: "JWT" });
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({
      sub: id,
      jti: expect.any(String),
      iat: expect.any(Number),
      exp: expect.any(Number),
    });
    expect((claims.exp as number) - (claims.iat as number)).toBeLessThanOrEqual(900);
    expect((await u.sessions(token)).status).toBe(200);
  });

  it("when the email is unknown or the password wrong, then both get the same 401 status and body and no cookie", async () => {
    const u = caller();
    const { email } = await u.register();
    const wrong = await u.post("/login", { email, password: newPassword() });
    const unknown = await u.post("/login", {
      email: uniqueEmail("ghost"),
      password: newPassword(),
    });
    const malformed = await u.post("/login", { email: "no-at-sign", password: newPassword() });
    for (const res of [wrong, unknown, malformed]) {
      expect(res.status).toBe(401);
      expect(res.body).toEqual({
        error: "invalid_credentials",
        message: "Wrong email or password.",
      });
      expect(res.setCookies).toEqual([]);
    }
  });

  it("when the body is not JSON or the route does not exist, then the error is JSON and still not cacheable", async () => {
    const u = caller();
    const bad = await u.request("POST", "/login", undefined, { raw: "{not json" });
    expect(bad.status).toBe(400);
    expect(bad.body).toEqual({
      error: "invalid_json",
      message: "The request body is not valid JSON.",
    });
    expect(bad.headers.get("cache-control")).toBe("no-store");
    const missing = await u.get("/no-such-route");
    expect(missing.status).toBe(404);
    expect(missing.headers.get("cache-control")).toBe("no-store");
  });

  it("when a sign-in fails, then a security event records the failure with the IP and without the password", async () => {
    const u = caller();
    const { id, email } = await u.register();
    const password = newPassword();
    c.secrets.strings.add(password);
    await u.post("/login", { email, password });
    const rows = await sql<{ kind: string; outcome: string; ip: string; details: unknown }>(
      w,
      "select kind, outcome, host(ip) as ip, details from security_events where user_id = $1 and kind = 'login'",
      [id],
    );
    expect(rows).toEqual([
      { kind: "login", outcome: "failed", ip: u.ip, details: { locked: false } },
    ]);
  });
});

describe("Lockout (S3.2)", () => {
  async function failFiveTimes(u: ReturnType<typeof caller>, email: string) {
    for (let i = 0; i < 5; i++) {
      const res = await u.post("/login", { email, password: newPassword() });
      expect(res.status, `failure ${i + 1}`).toBe(401);
      expect(res.body).toEqual(err("invalid_credentials"));
    }
  }

  it("when one email fails 5 times, then the next attempt, even with the right password, gets 429 with Retry-After ≈ 60 s; an unknown email gets the same", async () => {
    const u = caller();
    const { id, email, password } = await u.register();
    await failFiveTimes(u, email);
    const locked = await u.post("/login", { email, password });
    expect(locked.status).toBe(429);
    expect(locked.body).toEqual(err("rate_limited"));
    expect(locked.setCookies).toEqual([]);
    const wait = retryAfter(locked);
    expect(wait).toBeGreaterThanOrEqual(50);
    expect(wait).toBeLessThanOrEqual(60);

    const ghost = uniqueEmail("ghost");
    const v = caller();
    await failFiveTimes(v, ghost);
    const ghostLocked = await v.post("/login", { email: ghost, password: newPassword() });
    expect(ghostLocked.status).toBe(locked.status);
    expect(ghostLocked.body).toEqual(locked.body);
    expect(Math.abs(retryAfter(ghostLocked) - wait)).toBeLessThanOrEqual(10);

    const events = await sql<{ outcome: string }>(
      w,
      "select outcome from security_events where user_id = $1 and kind = 'lockout'",
      [id],
    );
    expect(events).toEqual([{ outcome: "detected" }]);
  });

  it("when a lockout has run out and the next attempt fails again, then the lockout doubles to ≈ 120 s", async () => {
    const u = caller();
    const { email, password } = await u.register();
    await failFiveTimes(u, email);
    expect((await u.post("/login", { email, password })).status).toBe(429);

    // Let the first lockout run out without waiting a minute: drop its Redis key.
    const redis = new Redis(w.redis.url);
    try {
      const key = `${w.redis.prefix}lock:login:${sha256Hex(email).slice(0, 32)}:locked`;
      expect(await redis.pttl(key)).toBeGreaterThan(0);
      await redis.del(key);
    } finally {
      redis.disconnect();
    }
    const sixth = await u.post("/login", { email, password: newPassword() });
    expect(sixth.status).toBe(401);
    const locked = await u.post("/login", { email, password });
    expect(locked.status).toBe(429);
    const wait = retryAfter(locked);
    expect(wait).toBeGreaterThan(100);
    expect(wait).toBeLessThanOrEqual(120);
  });

  it("when a sign-in succeeds before the fifth failure, then the failure count starts again", async () => {
    const u = caller();
    const { email, password } = await u.register();
    for (let i = 0; i < 4; i++)
      expect((await u.post("/login", { email, password: newPassword() })).status).toBe(401);
    expect((await u.post("/login", { email, password })).status).toBe(200);
    for (let i = 0; i < 4; i++)
      expect((await u.post("/login", { email, password: newPassword() })).status).toBe(401);
    expect((await u.post("/login", { email, password })).status).toBe(200);
  });

  it("when one IP makes 30 sign-in attempts in 10 minutes, then the 31st gets 429 with Retry-After ≤ 600 s while other IPs still sign in", async () => {
    const u = caller();
    const { email, password } = await u.register();
    for (let i = 0; i < 30; i++) {
      const res = await u.post("/login", { email, password });
      expect(res.status, `attempt ${i + 1}`).toBe(200);
    }
    const limited = await u.post("/login", { email, password });
    expect(limited.status).toBe(429);
    expect(limited.body).toEqual(err("rate_limited"));
    const wait = retryAfter(limited);
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(600);
    expect((await caller().post("/login", { email, password })).status).toBe(200);
  });
});

describe("Limits across processes (S3.2)", () => {
  let second: RunningWarden | undefined;
  afterAll(async () => {
    await second?.shutdown.run("test finished");
  });

  it("when an account is locked out through one API process, then a second process sharing Redis refuses it too", async () => {
    const logs = captureLogs();
    second = await startWarden({
      env: { ...w.env, PORT: "0" },
      roles: ["api"],
      logger: createLogger({
        level: "info",
        pretty: false,
        scrubber: createScrubber(),
        destination: logs.stream,
      }),
    });
    const other = new AuthClient({ ...w, base: `http://127.0.0.1:${second.port}` }, c.secrets);
    const u = caller();
    const { email, password } = await u.register();
    for (let i = 0; i < 5; i++)
      expect((await u.post("/login", { email, password: newPassword() })).status).toBe(401);
    const there = await other.as(u.ip).post("/login", { email, password });
    expect(there.status).toBe(429);
    expect(there.body).toEqual(err("rate_limited"));
    expect(leaksIn(logs.text(), c.secrets)).toEqual([]);
    c.responses.push(...other.responses);
  });
});

describe("Client IP (S3.3)", () => {
  it("when X-Forwarded-For comes through a configured trusted proxy, then it is the session's IP", async () => {
    const u = caller();
    const s = await u.signedUp();
    const list = await u.sessions(s.accessToken);
    expect(list.body.sessions).toEqual([
      expect.objectContaining({ ip: u.ip, userAgent: "warden-acceptance-test", current: true }),
    ]);
  });

  describe("without trusted proxies (the default)", () => {
    let wd: TestWarden;
    let cd: AuthClient;
    beforeAll(async () => {
      wd = await startTestWarden();
      cd = new AuthClient(wd, createSecrets());
    });
    afterAll(async () => {
      await wd?.stop();
    });

    it("when a client sends X-Forwarded-For, then it is ignored: the session IP is the socket's and a new header per request does not escape the per-IP limit", async () => {
      const first = cd.as("203.0.113.7");
      const s = await first.signedUp();
      const list = await first.sessions(s.accessToken);
      expect(["127.0.0.1", "::ffff:127.0.0.1"]).toContain(list.body.sessions[0]!.ip);

      // One sign-in already counted; 29 more with a different forged address each.
      for (let i = 0; i < 29; i++) {
        const res = await cd.as(`203.0.113.${i + 10}`).post("/login", {
          email: s.email,
          password: s.password,
        });
        expect(res.status, `attempt ${i + 2}`).toBe(200);
      }
      const limited = await cd.as("192.0.2.99").post("/login", {
        email: s.email,
        password: s.password,
      });
      expect(limited.status).toBe(429);
      expect(limited.body).toEqual(err("rate_limited"));
    });
  });
});

describe("Access JWTs (S5.2)", () => {
  let userId: string;
  let sessionId: string;
  let key: Uint8Array;
  const u = () => c.as("198.51.113.1");

  beforeAll(async () => {
    const s = await u().signedUp("jwt");
    userId = s.id;
    const list = await u().sessions(s.accessToken);
    sessionId = list.body.sessions[0]!.id;
    key = new TextEncoder().encode(w.env.JWT_SECRET as string);
  });

  const now = () => Math.floor(Date.now() / 1000);
  const claims = () => ({
    sub: userId,
    sid: sessionId,
    role: "user",
    jti: randomBytes(8).toString("hex"),
  });
  async function forged(
    payload: Record<string, unknown>,
    header: Record<string, unknown> = { alg: "HS256", typ: "JWT" },
    secret: Uint8Array = key,
  ) {
    return new SignJWT(payload).setProtectedHeader(header as { alg: string }).sign(secret);
  }
  async function expectRefused(
    token: string,
    code: "invalid_token" | "token_expired" = "invalid_token",
  ) {
    c.secrets.strings.add(token);
    const res = await u().sessions(token);
    expect(res.status).toBe(401);
    expect(res.body).toEqual(err(code));
  }

  it("when a token has every required claim and is HS256-signed with the secret, then it is accepted (the forging below is sound)", async () => {
    const token = await forged({ ...claims(), iat: now(), exp: now() + 600 });
    c.secrets.strings.add(token);
    expect((await u().sessions(token)).status).toBe(200);
  });

  it("when a token has no iat, then 401 invalid_token", async () => {
    await expectRefused(await forged({ ...claims(), exp: now() + 600 }));
  });

  it("when a token lacks exp, sub or jti, then 401 invalid_token", async () => {
    const { jti: _jti, ...noJti } = claims();
    const { sub: _sub, ...noSub } = claims();
    await expectRefused(await forged({ ...claims(), iat: now() }));
    await expectRefused(await forged({ ...noSub, iat: now(), exp: now() + 600 }));
    await expectRefused(await forged({ ...noJti, iat: now(), exp: now() + 600 }));
  });

  it("when a token says alg none, then 401 invalid_token", async () => {
    const token = new UnsecuredJWT({ ...claims(), iat: now(), exp: now() + 600 }).encode();
    await expectRefused(token);
    // Also with a signature part glued on.
    await expectRefused(`${token}${token.split(".")[1]!.slice(0, 10)}`);
  });

  it("when a token is HS512-signed with the right secret, then 401 invalid_token", async () => {
    await expectRefused(
      await forged({ ...claims(), iat: now(), exp: now() + 600 }, { alg: "HS512", typ: "JWT" }),
    );
  });

  it("when a token's header embeds or points at a key, then 401 invalid_token", async () => {
    const body = { ...claims(), iat: now(), exp: now() + 600 };
    await expectRefused(
      await forged(body, {
        alg: "HS256",
        typ: "JWT",
        jwk: { kty: "oct", k: Buffer.from(key).toString("base64url") },
      }),
    );
    await expectRefused(await forged(body, { alg: "HS256", typ: "JWT", kid: "../../dev/null" }));
    await expectRefused(
      await forged(body, { alg: "HS256", typ: "JWT", jku: "https://evil.example/jwks.json" }),
    );
  });

  it("when a token is signed with another secret, then 401 invalid_token", async () => {
    await expectRefused(
      await forged({ ...claims(), iat: now(), exp: now() + 600 }, undefined, randomBytes(32)),
    );
  });

  it("when a token lives longer than 15 minutes, then 401 invalid_token", async () => {
    await expectRefused(await forged({ ...claims(), iat: now(), exp: now() + 3_600 }));
  });

  it("when a genuine token has expired, then 401 token_expired", async () => {
    await expectRefused(
      await forged({ ...claims(), iat: now() - 1_000, exp: now() - 200 }),
      "token_expired",
    );
  });

  it("when the Authorization header is missing or not a bearer token, then 401 invalid_token", async () => {
    const variants: Array<Record<string, string>> = [
      {},
      { Authorization: "Basic dXNlcjpwYXNz" },
      { Authorization: "Bearer" },
    ];
    for (const headers of variants) {
      const res = await u().get("/sessions", { headers });
      expect(res.status).toBe(401);
      expect(res.body).toEqual(err("invalid_token"));
    }
  });

  it("when a token was issued before the user's tokens_valid_after, then 401 invalid_token", async () => {
    const token = await forged({ ...claims(), iat: now() - 60, exp: now() + 600 });
    c.secrets.strings.add(token);
    expect((await u().sessions(token)).status).toBe(200);
    await sql(
      w,
      "update users set tokens_valid_after = now() - interval '10 seconds' where id = $1",
      [userId],
    );
    await expectRefused(token);
  });
});

describe("Closing checks", () => {
  it("when all flows above ran, then no password or token is in the log, PostgreSQL or Redis, and every response had Cache-Control: no-store", async () => {
    await expectNoLeaksAndNoStore(w, c);
  });
});
