// Anomaly alerts end to end (S8.3): the composed service (api + worker + bot here, the signer in
// a process of its own) with a domain clock
// the test drives, real trades through the HTTP API from chosen client IPs (a trusted loopback
// proxy), the scan run as a job on the real queue, and every channel observed as its user would:
// the Telegram emulator's chats, the SMTP relay's mailbox, and an authenticated WebSocket client.
import { Job, Queue, QueueEvents } from "bullmq";
import { Redis } from "ioredis";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { confirmationToken } from "../support/email-confirmation";
import type { ReceivedMail } from "../support/smtp/server";
import { startTelegramEmulator, type TelegramEmulator } from "../support/telegram";
import { createTestClock } from "../support/test-clock";
import { nextTotpCode, totpCode } from "../support/totp";
import { startTestWarden, type TestWarden } from "../support/warden-harness";

const ADMIN_TG = 7001;
const ALICE_TG = 7002;
const BOB_TG = 7003;
const DAVE_TG = 7004;
const ERIN_TG = 7005;
const GINA_TG = 7006;
const HANK_TG = 7007;
const IVY_TG = 7008;
const PASSWORD = "a long and unbreached passphrase 42";
const IP_HOME = "203.0.113.7";

// The domain clock of every role, the signer process's included (it executes the trades).
const clock = createTestClock(Date.parse("2026-12-01T10:00:00.000Z"));
const MIN = 60_000;
const DAY = 24 * 60 * MIN;

let tg: TelegramEmulator;
let w: TestWarden;
let db: pg.Client;
let queue: Queue;
let events: QueueEvents;
let bullConnection: Redis;
let authIp = 0;

interface Account {
  id: string;
  email: string;
  token: string;
  tgId: number;
}

