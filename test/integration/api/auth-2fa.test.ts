// Acceptance tests of two-factor sign-in over HTTP against the running service (S4): TOTP
// enrolment that activates only after a valid code, sign-in through a challenge, replay refusal
// by step, single-use backup codes under concurrency, regeneration, lockout, step-up and disable.
// TOTP codes come from an RFC 6238 helper independent of the implementation.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestWarden, type TestWarden } from "../../support/warden-harness";
import {
  AuthClient,
  type Caller,
  createSecrets,
  err,
  expectedRefreshCookie,
  expectNoLeaksAndNoStore,
  freshIp,
  newPassword,
  roomInStep,
  sql,
  TRUSTED_LOOPBACK,
  totpAt,
  wrongCode,
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

/** The TOTP code of `step`, remembered for the no-leak checks. */
function code(secret: string, step: number): string {
  const value = totpAt(secret, step);
  c.secrets.codes.add(value);
  return value;
}

/**
 * A signed-in user with 2FA enrolled and confirmed. The confirmation used the code of
 * `step - 1`, so `step` and `step + 1` are still fresh; the current step has ≥ 4 s left.
 */
async function enrolled(u: Caller, tag = "tfa") {
  const s = await u.signedUp(tag);
  const enrol = await u.post("/2fa/enroll", undefined, { token: s.accessToken });
  expect(enrol.status, JSON.stringify(enrol.body)).toBe(200);
  const secret = enrol.body.secret as string;
  const step = await roomInStep(4_000);
  const confirm = await u.post(
    "/2fa/confirm",
    { code: code(secret, step - 1) },
    { token: s.accessToken },
  );
  expect(confirm.status, JSON.stringify(confirm.body)).toBe(200);
  return { ...s, secret, step, backupCodes: confirm.body.backupCodes as string[] };
}

async function challengeOf(u: Caller, email: string, password: string): Promise<string> {
  const res = await u.post("/login", { email, password });
  expect(res.status).toBe(200);
  expect(res.body).toEqual({ challenge: expect.any(String) });
  expect(res.setCookies).toEqual([]);
  return res.body.challenge as string;
}

describe("Enrolment (S4.1)", () => {
  it("when a freshly signed-in user enrols, then 200 gives a 160-bit base32 secret, its otpauth URI and a PNG QR code, stored encrypted", async () => {
    const u = caller();
    const s = await u.signedUp("enrol");
    const res = await u.post("/2fa/enroll", undefined, { token: s.accessToken });
    expect(res.status).toBe(200);
    const { secret, otpauthUri, qrCode } = res.body as Record<string, string>;
    expect(Object.keys(res.body).sort()).toEqual(["otpauthUri", "qrCode", "secret"]);
    expect(secret).toMatch(/^[A-Z2-7]{32}$/); // 32 × 5 bits = 160 bits
    expect(otpauthUri).toBe(
      `otpauth://totp/Warden:${encodeURIComponent(s.email)}?secret=${secret}&issuer=Warden&algorithm=SHA1&digits=6&period=30`,
    );
    expect(qrCode).toMatch(/^data:image\/png;base64,[A-Za-z0-9+/]+=*$/);
    const png = Buffer.from(qrCode!.slice("data:image/png;base64,".length), "base64");
    expect(png.subarray(0, 8).toString("hex")).toBe("89504e470d0a1a0a");

    const rows = await sql<{ totp_secret: string; totp_enabled_at: Date | null }>(
      w,
      "select totp_secret, totp_enabled_at from users where id = $1",
      [s.id],
    );
    expect(rows[0]!.totp_secret.startsWith("gAAAAA")).toBe(true);
    expect(rows[0]!.totp_secret).not.toContain(secret);
    expect(rows[0]!.totp_enabled_at).toBeNull();
  });

  it("when enrolment is not confirmed, then 2FA is not active: sign-in gives tokens directly", async () => {
    const u = caller();
    const s = await u.signedUp("pending");
    expect((await u.post("/2fa/enroll", undefined, { token: s.accessToken })).status).toBe(200);
    const res = await u.post("/login", { email: s.email, password: s.password });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ accessToken: expect.any(String), expiresIn: 900 });
  });

  it("when the confirmation code is wrong, then 401 invalid_totp and 2FA stays off; the right code then gives 10 distinct backup codes, stored as bcrypt hashes", async () => {
    const u = caller();
    const s = await u.signedUp("confirm");
    const secret = (await u.post("/2fa/enroll", undefined, { token: s.accessToken })).body
      .secret as string;
    const step = await roomInStep(4_000);
    const wrong = await u.post(
      "/2fa/confirm",
      { code: wrongCode(secret, step) },
      { token: s.accessToken },
    );
    expect(wrong.status).toBe(401);
    expect(wrong.body).toEqual(err("invalid_totp"));
    expect((await u.post("/login", { email: s.email, password: s.password })).body).toHaveProperty(
      "accessToken",
    );

    const ok = await u.post("/2fa/confirm", { code: code(secret, step) }, { token: s.accessToken });
    expect(ok.status).toBe(200);
    expect(Object.keys(ok.body)).toEqual(["backupCodes"]);
    const codes = ok.body.backupCodes as string[];
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    for (const backup of codes) expect(backup).toMatch(/^[0-9a-z]{5}-[0-9a-z]{5}$/);

    const rows = await sql<{ hash: string }>(
      w,
      "select hash from backup_codes where user_id = $1 order by idx",
      [s.id],
    );
    expect(rows).toHaveLength(10);
    for (const r of rows) expect(r.hash).toMatch(/^\$2b\$\d\d\$/);
  });

  it("when the session's step-up is older than 5 minutes, then enrolment is refused with 401 reauth_required until a step-up with the password (S4.5)", async () => {
    const u = caller();
    const s = await u.signedUp("stale");
    await sql(
      w,
      "update sessions set step_up_at = now() - interval '6 minutes' where user_id = $1",
      [s.id],
    );
    const stale = await u.post("/2fa/enroll", undefined, { token: s.accessToken });
    expect(stale.status).toBe(401);
    expect(stale.body).toEqual(err("reauth_required"));

    const wrong = await u.post("/step-up", { password: newPassword() }, { token: s.accessToken });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toEqual({ error: "invalid_credentials", message: "Wrong password." });
    expect((await u.post("/2fa/enroll", undefined, { token: s.accessToken })).status).toBe(401);

    const up = await u.post("/step-up", { password: s.password }, { token: s.accessToken });
    expect(up.status).toBe(200);
    expect(up.body).toEqual({ ok: true });
    expect((await u.post("/2fa/enroll", undefined, { token: s.accessToken })).status).toBe(200);
  });
});

