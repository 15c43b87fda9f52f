// Acceptance tests of password reset over HTTP and real SMTP against the running service (S5.1):
// the same answer for known and unknown emails, the link built from PUBLIC_URL only, tokens
// kept as hashes with a TTL, single use under concurrency, voided by a newer request or a
// password change, never signing in nor skipping 2FA, and the request limits.
import { request as httpRequest } from "node:http";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ReceivedMail } from "../../support/smtp/server";
import { startTestWarden, type TestWarden } from "../../support/warden-harness";
import {
  AuthClient,
  breachedErr,
  type Caller,
  createSecrets,
  err,
  expectNoLeaksAndNoStore,
  freshIp,
  newPassword,
  roomInStep,
  sha256Hex,
  sleep,
  sql,
  TRUSTED_LOOPBACK,
  totpAt,
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
const ACCEPTED = { message: "If an account uses this email, a reset link is on its way." };
const DONE = { message: "Password changed. Sign in with your new password." };

const isReset = (m: ReceivedMail, email: string) =>
  m.to.includes(email) && m.text.includes("/reset-password#token=");

/** Waits for the `n`th reset mail to `email` (1-based) and returns it with its token. */
async function resetMail(email: string, n = 1): Promise<{ mail: ReceivedMail; token: string }> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const mails = w.smtp.messages.filter((m) => isReset(m, email));
    if (mails.length >= n) {
      const mail = mails[n - 1]!;
      const escaped = w.origin.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
      const m = new RegExp(`${escaped}/reset-password#token=([^\\s"<>]+)`).exec(mail.text);
      expect(m, mail.text).not.toBeNull();
      const token = decodeURIComponent(m![1]!);
      c.secrets.strings.add(token);
      return { mail, token };
    }
    if (Date.now() > deadline) throw new Error(`reset mail #${n} to ${email} did not arrive`);
    await sleep(25);
  }
}

async function requestReset(u: Caller, email: string) {
  const res = await u.post("/password/reset/request", { email });
  expect(res.status).toBe(202);
  expect(res.body).toEqual(ACCEPTED);
  return res;
}

function confirm(u: Caller, token: string, password: string) {
  c.secrets.strings.add(password);
  return u.post("/password/reset/confirm", { token, password });
}

describe("Reset request (S5.1)", () => {
  it("when a reset is asked for a known and an unknown email, then both get the same 202 and body; only the known one gets a mail, linking to PUBLIC_URL", async () => {
    const u = caller();
    const { email } = await u.register();
    const ghost = uniqueEmail("ghost");
    const a = await u.post("/password/reset/request", { email: ghost });
    const b = await u.post("/password/reset/request", { email });
    const malformed = await u.post("/password/reset/request", { email: "not-an-email" });
    for (const res of [a, b, malformed]) {
      expect(res.status).toBe(202);
      expect(res.body).toEqual(ACCEPTED);
      expect(res.setCookies).toEqual([]);
    }
    expect(a.headers.get("content-type")).toBe(b.headers.get("content-type"));

    const { mail, token } = await resetMail(email);
    expect(mail.to).toEqual([email]);
    expect(mail.text).toContain(`${w.origin}/reset-password#token=${encodeURIComponent(token)}`);
    await sleep(300);
    expect(w.smtp.messages.filter((m) => m.to.includes(ghost))).toEqual([]);
  });

  it("when the request carries a forged Host and X-Forwarded-Host, then the mailed link is still built from PUBLIC_URL", async () => {
    const u = caller();
    const { email } = await u.register();
    const port = new URL(w.base).port;
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        {
          host: "127.0.0.1",
          port,
          method: "POST",
          path: "/api/auth/password/reset/request",
          headers: {
            Host: "evil.example",
            "X-Forwarded-Host": "evil.example",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-For": u.ip,
            "Content-Type": "application/json",
          },
        },
        (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        },
      );
      req.on("error", reject);
      req.end(JSON.stringify({ email }));
    });
    expect(status).toBe(202);
    const { mail, token } = await resetMail(email);
    expect(mail.text).toContain(`${w.origin}/reset-password#token=${encodeURIComponent(token)}`);
    expect(mail.raw).not.toContain("evil.example");
  });

  it("when a reset token is issued, then it has ≥ 128 bits and Redis keeps only its SHA-256, expiring within 30 minutes", async () => {
    const u = caller();
    const { email } = await u.register();
    await requestReset(u, email);
    const { token } = await resetMail(email);
    expect(token).toMatch(/^[A-Za-z0-9_-]{22,}$/);
    const redis = new Redis(w.redis.url);
    try {
      const ttl = await redis.ttl(`${w.redis.prefix}ott:reset:t:${sha256Hex(token)}`);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(30 * 60);
    } finally {
      redis.disconnect();
    }
  });

  it("when one email asks 3 times in an hour, then the 4th gets 429 with Retry-After, the same for an unknown email", async () => {
    for (const known of [true, false]) {
      const email = known ? (await caller().register()).email : uniqueEmail("ghost");
      for (let i = 0; i < 3; i++) await requestReset(caller(), email);
      const res = await caller().post("/password/reset/request", { email });
      expect(res.status, `known=${known}`).toBe(429);
      expect(res.body).toEqual(err("rate_limited"));
      const wait = Number(res.headers.get("retry-after"));
      expect(wait).toBeGreaterThan(3_000);
      expect(wait).toBeLessThanOrEqual(3_600);
    }
  });

  it("when one IP asks 10 times in an hour, then the 11th gets 429", async () => {
    const u = caller();
    for (let i = 0; i < 10; i++) await requestReset(u, uniqueEmail(`ip${i}`));
    const res = await u.post("/password/reset/request", { email: uniqueEmail("ip10") });
    expect(res.status).toBe(429);
    expect(res.body).toEqual(err("rate_limited"));
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
  });
});

