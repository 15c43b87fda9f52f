// Enrolment is limited like login (issue 15): five wrong confirmation codes discard the pending
// secret, a pending secret lives ten minutes, confirming enrolment does not step the session up,
// and the per-account limit of the TOTP sign-in step applies.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestWarden, type TestWarden } from "../../support/warden-harness";
import {
  AuthClient,
  type Caller,
  createSecrets,
  err,
  freshIp,
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

const NOT_PENDING = { error: "totp_not_pending", message: "Start two-factor enrolment first." };

async function pending(u: Caller, tag: string) {
  const s = await u.signedUp(tag);
  const enrol = await u.post("/2fa/enroll", undefined, { token: s.accessToken });
  expect(enrol.status, JSON.stringify(enrol.body)).toBe(200);
  return { ...s, secret: enrol.body.secret as string };
}

const pendingRow = async (id: string) =>
  (
    await sql<{ totp_secret: string | null; totp_enabled_at: Date | null }>(
      w,
      "select totp_secret, totp_enabled_at from users where id = $1",
      [id],
    )
  )[0]!;

describe("Enrolment limits", () => {
  it("when five wrong enrolment codes were sent, then the sixth is refused even though it is right, the pending secret is gone and 2FA stays off", async () => {
    const u = c.as(freshIp());
    const s = await pending(u, "enrol-six");
    const step = await roomInStep(6_000);
    for (let i = 0; i < 5; i++) {
      const wrong = await u.post(
        "/2fa/confirm",
        { code: wrongCode(s.secret, step) },
        { token: s.accessToken },
      );
      expect(wrong.status).toBe(401);
      expect(wrong.body).toEqual(err("invalid_totp"));
    }
    const right = await u.post(
      "/2fa/confirm",
      { code: totpAt(s.secret, step) },
      { token: s.accessToken },
    );
    expect(right.status).toBe(400);
    expect(right.body).toEqual(NOT_PENDING);
    const row = await pendingRow(s.id);
    expect(row.totp_secret).toBeNull();
    expect(row.totp_enabled_at).toBeNull();
    const events = await sql<{ kind: string; outcome: string }>(
      w,
      "select kind, outcome from security_events where user_id = $1 and kind = 'totp_enrol' order by id",
      [s.id],
    );
    expect(events.map((e) => e.outcome)).toEqual([
      "failed",
      "failed",
      "failed",
      "failed",
      "failed",
    ]);
  });

  it("when five wrong codes race in parallel with the right one, then at most five attempts are counted and nothing after is accepted", async () => {
    const u = c.as(freshIp());
    const s = await pending(u, "enrol-race");
    const step = await roomInStep(6_000);
    const answers = await Promise.all(
      Array.from({ length: 8 }, () =>
        u.post("/2fa/confirm", { code: wrongCode(s.secret, step) }, { token: s.accessToken }),
      ),
    );
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses).toEqual([400, 400, 400, 401, 401, 401, 401, 401]);
    const right = await u.post(
      "/2fa/confirm",
      { code: totpAt(s.secret, step) },
      { token: s.accessToken },
    );
    expect(right.body).toEqual(NOT_PENDING);
  });

  it("when a pending secret is older than 10 minutes, then its right code is refused and the secret is gone; a new enrolment works", async () => {
    const u = c.as(freshIp());
    const s = await pending(u, "enrol-expired");
    await sql(
      w,
      "update users set totp_pending_at = now() - interval '10 minutes 1 second' where id = $1",
      [s.id],
    );
    const step = await roomInStep(6_000);
    const late = await u.post(
      "/2fa/confirm",
      { code: totpAt(s.secret, step) },
      { token: s.accessToken },
    );
    expect(late.status).toBe(400);
    expect(late.body).toEqual(NOT_PENDING);
    expect((await pendingRow(s.id)).totp_secret).toBeNull();

    const again = await u.post("/2fa/enroll", undefined, { token: s.accessToken });
    expect(again.status).toBe(200);
    const ok = await u.post(
      "/2fa/confirm",
      { code: totpAt(again.body.secret as string, await roomInStep(6_000)) },
      { token: s.accessToken },
    );
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
  });

  it("when enrolment is confirmed, then the session is not stepped up by it", async () => {
    const u = c.as(freshIp());
    const s = await pending(u, "enrol-stepup");
    const before = await sql<{ step_up_at: Date | null; two_factor_at: Date | null }>(
      w,
      "select step_up_at, two_factor_at from sessions where user_id = $1",
      [s.id],
    );
    const ok = await u.post(
      "/2fa/confirm",
      { code: totpAt(s.secret, await roomInStep(6_000)) },
      { token: s.accessToken },
    );
    expect(ok.status).toBe(200);
    const after = await sql<{ step_up_at: Date | null; two_factor_at: Date | null }>(
      w,
      "select step_up_at, two_factor_at from sessions where user_id = $1",
      [s.id],
    );
    expect(after).toEqual(before);
    expect(after[0]!.two_factor_at).toBeNull();
  });

  it("when one account sends more enrolment codes than the TOTP step allows in 15 minutes, then 429 with Retry-After, from any IP", async () => {
    const first = c.as(freshIp());
    const s = await pending(first, "enrol-limit");
    const step = await roomInStep(6_000);
    let limited: Awaited<ReturnType<Caller["post"]>> | undefined;
    for (let i = 0; i < 20 && !limited; i++) {
      // A fresh pending secret every four wrong codes, and a fresh IP each time.
      if (i % 4 === 0 && i > 0)
        await first.post("/2fa/enroll", undefined, { token: s.accessToken });
      const res = await c
        .as(freshIp())
        .post("/2fa/confirm", { code: wrongCode(s.secret, step) }, { token: s.accessToken });
      if (res.status === 429) limited = res;
      else expect(res.status).toBe(401);
    }
    expect(limited?.body).toEqual(err("rate_limited"));
    expect(Number(limited?.headers.get("retry-after"))).toBeGreaterThan(0);
  });
});
