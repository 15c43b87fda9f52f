// Adding an address to an account born in Telegram and changing a web account's address
// (POST /api/auth/email/change): step-up first, the new address gets the single-use link, and
// until it is confirmed no alert or notification mail goes there and the old address stays in
// use (and is told). The notification mail runs the real path: settings store, notifier, email
// queue, worker, SMTP relay.

import { randomBytes } from "node:crypto";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signInitData } from "../../../src/domain/accounts/telegram-init-data";
import { createSettingsNotifier } from "../../../src/domain/notifications/settings";
import { createAlertStore } from "../../../src/infra/alerts-store";
import { accountKeysOf } from "../../../src/infra/config";
import { createNotificationSettingsStore } from "../../../src/infra/notification-settings-store";
import { createEmailOutbox } from "../../../src/jobs/email-outbox";
import { confirmationToken } from "../../support/email-confirmation";
import { startTelegramEmulator, type TelegramEmulator } from "../../support/telegram";
import { startTestWarden, type TestWarden } from "../../support/warden-harness";
import {
  AuthClient,
  createSecrets,
  errorBody,
  freshIp,
  sleep,
  sql,
  TRUSTED_LOOPBACK,
  uniqueEmail,
} from "./auth-support";

let tg: TelegramEmulator;
let botToken: string;
let w: TestWarden;
let c: AuthClient;
let bull: Redis;
let queue: Queue;

beforeAll(async () => {
  // The worker sends Telegram notices through the emulator.
  tg = await startTelegramEmulator();
  botToken = tg.token;
  w = await startTestWarden({
    env: { ...TRUSTED_LOOPBACK, TELEGRAM_BOT_TOKEN: botToken, TELEGRAM_API_ROOT: tg.apiRoot },
  });
  c = new AuthClient(w, createSecrets());
  bull = new Redis(w.redis.url, { maxRetriesPerRequest: null });
  queue = new Queue("email", { connection: bull, prefix: `${w.redis.prefix}bull` });
});
afterAll(async () => {
  await queue?.close();
  bull?.disconnect();
  await w?.stop();
  await tg?.close();
});

const caller = () => c.as(freshIp());
const INVALID_LINK = errorBody(
  "invalid_confirmation_token",
  "This confirmation link is invalid, expired or already used. Sign in and ask for a new one.",
);
const CHANGE_NOTICE = "The email address of your Warden account is changing";
const STOP_LOSS_SUBJECT = "Warden: Stop loss hit";

const db = async (text: string, params: unknown[] = []) => {
  let n = 0;
  return sql(
    w,
    text.replace(/\?/g, () => `$${++n}`),
    params,
  );
};

/** A Telegram user's first Mini App sign-in: a new account without email or password. */
async function telegramAccount(tgId: number) {
  const u = caller();
  const initData = signInitData(
    {
      auth_date: Math.floor(Date.now() / 1000),
      query_id: "AAH",
      user: { id: tgId, first_name: "Tg" },
    },
    botToken,
  );
  const res = await u.post<{ accessToken: string }>("/telegram", { initData });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  const [row] = await sql<{ id: string }>(
    w,
    "select id::text as id from users where telegram_user_id = $1",
    [tgId],
  );
  return { u, token: res.body.accessToken, id: row!.id };
}

/** The trade notifier as the worker builds it, with stop-loss notices switched to email. */
async function stopLossByEmail(userId: string) {
  const settings = createNotificationSettingsStore(db);
  await settings.set(userId, "stop_loss", {
    enabled: true,
    telegram: false,
    email: true,
    web: false,
  });
  return createSettingsNotifier({
    settings,
    contactOf: settings.contactOf,
    telegram: async () => {},
    email: createEmailOutbox({ queue, accountKeys: accountKeysOf(w.warden.config) }),
  });
}

const mailsTo = (email: string) => w.smtp.messages.filter((m) => m.to.includes(email));
const CHANGE_DONE = "The email address of your Warden account was changed";