describe("Sign-in with 2FA (S4.1, S4.2)", () => {
  it("when 2FA is on, then the password step gives only a challenge, and the challenge with a TOTP code gives the tokens and the cookie", async () => {
    const u = caller();
    const s = await enrolled(u, "flow");
    const challenge = await challengeOf(u, s.email, s.password);
    const res = await u.post("/login/2fa", { challenge, code: code(s.secret, s.step) });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ accessToken: expect.any(String), expiresIn: 900 });
    expect(res.setCookies).toEqual([expectedRefreshCookie(res.refresh as string)]);
    const list = await u.sessions(res.body.accessToken);
    expect(list.status).toBe(200);
    const current = list.body.sessions.find((x: { current: boolean }) => x.current);
    const rows = await sql<{ two_factor_at: Date | null }>(
      w,
      "select two_factor_at from sessions where id = $1",
      [current!.id],
    );
    expect(rows[0]!.two_factor_at).not.toBeNull();
    expect((await u.refresh(res.refresh)).status).toBe(200);
  });

  it("when an accepted TOTP code is used again in the same step, then 401 totp_replayed; a code of an earlier step too", async () => {
    const u = caller();
    const s = await enrolled(u, "replay");
    const used = code(s.secret, s.step);
    const first = await u.post("/login/2fa", {
      challenge: await challengeOf(u, s.email, s.password),
      code: used,
    });
    expect(first.status).toBe(200);

    const challenge = await challengeOf(u, s.email, s.password);
    const again = await u.post("/login/2fa", { challenge, code: used });
    expect(again.status).toBe(401);
    expect(again.body).toEqual(err("totp_replayed"));
    const older = await u.post("/login/2fa", { challenge, code: code(s.secret, s.step - 1) });
    expect(older.status).toBe(401);
    expect(older.body).toEqual(err("totp_replayed"));
    // The next step's code is still fresh.
    expect(
      (await u.post("/login/2fa", { challenge, code: code(s.secret, s.step + 1) })).status,
    ).toBe(200);
  });

  it("when two sign-ins race with the same TOTP code, then exactly one succeeds", async () => {
    const u = caller();
    const s = await enrolled(u, "totp-race");
    const [a, b] = [
      await challengeOf(u, s.email, s.password),
      await challengeOf(u, s.email, s.password),
    ];
    const value = code(s.secret, s.step);
    const results = await Promise.all([
      u.post("/login/2fa", { challenge: a, code: value }),
      u.post("/login/2fa", { challenge: b, code: value }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 401]);
    expect(results.find((r) => r.status === 401)!.body).toEqual(err("totp_replayed"));
  });

  it("when the code is wrong or two steps away, then 401 invalid_totp and no cookie", async () => {
    const u = caller();
    const s = await enrolled(u, "wrong");
    const challenge = await challengeOf(u, s.email, s.password);
    const res = await u.post("/login/2fa", { challenge, code: wrongCode(s.secret, s.step) });
    expect(res.status).toBe(401);
    expect(res.body).toEqual(err("invalid_totp"));
    expect(res.setCookies).toEqual([]);
    // Outside the ±1-step window: two steps ahead or behind.
    for (const far of [s.step + 2, s.step - 2]) {
      const r = await u.post("/login/2fa", { challenge, code: code(s.secret, far) });
      expect(r.status, `step ${far - s.step}`).toBe(401);
      expect(r.body).toEqual(err("invalid_totp"));
    }
  });

  it("when the challenge is unknown or already used, then 401 invalid_challenge", async () => {
    const u = caller();
    const s = await enrolled(u, "challenge");
    const unknown = await u.post("/login/2fa", {
      challenge: "A".repeat(43),
      code: code(s.secret, s.step),
    });
    expect(unknown.status).toBe(401);
    expect(unknown.body).toEqual(err("invalid_challenge"));

    const challenge = await challengeOf(u, s.email, s.password);
    expect((await u.post("/login/2fa", { challenge, code: code(s.secret, s.step) })).status).toBe(
      200,
    );
    const reused = await u.post("/login/2fa", { challenge, code: code(s.secret, s.step + 1) });
    expect(reused.status).toBe(401);
    expect(reused.body).toEqual(err("invalid_challenge"));
  });

  it("when five wrong codes were sent, then the next attempt, even with a right code on a new challenge, gets 429 with Retry-After (S3.2)", async () => {
    const u = caller();
    const s = await enrolled(u, "tfa-lock");
    const challenge = await challengeOf(u, s.email, s.password);
    for (let i = 0; i < 5; i++) {
      const res = await u.post("/login/2fa", { challenge, code: wrongCode(s.secret, s.step) });
      expect(res.status, `failure ${i + 1}`).toBe(401);
    }
    const fresh = await challengeOf(u, s.email, s.password);
    const locked = await u.post("/login/2fa", { challenge: fresh, code: code(s.secret, s.step) });
    expect(locked.status).toBe(429);
    expect(locked.body).toEqual(err("rate_limited"));
    expect(Number(locked.headers.get("retry-after"))).toBeGreaterThanOrEqual(50);
    expect(Number(locked.headers.get("retry-after"))).toBeLessThanOrEqual(60);
  });
});