describe("Reset confirmation (S5.1)", () => {
  it("when a reset is confirmed, then 200 with a message only: no token, no cookie; every session is revoked and the new password is the one that works", async () => {
    const u = caller();
    const s = await u.signedUp("reset");
    await requestReset(u, s.email);
    const { token } = await resetMail(s.email);
    const next = newPassword();
    const res = await confirm(u, token, next);
    expect(res.status).toBe(200);
    expect(res.body).toEqual(DONE);
    expect(res.setCookies).toEqual([]);
    expect(res.headers.get("authorization")).toBeNull();

    const access = await u.sessions(s.accessToken);
    expect(access.status).toBe(401);
    expect(access.body).toEqual(err("invalid_token"));
    expect((await u.refresh(s.refresh)).status).toBe(401);
    expect((await u.post("/login", { email: s.email, password: s.password })).status).toBe(401);
    expect((await u.post("/login", { email: s.email, password: next })).status).toBe(200);

    const again = await confirm(u, token, newPassword());
    expect(again.status).toBe(400);
    expect(again.body).toEqual(err("invalid_reset_token"));
  });

  it("when two confirmations with one token race, then exactly one gets 200 and the other 400 invalid_reset_token", async () => {
    const u = caller();
    const { email } = await u.register();
    await requestReset(u, email);
    const { token } = await resetMail(email);
    const p1 = newPassword();
    const p2 = newPassword();
    const results = await Promise.all([confirm(u, token, p1), confirm(u, token, p2)]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 400]);
    expect(results.find((r) => r.status === 400)!.body).toEqual(err("invalid_reset_token"));
    const winner = results[0]!.status === 200 ? p1 : p2;
    const loser = winner === p1 ? p2 : p1;
    expect((await u.post("/login", { email, password: winner })).status).toBe(200);
    expect((await u.post("/login", { email, password: loser })).status).toBe(401);
  });

  it("when a second reset is requested, then the first link stops working and the second works", async () => {
    const u = caller();
    const { email } = await u.register();
    await requestReset(u, email);
    const first = (await resetMail(email, 1)).token;
    await requestReset(u, email);
    const second = (await resetMail(email, 2)).token;
    expect(second).not.toBe(first);
    const old = await confirm(u, first, newPassword());
    expect(old.status).toBe(400);
    expect(old.body).toEqual(err("invalid_reset_token"));
    expect((await confirm(u, second, newPassword())).status).toBe(200);
  });

  it("when the password is changed while a reset link is outstanding, then the link stops working", async () => {
    const u = caller();
    const s = await u.signedUp("reset-change");
    await requestReset(u, s.email);
    const { token } = await resetMail(s.email);
    const next = newPassword();
    c.secrets.strings.add(next);
    const change = await u.post(
      "/password/change",
      { currentPassword: s.password, newPassword: next },
      { token: s.accessToken },
    );
    expect(change.status).toBe(200);
    const res = await confirm(u, token, newPassword());
    expect(res.status).toBe(400);
    expect(res.body).toEqual(err("invalid_reset_token"));
    expect((await u.post("/login", { email: s.email, password: next })).status).toBe(200);
  });

  it("when the new password is breached or too short, then 400 and the old password still works", async () => {
    const u = caller();
    const { email, password } = await u.register();
    await requestReset(u, email);
    const { token } = await resetMail(email);
    const short = await confirm(u, token, "short");
    expect(short.status).toBe(400);
    expect(short.body).toEqual(err("password_too_short"));
    const breached = await u.post("/password/reset/confirm", { token, password: "password123" });
    expect(breached.status).toBe(400);
    expect(breached.body).toEqual(breachedErr(1000));
    expect((await u.post("/login", { email, password })).status).toBe(200);
  });

  it("when the token is unknown or malformed, then 400 invalid_reset_token", async () => {
    const u = caller();
    for (const token of ["A".repeat(43), "short", ""]) {
      const res = await confirm(u, token, newPassword());
      expect(res.status, JSON.stringify(token)).toBe(400);
      expect(res.body).toEqual(err("invalid_reset_token"));
    }
  });

  it("when a 2FA user resets the password, then sign-in with the new password still asks for the code", async () => {
    const u = caller();
    const s = await u.signedUp("reset-2fa");
    const secret = (await u.post("/2fa/enroll", undefined, { token: s.accessToken })).body
      .secret as string;
    const step = await roomInStep(3_000);
    const totp = totpAt(secret, step);
    c.secrets.codes.add(totp);
    expect((await u.post("/2fa/confirm", { code: totp }, { token: s.accessToken })).status).toBe(
      200,
    );

    await requestReset(u, s.email);
    const { token } = await resetMail(s.email);
    const next = newPassword();
    expect((await confirm(u, token, next)).status).toBe(200);
    const login = await u.post("/login", { email: s.email, password: next });
    expect(login.status).toBe(200);
    expect(login.body).toEqual({ challenge: expect.any(String) });
    expect(login.setCookies).toEqual([]);
    const rows = await sql<{ totp_enabled_at: Date | null }>(
      w,
      "select totp_enabled_at from users where id = $1",
      [s.id],
    );
    expect(rows[0]!.totp_enabled_at).not.toBeNull();
  });
});

describe("Closing checks", () => {
  it("when all flows above ran, then no password or reset token is in the log, PostgreSQL or Redis, and every response had Cache-Control: no-store", async () => {
    await expectNoLeaksAndNoStore(w, c);
  });
});