/** Asks for a reset link for `email` and returns its token (the worker mails it). */
async function resetToken(u: ReturnType<typeof caller>, email: string) {
  expect((await u.post("/password/reset/request", { email })).status).toBe(202);
  const mail = await w.smtp.waitForMessage(
    (m) => m.to.includes(email) && m.text.includes("/reset-password#token="),
  );
  const token = decodeURIComponent(/#token=([A-Za-z0-9_%-]+)/.exec(mail.text)![1]!);
  c.secrets.strings.add(token);
  return token;
}

const newPassword = () => {
  const password = `pw-${randomBytes(12).toString("base64url")}`;
  c.secrets.strings.add(password);
  return password;
};

describe("Adding an address to an account born in Telegram", () => {
  it("when a Telegram account adds an address, then no alert or notification mail goes there until its link is opened, and the link works once", async () => {
    const { u, token, id } = await telegramAccount(890_001);
    const email = uniqueEmail("tg-add");
    const res = await u.post("/email/change", { email }, { token });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body.pendingEmail).toBe(email);
    const me = await u.get<{ user: Record<string, unknown> }>("/me", { token });
    expect(me.body.user).toMatchObject({ email: null, emailConfirmed: false, pendingEmail: email });
    const link = await confirmationToken(w.smtp, email);
    c.secrets.strings.add(link);

    // Unconfirmed: the alert dispatch finds no address, a stop-loss notice mails nobody.
    const alerts = createAlertStore(db, { adminTelegramIds: [] });
    expect((await alerts.recipient(id))?.email).toBeNull();
    const notifier = await stopLossByEmail(id);
    await notifier.notify(id, "stop_loss", "BTCUSDT stop loss hit at 60000.");
    // The confirmation link queued before and a mail queued after prove the queue ran.
    const probe = uniqueEmail("probe");
    await createEmailOutbox({ queue, accountKeys: accountKeysOf(w.warden.config) }).send({
      to: probe,
      subject: "probe",
      text: "probe",
    });
    await w.smtp.waitForMessage((m) => m.to.includes(probe));
    await sleep(300);
    expect(mailsTo(email).map((m) => m.subject)).toEqual(["Confirm your email address for Warden"]);

    // The link confirms the address once; a second use is refused.
    expect((await u.post("/email/confirm", { token: link })).status).toBe(200);
    expect((await u.post("/email/confirm", { token: link })).body).toEqual(INVALID_LINK);
    expect(
      await db(
        "select email, pending_email, email_confirmed_at is not null as confirmed from users where id = ?",
        [id],
      ),
    ).toEqual([{ email, pending_email: null, confirmed: true }]);

    // Confirmed: now both reach it.
    expect((await alerts.recipient(id))?.email).toBe(email);
    await notifier.notify(id, "stop_loss", "BTCUSDT stop loss hit at 60000.");
    const notice = await w.smtp.waitForMessage(
      (m) => m.to.includes(email) && m.subject === STOP_LOSS_SUBJECT,
    );
    expect(notice.text).toContain("BTCUSDT stop loss hit at 60000.");
  });

  it("when the session's step-up is older than five minutes, then adding an address is refused with 401 and nothing is recorded or sent", async () => {
    const { u, token, id } = await telegramAccount(890_002);
    await db("update sessions set step_up_at = now() - interval '10 minutes' where user_id = ?", [
      id,
    ]);
    const email = uniqueEmail("tg-stale");
    const res = await u.post("/email/change", { email }, { token });
    expect(res.status).toBe(401);
    expect(res.body.error).toBe("reauth_required");
    expect(await db("select pending_email from users where id = ?", [id])).toEqual([
      { pending_email: null },
    ]);
    await sleep(500);
    expect(mailsTo(email)).toEqual([]);
  });
});