describe("Backup codes (S4.3)", () => {
  it("when a backup code signs in, then it works once: the same code again gets 401 invalid_backup_code", async () => {
    const u = caller();
    const s = await enrolled(u, "backup");
    const backup = s.backupCodes[0]!;
    const ok = await u.post("/login/2fa", {
      challenge: await challengeOf(u, s.email, s.password),
      code: backup,
    });
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ accessToken: expect.any(String), expiresIn: 900 });

    const again = await u.post("/login/2fa", {
      challenge: await challengeOf(u, s.email, s.password),
      code: backup,
    });
    expect(again.status).toBe(401);
    expect(again.body).toEqual(err("invalid_backup_code"));

    const events = await sql<{ details: { remaining: number } }>(
      w,
      "select details from security_events where user_id = $1 and kind = 'backup_code_used' and outcome = 'ok'",
      [s.id],
    );
    expect(events).toEqual([{ details: { remaining: 9 } }]);
  });

  it("when a backup code is typed in capitals without the dash, then it is still accepted", async () => {
    const u = caller();
    const s = await enrolled(u, "backup-typed");
    const typed = s.backupCodes[1]!.replace("-", "").toUpperCase();
    c.secrets.strings.add(typed);
    const res = await u.post("/login/2fa", {
      challenge: await challengeOf(u, s.email, s.password),
      code: typed,
    });
    expect(res.status).toBe(200);
  });

  it("when two sign-ins use one backup code at the same time, then exactly one succeeds", async () => {
    const u = caller();
    const s = await enrolled(u, "backup-race");
    const [a, b] = [
      await challengeOf(u, s.email, s.password),
      await challengeOf(u, s.email, s.password),
    ];
    const backup = s.backupCodes[2]!;
    const results = await Promise.all([
      u.post("/login/2fa", { challenge: a, code: backup }),
      u.post("/login/2fa", { challenge: b, code: backup }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 401]);
    expect(results.find((r) => r.status === 401)!.body).toEqual(err("invalid_backup_code"));
    const rows = await sql<{ n: number }>(
      w,
      "select count(*)::int as n from backup_codes where user_id = $1 and used_at is not null",
      [s.id],
    );
    expect(rows).toEqual([{ n: 1 }]);
  });

  it("when backup codes are regenerated with a current code, then 10 new codes come back and the old unused ones stop working", async () => {
    const u = caller();
    const s = await enrolled(u, "regen");
    const res = await u.post(
      "/2fa/backup-codes/regenerate",
      { code: code(s.secret, s.step) },
      { token: s.accessToken },
    );
    expect(res.status).toBe(200);
    const fresh = res.body.backupCodes as string[];
    expect(fresh).toHaveLength(10);
    expect(fresh.filter((x) => s.backupCodes.includes(x))).toEqual([]);

    const old = await u.post("/login/2fa", {
      challenge: await challengeOf(u, s.email, s.password),
      code: s.backupCodes[0],
    });
    expect(old.status).toBe(401);
    expect(old.body).toEqual(err("invalid_backup_code"));
    const ok = await u.post("/login/2fa", {
      challenge: await challengeOf(u, s.email, s.password),
      code: fresh[0],
    });
    expect(ok.status).toBe(200);
  });

  it("when regenerating without a valid code or with a stale step-up, then it is refused and the old codes stay", async () => {
    const u = caller();
    const s = await enrolled(u, "regen-refused");
    const wrong = await u.post(
      "/2fa/backup-codes/regenerate",
      { code: wrongCode(s.secret, s.step) },
      { token: s.accessToken },
    );
    expect(wrong.status).toBe(401);
    expect(wrong.body).toEqual(err("invalid_totp"));

    await sql(
      w,
      "update sessions set step_up_at = now() - interval '6 minutes' where user_id = $1",
      [s.id],
    );
    const stale = await u.post(
      "/2fa/backup-codes/regenerate",
      { code: code(s.secret, s.step) },
      { token: s.accessToken },
    );
    expect(stale.status).toBe(401);
    expect(stale.body).toEqual(err("reauth_required"));

    const old = await u.post("/login/2fa", {
      challenge: await challengeOf(u, s.email, s.password),
      code: s.backupCodes[0],
    });
    expect(old.status).toBe(200);
  });
});