async function api(
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; ip?: string } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  authIp += 1;
  const res = await fetch(`${w.base}${path}`, {
    method,
    headers: {
      "content-type": "application/json",
      "x-forwarded-for": opts.ip ?? `198.51.100.${(authIp % 250) + 1}`,
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
    },
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** A web account linked to a Telegram chat that has written to the bot, with a paper key. */
async function account(
  tag: string,
  tgId: number,
  role: "user" | "admin" = "user",
): Promise<Account> {
  const email = `${tag}@example.com`;
  expect(
    (await api("POST", "/api/auth/register", { body: { email, password: PASSWORD } })).status,
  ).toBe(202);
  // Alerts are mailed to confirmed addresses only: the owner opens the mailed link.
  const confirmToken = await confirmationToken(w.smtp, email);
  expect(
    (await api("POST", "/api/auth/email/confirm", { body: { token: confirmToken } })).status,
  ).toBe(200);
  const login = await api("POST", "/api/auth/login", { body: { email, password: PASSWORD } });
  const token = login.body.accessToken as string;
  const user = tg.user({ id: tgId, first_name: tag });
  user.sendText("/help");
  await user.waitForBotMessage();
  const { rows } = await db.query(
    "update users set telegram_user_id = $1, role = $2 where email = $3 returning id::text as id",
    [tgId, role, email],
  );
  expect(
    (await api("POST", "/api/auth/step-up", { token, body: { password: PASSWORD } })).status,
  ).toBe(200);
  expect((await api("POST", "/api/keys", { token, body: { venue: "paper" } })).status).toBe(201);
  // These users trade only to trip the rules: their entry notices would share the chat, the
  // inbox and the socket with the alerts this file counts.
  expect(
    (await api("PUT", "/api/notifications", { token, body: { entry: { enabled: false } } })).status,
  ).toBe(200);
  return { id: rows[0].id, email, token, tgId };
}

/** Opens and closes a paper BTC position from `ip`; the open is one trade action in the feed. */
async function openAndClose(a: Account, ip: string): Promise<void> {
  const opened = await api("POST", "/api/trades", {
    token: a.token,
    ip,
    body: { confirm: true, symbol: "BTC", side: "long", size: 0.01 },
  });
  expect(opened.status).toBe(201);
  const id = (opened.body.trade as { id: string }).id;
  expect((await api("POST", `/api/trades/${id}/close`, { token: a.token, ip })).status).toBe(200);
}

/** Runs one scan as a job on the alerts queue, then waits for every hand-off it made. */
/**
 * The scan reads only what every transaction older than it has settled, and transaction ids are
 * cluster-wide: a long transaction in another test file's database holds the scan back. Waits
 * until every transaction that began before now has ended, so the scan sees this test's writes.
 */
async function settled(): Promise<void> {
  const { rows } = await db.query("select txid_current()::text as x");
  const mine = BigInt(rows[0].x as string);
  for (let i = 0; i < 300; i++) {
    const { rows: r } = await db.query(
      "select pg_snapshot_xmin(pg_current_snapshot())::text as xmin",
    );
    if (BigInt(r[0].xmin as string) > mine) return;
    await new Promise((res) => setTimeout(res, 100));
  }
}

async function scan(): Promise<string[]> {
  await settled();
  const before = await anomalyIds();
  const job = await queue.add("scan", {});
  await job.waitUntilFinished(events, 30_000);
  const fresh = (await anomalyIds()).filter((id) => !before.includes(id));
  for (const id of fresh) {
    const { rows } = await db.query("select alert from anomalies where id = $1", [id]);
    if (!rows[0].alert) continue;
    const dispatch = await Job.fromId(queue, `dispatch-${id}`);
    expect(dispatch, `dispatch job of anomaly ${id}`).toBeDefined();
    await dispatch!.waitUntilFinished(events, 30_000);
  }
  return fresh;
}

async function anomalyIds(): Promise<string[]> {
  const { rows } = await db.query("select id::text as id from anomalies order by anomalies.id");
  return rows.map((r) => r.id as string);
}

async function anomaly(id: string) {
  const { rows } = await db.query(
    "select user_id::text as user_id, rule, delivery, evidence from anomalies where id = $1",
    [id],
  );
  return rows[0] as {
    user_id: string;
    rule: string;
    delivery: string;
    evidence: Record<string, unknown>;
  };
}

const ofRule = async (ids: string[], rule: string) => {
  const out: string[] = [];
  for (const id of ids) if ((await anomaly(id)).rule === rule) out.push(id);
  return out;
};

interface WsClient {
  next(): Promise<Record<string, unknown>>;
  pending(): number;
  close(): void;
}

async function socketFor(a: Account): Promise<WsClient> {
  const ticket = (await api("POST", "/api/auth/ws-ticket", { token: a.token })).body
    .ticket as string;
  const ws = new WebSocket(`${w.base.replace("http", "ws")}/ws`, { origin: w.origin });
  const queued: Array<Record<string, unknown>> = [];
  const waiting: Array<(m: Record<string, unknown>) => void> = [];
  ws.on("message", (data) => {
    const m = JSON.parse(String(data)) as Record<string, unknown>;
    const waiter = waiting.shift();
    if (waiter) waiter(m);
    else queued.push(m);
  });
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  const client: WsClient = {
    next: () =>
      queued.length > 0 ? Promise.resolve(queued.shift()!) : new Promise((r) => waiting.push(r)),
    pending: () => queued.length,
    close: () => ws.close(),
  };
  ws.send(JSON.stringify({ type: "auth", ticket }));
  expect(await client.next()).toEqual({ type: "ready" });
  return client;
}

const mailsTo = (to: string) => w.smtp.messages.filter((m: ReceivedMail) => m.to.includes(to));
/** Alert mails only (sign-in notices and 2FA changes go to the same inbox). */
const alertMailsTo = (to: string) =>
  mailsTo(to).filter((m) => m.subject.startsWith("Warden security alert"));
const adminMailsTo = (to: string) =>
  mailsTo(to).filter((m) => m.subject.startsWith("Warden anomaly"));
const allAlertMails = () =>
  w.smtp.messages.filter((m) => /^Warden (security alert|anomaly)/.test(m.subject)).length;
const botMessages = (chatId: number) => tg.history(chatId).filter((m) => m.from === "bot");

let admin: Account;
let alice: Account;
let aliceWs: WsClient;

beforeAll(async () => {
  tg = await startTelegramEmulator();
  w = await startTestWarden({
    // api, worker and bot here without MASTER_KEYS; the signer in a process of its own.
    roles: ["api", "worker", "bot", "signer"],
    clock,
    env: {
      TELEGRAM_BOT_TOKEN: tg.token,
      TELEGRAM_API_ROOT: tg.apiRoot,
      TRUSTED_PROXIES: "127.0.0.1",
      // The test runs every scan itself.
      ANOMALY_SCAN_EVERY_MINUTES: "60",
    },
  });
  db = new pg.Client({ connectionString: w.db.url });
  await db.connect();
  bullConnection = new Redis(w.redis.url, { maxRetriesPerRequest: null });
  queue = new Queue("alerts", { connection: bullConnection, prefix: `${w.redis.prefix}bull` });
  events = new QueueEvents("alerts", {
    connection: bullConnection.duplicate(),
    prefix: `${w.redis.prefix}bull`,
  });
  await events.waitUntilReady();
  admin = await account("admin", ADMIN_TG, "admin");
  alice = await account("alice", ALICE_TG);
  aliceWs = await socketFor(alice);
});

afterAll(async () => {
  aliceWs?.close();
  await events?.close();
  await queue?.close();
  bullConnection?.disconnect();
  await db?.end();
  await w?.stop();
  await tg?.close();
});

describe("new IP", () => {
  it("when an API trade comes from a fresh IP, then a new_ip alert reaches the user on all three channels and the admins", async () => {
    tg.discardBotMessages(ALICE_TG);
    tg.discardBotMessages(ADMIN_TG);
    await openAndClose(alice, IP_HOME);
    const fresh = await ofRule(await scan(), "new_ip");
    expect(fresh).toHaveLength(1);
    const a = await anomaly(fresh[0]!);
    expect(a).toMatchObject({ user_id: alice.id, delivery: "delivered" });
    expect(a.evidence.ips).toEqual([
      expect.objectContaining({ ip: IP_HOME, lastSeenBefore: null }),
    ]);

    const msg = await tg.waitForBotMessage(ALICE_TG, (m) => (m.text ?? "").includes("new IP"));
    expect(msg.text).toContain(IP_HOME);
    expect(await aliceWs.next()).toMatchObject({
      type: "alert",
      alert: { id: fresh[0], rule: "new_ip" },
    });
    await w.smtp.waitForMessage((m) => m.to.includes(alice.email) && m.text.includes(IP_HOME));
    const copy = await tg.waitForBotMessage(ADMIN_TG, (m) =>
      (m.text ?? "").includes(`Anomaly #${fresh[0]}`),
    );
    expect(copy.text).toContain(`user #${alice.id}`);
    expect(copy.text).toContain(IP_HOME);
    await w.smtp.waitForMessage(
      (m) => m.to.includes(admin.email) && m.subject.includes(`#${fresh[0]}`),
    );
  });

  it("when the same IP trades again 29 days later, then nothing is flagged; 31 days after that sighting, then new_ip alerts again", async () => {
    const mailsBefore = alertMailsTo(alice.email).length;
    await clock.advance(29 * DAY);
    await openAndClose(alice, IP_HOME);
    expect(await ofRule(await scan(), "new_ip")).toEqual([]);
    expect(alertMailsTo(alice.email)).toHaveLength(mailsBefore);

    await clock.advance(31 * DAY);
    await openAndClose(alice, IP_HOME);
    const fresh = await ofRule(await scan(), "new_ip");
    expect(fresh).toHaveLength(1);
    expect((await anomaly(fresh[0]!)).delivery).toBe("delivered");
    const ev = (await anomaly(fresh[0]!)).evidence.ips as Array<Record<string, unknown>>;
    expect(ev[0]).toMatchObject({
      ip: IP_HOME,
      lastSeenBefore: new Date(clock.now() - 31 * DAY).toISOString(),
    });
    await tg.waitForBotMessage(ALICE_TG, (m) => (m.text ?? "").includes(`alert #${fresh[0]}`));
    expect(await aliceWs.next()).toMatchObject({ type: "alert", alert: { id: fresh[0] } });
    // Its mails too (the user's and the admin's), so a later test counting mails does not see
    // these arrive.
    await w.smtp.waitForMessage(
      (m) => m.to.includes(alice.email) && m.text.includes(`alert #${fresh[0]}`),
    );
    await w.smtp.waitForMessage(
      (m) => m.to.includes(admin.email) && m.subject.includes(`#${fresh[0]}:`),
    );
  });
});

describe("rapid fire", () => {
  let firstAlertAt = 0;
  let firstAlertId = "";
  let suppressedId = "";

  it("when a user opens 10 positions in 5 minutes, then nothing; an 11th, then one alert on Telegram, email and WebSocket and one admin copy", async () => {
    await clock.advance(2 * DAY);
    tg.discardBotMessages(ALICE_TG);
    tg.discardBotMessages(ADMIN_TG);
    const userMails = alertMailsTo(alice.email).length;
    const adminMails = adminMailsTo(admin.email).length;
    for (let i = 0; i < 10; i++) {
      await openAndClose(alice, IP_HOME);
      await clock.advance(20_000);
    }
    // No finding at all (the IP and the coin are known), so nothing can be delivered.
    expect(await scan()).toEqual([]);

    await openAndClose(alice, IP_HOME);
    const all = await scan();
    // Nothing else fired: the IP is known and the coin traded before.
    expect(all).toHaveLength(1);
    expect(await ofRule(all, "rapid_fire")).toEqual(all);
    const id = all[0]!;
    expect(await anomaly(id)).toMatchObject({
      delivery: "delivered",
      evidence: { attempts: 11, filled: 11, failed: 0, threshold: 10 },
    });
    firstAlertAt = clock.now();
    firstAlertId = id;

    const msg = await tg.waitForBotMessage(ALICE_TG, (m) =>
      (m.text ?? "").includes(`alert #${id}`),
    );
    expect(msg.text).toContain("11 open attempts (11 filled, 0 failed) within 5 minutes");
    expect(msg.reply_markup?.inline_keyboard?.flat().map((b) => b.callback_data)).toEqual([
      `alert:me:${id}`,
      `alert:notme:${id}`,
    ]);
    expect(await aliceWs.next()).toMatchObject({
      type: "alert",
      alert: { id, rule: "rapid_fire" },
    });
    await w.smtp.waitForMessage(
      (m) => m.to.includes(alice.email) && m.text.includes(`alert #${id}`),
    );
    await tg.waitForBotMessage(ADMIN_TG, (m) =>
      (m.text ?? "").includes(`Anomaly #${id}: rapid_fire`),
    );
    await w.smtp.waitForMessage((m) => m.to.includes(admin.email) && m.subject.includes(`#${id}`));

    // Exactly one of each: the delivery log and the inboxes agree.
    for (const [audience, chat] of [
      ["user", ALICE_TG],
      ["admin", ADMIN_TG],
    ] as const) {
      await (await Job.fromId(queue, `tg-${id}-${audience}-${chat}`))!.waitUntilFinished(events);
    }
    // The email worker records each attempt after the relay accepted the mail.
    const sentMails = async () =>
      (
        await db.query(
          "select count(*)::int as n from alert_deliveries where anomaly_id = $1 and channel = 'email' and outcome = 'sent'",
          [id],
        )
      ).rows[0].n as number;
    for (let i = 0; i < 200 && (await sentMails()) < 2; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const { rows } = await db.query(
      `select audience, channel, outcome, count(*)::int as n from alert_deliveries
       where anomaly_id = $1 group by 1, 2, 3 order by 1, 2, 3`,
      [id],
    );
    expect(rows).toEqual([
      { audience: "admin", channel: "email", outcome: "queued", n: 1 },
      { audience: "admin", channel: "email", outcome: "sent", n: 1 },
      { audience: "admin", channel: "telegram", outcome: "queued", n: 1 },
      { audience: "admin", channel: "telegram", outcome: "sent", n: 1 },
      { audience: "user", channel: "email", outcome: "queued", n: 1 },
      { audience: "user", channel: "email", outcome: "sent", n: 1 },
      { audience: "user", channel: "telegram", outcome: "queued", n: 1 },
      { audience: "user", channel: "telegram", outcome: "sent", n: 1 },
      { audience: "user", channel: "websocket", outcome: "sent", n: 1 },
    ]);
    expect(alertMailsTo(alice.email)).toHaveLength(userMails + 1);
    expect(adminMailsTo(admin.email)).toHaveLength(adminMails + 1);
    expect(botMessages(ADMIN_TG).filter((m) => (m.text ?? "").includes(`#${id}`))).toHaveLength(1);
  });

  it("when a second burst comes 10 minutes later, then it is recorded but suppressed into the first alert: nothing is delivered", async () => {
    await clock.set(firstAlertAt + 10 * MIN);
    const tgBefore = botMessages(ALICE_TG).length;
    const adminBefore = botMessages(ADMIN_TG).length;
    const mailsBefore = allAlertMails();
    for (let i = 0; i < 11; i++) await openAndClose(alice, IP_HOME);
    const all = await scan();
    expect(all).toHaveLength(1);
    expect(await anomaly(all[0]!)).toMatchObject({ rule: "rapid_fire", delivery: "suppressed" });
    suppressedId = all[0]!;
    const { rows: folded } = await db.query(
      "select suppressed_into::text as into from anomalies where id = $1",
      [suppressedId],
    );
    expect(folded[0].into).toBe(firstAlertId);
    const { rows } = await db.query(
      "select count(*)::int as n from alert_deliveries where anomaly_id = $1",
      [all[0]],
    );
    expect(rows[0].n).toBe(0);
    expect(botMessages(ALICE_TG)).toHaveLength(tgBefore);
    expect(botMessages(ADMIN_TG)).toHaveLength(adminBefore);
    expect(allAlertMails()).toBe(mailsBefore);
    expect(aliceWs.pending()).toBe(0);
  });

  it("when a burst comes 31 minutes after the delivered alert, then it is delivered again and says one was suppressed since the last", async () => {
    expect(suppressedId).not.toBe("");
    await clock.set(firstAlertAt + 31 * MIN);
    for (let i = 0; i < 11; i++) await openAndClose(alice, IP_HOME);
    const all = await scan();
    expect(all).toHaveLength(1);
    expect(await anomaly(all[0]!)).toMatchObject({ rule: "rapid_fire", delivery: "delivered" });
    const mention =
      "Since the previous alert of this kind, 1 more finding was recorded and suppressed";
    const msg = await tg.waitForBotMessage(ALICE_TG, (m) =>
      (m.text ?? "").includes(`alert #${all[0]}`),
    );
    expect(msg.text).toContain(mention);
    expect(await aliceWs.next()).toMatchObject({ type: "alert", alert: { id: all[0] } });
    await w.smtp.waitForMessage(
      (m) => m.to.includes(alice.email) && m.text.includes(`alert #${all[0]}`),
    );
    await tg.waitForBotMessage(ADMIN_TG, (m) => (m.text ?? "").includes(`Anomaly #${all[0]}`));
  });
});

describe("not me", () => {
  it("when the user presses “Not me — revoke my keys”, then every key of theirs is revoked and the admins are told", async () => {
    const bob = await account("bob", BOB_TG);
    expect(
      (await api("POST", "/api/keys", { token: bob.token, body: { venue: "paper" } })).status,
    ).toBe(201);
    await clock.advance(DAY);
    tg.discardBotMessages(BOB_TG);
    await openAndClose(bob, "192.0.2.44");
    const [id] = await ofRule(await scan(), "new_ip");
    const msg = await tg.waitForBotMessage(BOB_TG, (m) => (m.text ?? "").includes(`alert #${id}`));

    tg.user({ id: BOB_TG, first_name: "bob" }).pressButton(msg.message_id, `alert:notme:${id}`);
    const done = await tg.waitForBotMessage(BOB_TG, (m) => (m.text ?? "").startsWith("🔒"));
    expect(done.text).toContain("Revoked 2 exchange key(s)");
    const { rows } = await db.query(
      "select count(*) filter (where revoked_at is null)::int as active, count(*)::int as n from exchange_credentials where user_id = $1",
      [bob.id],
    );
    expect(rows[0]).toEqual({ active: 0, n: 2 });
    const { rows: verdict } = await db.query("select verdict from anomalies where id = $1", [id]);
    expect(verdict[0].verdict).toBe("not_me");
    await tg.waitForBotMessage(ADMIN_TG, (m) =>
      (m.text ?? "").includes(`User #${bob.id} says alert #${id} (new_ip) was NOT them`),
    );
    await w.smtp.waitForMessage(
      (m) => m.to.includes(admin.email) && m.subject.includes(`alert #${id} was not them`),
    );
    // The keys are gone: trading now fails.
    const refused = await api("POST", "/api/trades", {
      token: bob.token,
      ip: "192.0.2.44",
      body: { confirm: true, symbol: "ETH", side: "long", size: 0.01 },
    });
    expect(refused.status).toBe(409);
    // Alice's key is untouched.
    const { rows: others } = await db.query(
      "select count(*)::int as n from exchange_credentials where user_id = $1 and revoked_at is null",
      [alice.id],
    );
    expect(others[0].n).toBe(1);
  });

  it("when someone presses “Not me” on an alert that is not theirs, then nothing is revoked", async () => {
    const { rows } = await db.query(
      "select id::text as id from anomalies where user_id = $1 order by anomalies.id limit 1",
      [alice.id],
    );
    const eve = tg.user({ id: BOB_TG, first_name: "bob" });
    const { rows: before } = await db.query(
      "select count(*)::int as n from exchange_credentials where revoked_at is null",
    );
    // A forged callback: the button is not on any of Bob's messages.
    const own = botMessages(BOB_TG).at(-1)!;
    eve.pressButton(own.message_id, `alert:notme:${rows[0].id}`, { unchecked: true });
    expect((await tg.waitForBotMessage(BOB_TG)).text).toBe("No such alert.");
    const { rows: after } = await db.query(
      "select count(*)::int as n from exchange_credentials where revoked_at is null",
    );
    expect(after[0].n).toBe(before[0].n);
  });
});

/** Turns 2FA on through the web API; returns the secret (the confirm used the current step). */
async function enrolTotp(a: Account): Promise<string> {
  expect(
    (await api("POST", "/api/auth/step-up", { token: a.token, body: { password: PASSWORD } }))
      .status,
  ).toBe(200);
  const enrol = await api("POST", "/api/auth/2fa/enroll", { token: a.token });
  const secret = enrol.body.secret as string;
  const confirmed = await api("POST", "/api/auth/2fa/confirm", {
    token: a.token,
    body: { code: totpCode(secret) },
  });
  expect(confirmed.status).toBe(200);
  return secret;
}

const prefsOf = async (userId: string) =>
  (
    await db.query("select telegram, email, websocket from alert_preferences where user_id = $1", [
      userId,
    ])
  ).rows[0] ?? { telegram: true, email: true, websocket: true };

describe("alert channels", () => {
  it("when a user without 2FA asks the bot to switch Telegram alerts off, then it is refused and stays on", async () => {
    const dave = await account("dave", DAVE_TG);
    const u = tg.user({ id: DAVE_TG, first_name: "dave" });
    tg.discardBotMessages(DAVE_TG);
    u.sendText("/alerts");
    const menu = await u.waitForBotMessage((m) => (m.text ?? "").startsWith("Security alerts"));
    expect(menu.text).toContain("Telegram: on");
    u.pressButton(menu.message_id, "alerts:set:telegram:off");
    expect((await u.waitForBotMessage()).text).toContain("needs two-factor authentication");
    expect(await prefsOf(dave.id)).toEqual({ telegram: true, email: true, websocket: true });
  });

  it("when a user with 2FA switches email alerts off, then a wrong code changes nothing, the right one does, and the next alert skips email", async () => {
    const erin = await account("erin", ERIN_TG);
    const secret = await enrolTotp(erin);
    const u = tg.user({ id: ERIN_TG, first_name: "erin" });
    tg.discardBotMessages(ERIN_TG);
    u.sendText("/alerts");
    const menu = await u.waitForBotMessage((m) => (m.text ?? "").startsWith("Security alerts"));
    u.pressButton(menu.message_id, "alerts:set:email:off");
    expect((await u.waitForBotMessage()).text).toContain("sensitive action");
    const wrong = totpCode(secret) === "000000" ? "111111" : "000000";
    u.sendText(wrong);
    expect((await u.waitForBotMessage()).text).not.toContain("now off");
    expect((await prefsOf(erin.id)).email).toBe(true);
    u.sendText(nextTotpCode(secret));
    expect((await u.waitForBotMessage()).text).toContain("Email alerts are now off.");
    expect(await prefsOf(erin.id)).toEqual({ telegram: true, email: false, websocket: true });
    // The typed codes left the chat.
    expect(tg.history(ERIN_TG).some((m) => m.from === "user" && /^\d{6}$/.test(m.text ?? ""))).toBe(
      false,
    );

    await clock.advance(DAY);
    await openAndClose(erin, "192.0.2.55");
    const [id] = await ofRule(await scan(), "new_ip");
    await u.waitForBotMessage((m) => (m.text ?? "").includes(`alert #${id}`));
    await w.smtp.waitForMessage((m) => m.to.includes(admin.email) && m.subject.includes(`#${id}`));
    expect(alertMailsTo(erin.email)).toEqual([]);
    const { rows } = await db.query(
      "select distinct channel from alert_deliveries where anomaly_id = $1 and audience = 'user' order by 1",
      [id],
    );
    expect(rows.map((r) => r.channel)).toEqual(["telegram", "websocket"]);
  });

  it("when the web API lists alerts, then it gives the preferences and only the caller's own findings; switching a channel off without a fresh step-up is 401 and changes nothing; switching on needs none; bad bodies are 400", async () => {
    const login = await api("POST", "/api/auth/login", {
      body: { email: alice.email, password: PASSWORD },
    });
    const token = login.body.accessToken as string;
    // Signing in counts as a step-up for 5 minutes; this session's is long past.
    await db.query(
      "update sessions set step_up_at = now() - interval '10 minutes' where user_id = $1",
      [alice.id],
    );
    const got = (await api("GET", "/api/alerts", { token })).body;
    expect(got.preferences).toEqual({ telegram: true, email: true, websocket: true });
    // Her own findings, newest first, and nobody else's.
    const hers = await db.query(
      "select id::text as id from anomalies where user_id = $1 order by created_at desc, id desc limit 20",
      [alice.id],
    );
    expect(hers.rows.length).toBeGreaterThan(0);
    const recent = got.recent as Array<Record<string, unknown>>;
    expect(recent.map((a) => a.id)).toEqual(hers.rows.map((r) => r.id));
    expect(recent[0]).toMatchObject({
      rule: expect.any(String),
      detectedAt: expect.any(String),
      evidence: expect.any(Object),
      delivery: expect.any(String),
    });
    const off = await api("PUT", "/api/alerts", { token, body: { websocket: false } });
    expect(off.status).toBe(401);
    expect(off.body.error).toBe("reauth_required");
    expect((await prefsOf(alice.id)).websocket).toBe(true);
    for (const body of [{}, { sms: true }, { email: "no" }]) {
      expect((await api("PUT", "/api/alerts", { token, body })).status).toBe(400);
    }
    expect((await api("PUT", "/api/alerts", { token, body: { email: true } })).status).toBe(200);
    expect((await api("GET", "/api/alerts")).status).toBe(401);
  });

  it("when a user has no working channel, then the admins still get the alert, saying so", async () => {
    const email = "frank@example.com";
    await api("POST", "/api/auth/register", { body: { email, password: PASSWORD } });
    const confirm = await confirmationToken(w.smtp, email);
    await api("POST", "/api/auth/email/confirm", { body: { token: confirm } });
    const token = (await api("POST", "/api/auth/login", { body: { email, password: PASSWORD } }))
      .body.accessToken as string;
    expect(
      (await api("POST", "/api/auth/step-up", { token, body: { password: PASSWORD } })).status,
    ).toBe(200);
    expect((await api("POST", "/api/keys", { token, body: { venue: "paper" } })).status).toBe(201);
    const off = await api("PUT", "/api/alerts", {
      token,
      body: { email: false, websocket: false },
    });
    expect(off.body).toEqual({ preferences: { telegram: true, email: false, websocket: false } });
    const frank: Account = { id: "", email, token, tgId: 0 };
    await clock.advance(DAY);
    await openAndClose(frank, "192.0.2.66");
    const [id] = await ofRule(await scan(), "new_ip");
    expect((await anomaly(id!)).delivery).toBe("delivered");
    const copy = await tg.waitForBotMessage(ADMIN_TG, (m) =>
      (m.text ?? "").includes(`Anomaly #${id}`),
    );
    expect(copy.text).toContain("The user has no working alert channel");
    const { rows } = await db.query(
      "select count(*)::int as n from alert_deliveries where anomaly_id = $1 and audience = 'user'",
      [id],
    );
    expect(rows[0].n).toBe(0);
    expect(alertMailsTo(email)).toEqual([]);
  });
});

describe("not me with 2FA", () => {
  it("when a user with 2FA presses “Not me”, then a wrong code revokes nothing and the right code revokes every key", async () => {
    const gina = await account("gina", GINA_TG);
    const secret = await enrolTotp(gina);
    await clock.advance(DAY);
    tg.discardBotMessages(GINA_TG);
    await openAndClose(gina, "192.0.2.77");
    const [id] = await ofRule(await scan(), "new_ip");
    const u = tg.user({ id: GINA_TG, first_name: "gina" });
    const msg = await u.waitForBotMessage((m) => (m.text ?? "").includes(`alert #${id}`));
    u.pressButton(msg.message_id, `alert:notme:${id}`);
    expect((await u.waitForBotMessage()).text).toContain("To revoke all your exchange keys now");
    u.sendText(totpCode(secret) === "000000" ? "111111" : "000000");
    await u.waitForBotMessage();
    const active = async () =>
      (
        await db.query(
          "select count(*)::int as n from exchange_credentials where user_id = $1 and revoked_at is null",
          [gina.id],
        )
      ).rows[0].n as number;
    expect(await active()).toBe(1);
    u.sendText(nextTotpCode(secret));
    expect((await u.waitForBotMessage((m) => (m.text ?? "").startsWith("🔒"))).text).toContain(
      "Revoked 1 exchange key(s)",
    );
    expect(await active()).toBe(0);
  });
});

describe("admin", () => {
  it("when a non-admin sends /anomalies, then it is an unknown command; an admin must unlock with a code first, then sees the findings", async () => {
    const a = tg.user({ id: ALICE_TG, first_name: "alice" });
    tg.discardBotMessages(ALICE_TG);
    a.sendText("/anomalies");
    expect((await a.waitForBotMessage()).text).toMatch(/^Unknown command \/anomalies/);

    const boss = tg.user({ id: ADMIN_TG, first_name: "admin" });
    tg.discardBotMessages(ADMIN_TG);
    boss.sendText("/anomalies");
    expect((await boss.waitForBotMessage()).text).toBe(
      "Admin commands are locked: send /admin first.",
    );
    const secret = await enrolTotp(admin);
    boss.sendText("/admin");
    await boss.waitForBotMessage();
    boss.sendText(nextTotpCode(secret));
    expect((await boss.waitForBotMessage()).text).toContain("Admin commands unlocked");
    boss.sendText("/anomalies");
    const list = await boss.waitForBotMessage();
    const { rows } = await db.query(
      "select id::text as id, rule from anomalies order by created_at desc, anomalies.id desc limit 1",
    );
    expect(list.text).toContain(`#${rows[0].id} `);
    expect(list.text).toContain(`— ${rows[0].rule} —`);
    expect(list.text).toContain("user says: NOT ME");
  });
});

describe("Telegram delivery", () => {
  it("when Telegram answers 429 with retry_after, then the alert is sent once the wait is over and logged sent", async () => {
    const hank = await account("hank", HANK_TG);
    await clock.advance(DAY);
    tg.discardBotMessages(HANK_TG);
    await openAndClose(hank, "192.0.2.88");
    const before = tg.callsTo("sendMessage").filter((c) => c.error_code === 429).length;
    tg.failNext("sendMessage", {
      error_code: 429,
      description: "Too Many Requests: retry after 1",
      parameters: { retry_after: 1 },
    });
    const [id] = await ofRule(await scan(), "new_ip");
    await tg.waitForBotMessage(HANK_TG, (m) => (m.text ?? "").includes(`alert #${id}`), 15_000);
    await tg.waitForBotMessage(ADMIN_TG, (m) => (m.text ?? "").includes(`Anomaly #${id}`), 15_000);
    for (const [audience, chat] of [
      ["user", HANK_TG],
      ["admin", ADMIN_TG],
    ] as const) {
      await (await Job.fromId(queue, `tg-${id}-${audience}-${chat}`))!.waitUntilFinished(events);
    }
    expect(tg.callsTo("sendMessage").filter((c) => c.error_code === 429).length).toBe(before + 1);
    const { rows } = await db.query(
      "select outcome, count(*)::int as n from alert_deliveries where anomaly_id = $1 and channel = 'telegram' group by 1 order by 1",
      [id],
    );
    expect(rows).toEqual([
      { outcome: "queued", n: 2 },
      { outcome: "sent", n: 2 },
    ]);
  });

  it("when the user has blocked the bot, then the Telegram attempt is logged failed once (no retries) and the admins still get their copy", async () => {
    const ivy = await account("ivy", IVY_TG);
    tg.user({ id: IVY_TG, first_name: "ivy" }).blockBot();
    await clock.advance(DAY);
    await openAndClose(ivy, "192.0.2.99");
    const [id] = await ofRule(await scan(), "new_ip");
    await tg.waitForBotMessage(ADMIN_TG, (m) => (m.text ?? "").includes(`Anomaly #${id}`));
    const job = await Job.fromId(queue, `tg-${id}-user-${IVY_TG}`);
    await expect(job!.waitUntilFinished(events)).rejects.toThrow(/403/);
    const { rows } = await db.query(
      "select attempt, outcome, detail from alert_deliveries where anomaly_id = $1 and audience = 'user' and channel = 'telegram' and outcome <> 'queued'",
      [id],
    );
    expect(rows).toEqual([
      { attempt: 1, outcome: "failed", detail: "403 Forbidden: bot was blocked by the user" },
    ]);
  });
});

describe("this was me", () => {
  it("when the user presses “This was me”, then the verdict is recorded and the buttons go; another user's alert cannot be answered over the API", async () => {
    const { rows } = await db.query(
      "select id::text as id from anomalies where user_id = $1 and delivery = 'delivered' order by anomalies.id desc limit 1",
      [alice.id],
    );
    const id = rows[0].id as string;
    const msg = tg
      .history(ALICE_TG)
      .find((m) => m.from === "bot" && (m.text ?? "").includes(`alert #${id}`));
    expect(msg).toBeDefined();
    tg.discardBotMessages(ALICE_TG);
    const u = tg.user({ id: ALICE_TG, first_name: "alice" });
    u.pressButton(msg!.message_id, `alert:me:${id}`);
    expect((await u.waitForBotMessage()).text).toBe(
      `Thanks: alert #${id} is marked as your own activity.`,
    );
    const after = tg.history(ALICE_TG).find((m) => m.message_id === msg!.message_id);
    expect(after?.reply_markup?.inline_keyboard ?? []).toEqual([]);
    expect((await db.query("select verdict from anomalies where id = $1", [id])).rows[0]).toEqual({
      verdict: "me",
    });

    const other = await api("POST", `/api/alerts/${id}/me`, { token: admin.token });
    expect(other.status).toBe(404);
    expect((await api("POST", "/api/alerts/abc/me", { token: alice.token })).status).toBe(400);
    expect((await api("POST", `/api/alerts/${id}/me`, { token: alice.token })).status).toBe(204);
  });
});