describe("Changing a web account's address", () => {
  it("when a stepped-up user changes the address, then the old one is told and stays in use until the new one is confirmed, and then only the new one signs in", async () => {
    const u = caller();
    const s = await u.signedUp("change-old");
    const next = uniqueEmail("change-new");
    const res = await u.post("/email/change", { email: next }, { token: s.accessToken });
    expect(res.status, JSON.stringify(res.body)).toBe(202);

    // The old address is told, without the full new address; it stays the sign-in address.
    const told = await w.smtp.waitForMessage(
      (m) => m.to.includes(s.email) && m.subject === CHANGE_NOTICE,
    );
    expect(told.text).not.toContain(next);
    expect(told.text).toContain(`${next[0]}***@example.com`);
    const link = await confirmationToken(w.smtp, next);
    c.secrets.strings.add(link);
    expect((await u.post("/login", { email: next, password: s.password })).status).toBe(401);
    const before = await u.login(s.email, s.password);
    const me = await u.get<{ user: Record<string, unknown> }>("/me", {
      token: before.accessToken,
    });
    expect(me.body.user).toMatchObject({
      email: s.email,
      emailConfirmed: true,
      pendingEmail: next,
    });

    expect((await u.post("/email/confirm", { token: link })).status).toBe(200);
    expect((await u.post("/email/confirm", { token: link })).body).toEqual(INVALID_LINK);
    expect((await u.post("/login", { email: s.email, password: s.password })).status).toBe(401);
    const after = await u.login(next, s.password);
    const me2 = await u.get<{ user: Record<string, unknown> }>("/me", { token: after.accessToken });
    expect(me2.body.user).toMatchObject({ email: next, emailConfirmed: true, pendingEmail: null });
  });

  it("when the step-up is stale, then the change is refused with 401 reauth_required and nothing is sent", async () => {
    const u = caller();
    const s = await u.signedUp("change-stale");
    await db(
      "update sessions set step_up_at = now() - interval '10 minutes' where user_id = ?::bigint",
      [s.id],
    );
    const next = uniqueEmail("change-stale-new");
    const res = await u.post("/email/change", { email: next }, { token: s.accessToken });
    expect(res.status).toBe(401);
    expect(res.body.error).toBe("reauth_required");
    await sleep(500);
    expect(mailsTo(next)).toEqual([]);
    expect(mailsTo(s.email).filter((m) => m.subject === CHANGE_NOTICE)).toEqual([]);
  });

  it("when the new address belongs to another account, then the answer is the same, its owner is told, no link is sent and the address stays", async () => {
    const u = caller();
    const owner = await caller().register();
    const s = await u.signedUp("change-taken");
    const res = await u.post("/email/change", { email: owner.email }, { token: s.accessToken });
    expect(res.status).toBe(202);
    expect(res.body.pendingEmail).toBe(owner.email);
    await w.smtp.waitForMessage(
      (m) =>
        m.to.includes(owner.email) &&
        m.subject === "Someone asked to move a Warden account to your address",
    );
    await sleep(300);
    expect(
      mailsTo(owner.email).filter((m) => m.subject === "Confirm your email address for Warden"),
    ).toHaveLength(1); // only the owner's own registration link
    expect(await db("select email from users where id = ?::bigint", [s.id])).toEqual([
      { email: s.email },
    ]);
  });

  it("when the address is malformed or already the confirmed one, then 400 or 409 and nothing changes", async () => {
    const u = caller();
    const s = await u.signedUp("change-bad");
    const bad = await u.post(
      "/email/change",
      { email: "not an address" },
      { token: s.accessToken },
    );
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe("invalid_email");
    const same = await u.post("/email/change", { email: s.email }, { token: s.accessToken });
    expect(same.status).toBe(409);
    expect(same.body).toEqual(
      errorBody("email_unchanged", "This is already your confirmed email address."),
    );
    expect(await db("select pending_email from users where id = ?::bigint", [s.id])).toEqual([
      { pending_email: null },
    ]);
  });

  it("when the password is reset after a change was asked for, then the pending change is cancelled and its link no longer works", async () => {
    const u = caller();
    const s = await u.signedUp("change-reset");
    const next = uniqueEmail("change-reset-new");
    expect((await u.post("/email/change", { email: next }, { token: s.accessToken })).status).toBe(
      202,
    );
    const link = await confirmationToken(w.smtp, next);
    c.secrets.strings.add(link);
    expect((await u.post("/password/reset/request", { email: s.email })).status).toBe(202);
    const reset = await w.smtp.waitForMessage(
      (m) => m.to.includes(s.email) && m.text.includes("/reset-password#token="),
    );
    const resetToken = decodeURIComponent(/#token=([A-Za-z0-9_%-]+)/.exec(reset.text)![1]!);
    c.secrets.strings.add(resetToken);
    const password = `pw-${randomBytes(12).toString("base64url")}`;
    c.secrets.strings.add(password);
    expect((await u.post("/password/reset/confirm", { token: resetToken, password })).status).toBe(
      200,
    );
    expect((await u.post("/email/confirm", { token: link })).body).toEqual(INVALID_LINK);
    expect(await db("select email, pending_email from users where id = ?::bigint", [s.id])).toEqual(
      [{ email: s.email, pending_email: null }],
    );
  });
});

describe("What a pending or completed change takes along", () => {
  it("when the user signs out everywhere after asking for a change, then the change is cancelled and its link no longer works", async () => {
    const u = caller();
    const s = await u.signedUp("change-signout");
    const next = uniqueEmail("change-signout-new");
    expect((await u.post("/email/change", { email: next }, { token: s.accessToken })).status).toBe(
      202,
    );
    const link = await confirmationToken(w.smtp, next);
    c.secrets.strings.add(link);
    expect((await u.delete("/sessions", { token: s.accessToken })).status).toBe(200);
    expect(await db("select pending_email from users where id = ?::bigint", [s.id])).toEqual([
      { pending_email: null },
    ]);
    expect((await u.post("/email/confirm", { token: link })).body).toEqual(INVALID_LINK);
    expect(await db("select email from users where id = ?::bigint", [s.id])).toEqual([
      { email: s.email },
    ]);
  });

  it("when another session is revoked after it asked for a change, then the change is cancelled and its link no longer works", async () => {
    const u = caller();
    const s = await u.signedUp("change-revoke");
    const other = await u.login(s.email, s.password);
    await u.stepUp(other.accessToken, s.password);
    const next = uniqueEmail("change-revoke-new");
    expect(
      (await u.post("/email/change", { email: next }, { token: other.accessToken })).status,
    ).toBe(202);
    const link = await confirmationToken(w.smtp, next);
    c.secrets.strings.add(link);
    const [row] = await db(
      "select id::text as id from sessions where user_id = ?::bigint and revoked_at is null order by created_at desc limit 1",
      [s.id],
    );
    expect((await u.delete(`/sessions/${String(row!.id)}`, { token: s.accessToken })).status).toBe(
      204,
    );
    expect((await u.post("/email/confirm", { token: link })).body).toEqual(INVALID_LINK);
    expect(await db("select email, pending_email from users where id = ?::bigint", [s.id])).toEqual(
      [{ email: s.email, pending_email: null }],
    );
  });

  it("when a change is confirmed, then a reset link mailed to the old address stops working, every session ends and the old address is told", async () => {
    const u = caller();
    const s = await u.signedUp("change-done");
    const reset = await resetToken(u, s.email);
    const next = uniqueEmail("change-done-new");
    expect((await u.post("/email/change", { email: next }, { token: s.accessToken })).status).toBe(
      202,
    );
    const link = await confirmationToken(w.smtp, next);
    c.secrets.strings.add(link);
    expect((await u.post("/email/confirm", { token: link })).status).toBe(200);

    const done = await w.smtp.waitForMessage(
      (m) => m.to.includes(s.email) && m.subject === CHANGE_DONE,
    );
    expect(done.text).toContain(`${next[0]}***@example.com`);
    expect(done.text).not.toContain(next);
    expect((await u.get("/me", { token: s.accessToken })).status).toBe(401);
    const refused = await u.post("/password/reset/confirm", {
      token: reset,
      password: newPassword(),
    });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toBe("invalid_reset_token");
    // The password is still the one the owner chose; the new address signs in with it.
    await u.login(next, s.password);
  });

  it("when the address asked for belongs to an account that never confirmed it, then no mail goes to that address", async () => {
    const u = caller();
    const unconfirmed = uniqueEmail("change-unconfirmed-owner");
    expect(
      (await caller().post("/register", { email: unconfirmed, password: newPassword() })).status,
    ).toBe(202);
    await confirmationToken(w.smtp, unconfirmed); // its own registration link
    const s = await u.signedUp("change-to-unconfirmed");
    const res = await u.post("/email/change", { email: unconfirmed }, { token: s.accessToken });
    expect(res.status).toBe(202);
    expect(res.body.pendingEmail).toBe(unconfirmed);
    await w.smtp.waitForMessage((m) => m.to.includes(s.email) && m.subject === CHANGE_NOTICE);
    await sleep(300);
    expect(mailsTo(unconfirmed).map((m) => m.subject)).toEqual([
      "Confirm your email address for Warden",
    ]);
  });

  it("when an account born in Telegram adds an address and then gets a password by reset, then its Telegram chat is told both times, with the address masked", async () => {
    const tgId = 890_101;
    tg.user({ id: tgId, first_name: "Tg" }).sendText("/start");
    const { u, token, id } = await telegramAccount(tgId);
    const email = uniqueEmail("tg-notice");
    expect((await u.post("/email/change", { email }, { token })).status).toBe(202);
    const added = await tg.waitForBotMessage(tgId, (m) =>
      (m.text ?? "").includes("add the email address"),
    );
    expect(added.text).toContain(`${email[0]}***@example.com`);
    expect(added.text).not.toContain(email);
    expect(added.text).toContain("If this was not you");
    expect(added.text).toContain("Sign out everywhere");

    const link = await confirmationToken(w.smtp, email);
    c.secrets.strings.add(link);
    expect((await u.post("/email/confirm", { token: link })).status).toBe(200);
    const reset = await resetToken(u, email);
    expect(
      (await u.post("/password/reset/confirm", { token: reset, password: newPassword() })).status,
    ).toBe(200);
    const set = await tg.waitForBotMessage(tgId, (m) =>
      (m.text ?? "").includes("a password was set on your account"),
    );
    expect(set.text).toContain(`${email[0]}***@example.com`);
    expect(set.text).toContain("If this was not you");
    // The chat stays linked: Telegram was this account's way in.
    expect(await db("select telegram_user_id from users where id = ?", [id])).toEqual([
      { telegram_user_id: String(tgId) },
    ]);
  });
});