describe("Step-up with 2FA and disabling (S4.4, S4.5)", () => {
  it("when a 2FA user steps up, then the password alone is not enough; password and a current code give 200", async () => {
    const u = caller();
    const s = await enrolled(u, "stepup");
    await sql(
      w,
      "update sessions set step_up_at = now() - interval '6 minutes' where user_id = $1",
      [s.id],
    );
    const passwordOnly = await u.post(
      "/step-up",
      { password: s.password },
      { token: s.accessToken },
    );
    expect(passwordOnly.status).toBe(401);
    expect(["invalid_totp", "invalid_backup_code"]).toContain(passwordOnly.body.error);
    expect(
      (
        await u.post(
          "/2fa/backup-codes/regenerate",
          { code: code(s.secret, s.step) },
          {
            token: s.accessToken,
          },
        )
      ).body,
    ).toEqual(err("reauth_required"));

    const both = await u.post(
      "/step-up",
      { password: s.password, code: code(s.secret, s.step + 1) },
      { token: s.accessToken },
    );
    expect(both.status).toBe(200);
    expect(both.body).toEqual({ ok: true });
    const regen = await u.post(
      "/2fa/backup-codes/regenerate",
      { code: s.backupCodes[0] },
      { token: s.accessToken },
    );
    expect(regen.status).toBe(200);
  });

  it("when a user disables 2FA with a current code, then 200 and sign-in no longer asks for a code", async () => {
    const u = caller();
    const s = await enrolled(u, "disable");
    const res = await u.post(
      "/2fa/disable",
      { code: code(s.secret, s.step) },
      { token: s.accessToken },
    );
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ ok: true });
    const login = await u.post("/login", { email: s.email, password: s.password });
    expect(login.body).toEqual({ accessToken: expect.any(String), expiresIn: 900 });
    expect(await sql(w, "select 1 from backup_codes where user_id = $1", [s.id])).toEqual([]);
  });

  it("when the step-up is stale, then disabling 2FA gets 401 reauth_required and 2FA stays on", async () => {
    const u = caller();
    const s = await enrolled(u, "disable-stale");
    await sql(
      w,
      "update sessions set step_up_at = now() - interval '6 minutes' where user_id = $1",
      [s.id],
    );
    const res = await u.post(
      "/2fa/disable",
      { code: code(s.secret, s.step) },
      { token: s.accessToken },
    );
    expect(res.status).toBe(401);
    expect(res.body).toEqual(err("reauth_required"));
    await challengeOf(u, s.email, s.password);
  });

  it("when an admin tries to disable 2FA, then 403 admin_cannot_disable_2fa and 2FA stays on", async () => {
    const u = caller();
    const s = await enrolled(u, "admin");
    await sql(w, "update users set role = 'admin' where id = $1", [s.id]);
    const res = await u.post(
      "/2fa/disable",
      { code: code(s.secret, s.step) },
      { token: s.accessToken },
    );
    expect(res.status).toBe(403);
    expect(res.body).toEqual(err("admin_cannot_disable_2fa"));
    await challengeOf(u, s.email, s.password);
  });
});

describe("Closing checks", () => {
  it("when all flows above ran, then no password, TOTP secret or code, backup code or token is in the log, PostgreSQL or Redis, and every response had Cache-Control: no-store", async () => {
    expect(c.secrets.codes.size).toBeGreaterThan(0);
    await expectNoLeaksAndNoStore(w, c);
  });
});
