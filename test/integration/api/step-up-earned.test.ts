// Step-up is earned, never born (issue 15): no session starts stepped up; a Mini App (initData)
// session of an account with a password, a fresh password sign-in and a fresh 2FA sign-in all
// get 403 step_up_required on a step-up route until they step up in that session.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signInitData } from "../../../src/domain/accounts/telegram-init-data";
import { startTestWarden, type TestWarden } from "../../support/warden-harness";
import {
  AuthClient,
  type Caller,
  createSecrets,
  freshIp,
  roomInStep,
  sql,
  TRUSTED_LOOPBACK,
  totpAt,
} from "./auth-support";

const botToken = `${1000000 + Math.floor(Math.random() * 1000000)}:${randomBytes(27).toString("base64url")}`;
let w: TestWarden;
let c: AuthClient;

beforeAll(async () => {
  w = await startTestWarden({ env: { ...TRUSTED_LOOPBACK, TELEGRAM_BOT_TOKEN: botToken } });
  c = new AuthClient(w, createSecrets());
});
afterAll(async () => {
  await w?.stop();
});

const STEP_UP_REQUIRED = {
  error: "step_up_required",
  message: "This needs a step-up: confirm it is you with your password (and 2FA code) first.",
};

/** Every step-up route refuses with 403 step_up_required, then works after a step-up. */
async function expectNotSteppedUp(u: Caller, token: string) {
  for (const [method, path, body] of [
    ["POST", "/telegram/link-code", {}],
    ["POST", "/2fa/enroll", {}],
  ] as const) {
    const res = await u.request(method, path, body, { token });
    expect(res.status, `${path}: ${JSON.stringify(res.body)}`).toBe(403);
    expect(res.body).toEqual(STEP_UP_REQUIRED);
  }
  const key = await fetch(`${w.base}/api/keys`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ venue: "paper" }),
  });
  expect(key.status).toBe(403);
  expect(await key.json()).toEqual(STEP_UP_REQUIRED);
  const rows = await sql<{ step_up_at: Date | null }>(
    w,
    "select s.step_up_at from sessions s order by s.created_at desc limit 1",
  );
  expect(rows[0]!.step_up_at).toBeNull();
}

describe("Step-up is earned, never born", () => {
  it("when a fresh password sign-in calls a step-up route, then 403 step_up_required until it steps up with the password", async () => {
    const u = c.as(freshIp());
    const account = await u.register();
    const { accessToken } = await u.login(account.email, account.password);
    await expectNotSteppedUp(u, accessToken);
    await u.stepUp(accessToken, account.password);
    expect((await u.post("/telegram/link-code", {}, { token: accessToken })).status).toBe(200);
  });

  it("when a fresh sign-in with password and TOTP calls a step-up route, then 403 step_up_required until it steps up", async () => {
    const u = c.as(freshIp());
    const s = await u.signedUp("stepup-2fa");
    const secret = (await u.post("/2fa/enroll", undefined, { token: s.accessToken })).body
      .secret as string;
    const step = await roomInStep(8_000);
    expect(
      (await u.post("/2fa/confirm", { code: totpAt(secret, step - 1) }, { token: s.accessToken }))
        .status,
    ).toBe(200);
    const challenge = (await u.post("/login", { email: s.email, password: s.password })).body
      .challenge as string;
    const second = await u.post("/login/2fa", { challenge, code: totpAt(secret, step) });
    expect(second.status).toBe(200);
    const token = second.body.accessToken as string;
    const res = await u.post("/telegram/link-code", {}, { token });
    expect(res.status).toBe(403);
    expect(res.body).toEqual(STEP_UP_REQUIRED);
    await u.stepUp(token, s.password, totpAt(secret, step + 1));
    expect((await u.post("/telegram/link-code", {}, { token })).status).toBe(200);
  });

  it("when a Telegram account linked to an account with a password signs in with initData, then its session is an ordinary one: 403 step_up_required until a password step-up", async () => {
    const u = c.as(freshIp());
    const account = await u.register();
    const telegramId = 6_600_000 + Math.floor(Math.random() * 100_000);
    await sql(w, "update users set telegram_user_id = $1 where id = $2", [telegramId, account.id]);
    const initData = signInitData(
      {
        auth_date: Math.floor(Date.now() / 1000),
        query_id: "AAH",
        user: { id: telegramId, first_name: "Mini" },
      },
      botToken,
    );
    const signed = await u.post("/telegram", { initData });
    expect(signed.status, JSON.stringify(signed.body)).toBe(200);
    const token = signed.body.accessToken as string;
    expect((await u.get("/me", { token })).body.user).toMatchObject({ id: account.id });
    await expectNotSteppedUp(u, token);
    const wrong = await u.post("/step-up", {}, { token });
    expect(wrong.status).toBe(401);
    await u.stepUp(token, account.password);
    expect((await u.post("/telegram/link-code", {}, { token })).status).toBe(200);
  });
});
