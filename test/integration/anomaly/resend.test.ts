// Issue 18, the resend rule: a delivered alert's Telegram or email copy that was handed to a queue
// and lost there (Redis restarted empty) is handed over again by the scan, once its log has been
// quiet longer than the grace; a copy whose job the queue still holds, a copy refused for good and
// a copy inside the grace are left alone. Real PostgreSQL, Redis, BullMQ and Bot API emulator;
// the log's entries are written as if made ten minutes ago (no waiting on the grace).
import type { MikroORM } from "@mikro-orm/postgresql";
import type { Queue } from "bullmq";
import { Redis } from "ioredis";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DispatchDeps, RESEND_AFTER_MS, userAlertText } from "../../../src/domain/alerts";
import { type AnomalyRule, DEFAULT_THRESHOLDS } from "../../../src/domain/anomaly";
import { parseAccountKeys } from "../../../src/domain/vault/key-ring";
import { createAlertDedup, createAlertStore } from "../../../src/infra/alerts-store";
import { createAnomalyScanStore } from "../../../src/infra/anomaly-store";
import { createOrm, sqlOf } from "../../../src/infra/database";
import { createLogger } from "../../../src/infra/logger";
import { createScrubber } from "../../../src/infra/scrub";
import { createTelegramSender } from "../../../src/infra/telegram";
import { alertEmailJobId, createEmailOutbox } from "../../../src/jobs/email-outbox";
import {
  alertCopyHeld,
  alertsTelegramSender,
  createAlertsProcessor,
  telegramCopyJobId,
} from "../../../src/jobs/processors/alerts";
import {
  createQueueRegistry,
  type QueueRegistry,
  startWorkers,
  type WorkerPool,
} from "../../../src/jobs/registry";
import {
  createTestDatabase,
  createTestRedis,
  fernetKey,
  type TestDatabase,
  type TestRedis,
} from "../../support/context";
import { startTelegramEmulator, type TelegramEmulator } from "../../support/telegram";

const MIN = 60_000;
/** An admin by ADMIN_TELEGRAM_IDS, without an account: their entries are told apart by chat. */
const ADMIN = 8_799;
/** Every entry of the seeded log: twice the grace ago. */
const LONG_AGO = () => new Date(Date.now() - 2 * RESEND_AFTER_MS).toISOString();

let db: TestDatabase;
let redisCtx: TestRedis;
let redis: Redis;
let conn: Redis;
let orm: MikroORM;
let sql: pg.Client;
let tg: TelegramEmulator;
let queues: QueueRegistry;
let alertsQ: Queue;
let emailQ: Queue;
let workers: WorkerPool | undefined;
let deps: DispatchDeps;

/** Each case: a user, their delivered finding and the chat (or address) of its one copy. */
interface Case {
  userId: string;
  anomalyId: string;
  chat: number;
}
const cases: Record<string, Case> = {};
const tgJobId = (c: Case) =>
  telegramCopyJobId({ anomalyId: c.anomalyId, audience: "user", chatId: c.chat });

beforeAll(async () => {
  db = await createTestDatabase();
  redisCtx = createTestRedis();
  redis = new Redis(redisCtx.url, { keyPrefix: redisCtx.prefix });
  conn = new Redis(redisCtx.url, { maxRetriesPerRequest: null });
  orm = await createOrm({ url: db.url, poolMax: 4 });
  sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
  tg = await startTelegramEmulator();
  queues = createQueueRegistry(conn, `${redisCtx.prefix}bull`);
  alertsQ = queues.get("alerts");
  emailQ = queues.get("email");
  const store = createAlertStore(sqlOf(orm), { adminTelegramIds: [ADMIN] });
  tg.user({ id: ADMIN, first_name: "admin" }).sendText("/start");
  deps = {
    store,
    dedup: createAlertDedup(redis),
    senders: {
      telegram: alertsTelegramSender(alertsQ),
      outbox: createEmailOutbox({
        queue: emailQ,
        accountKeys: { ring: parseAccountKeys(`1:${fernetKey()}`), legacy: undefined },
      }),
      websocket: async () => {
        throw new Error("no WebSocket copy is resent");
      },
      held: alertCopyHeld(alertsQ, emailQ),
    },
    dedupWindowMs: 30 * MIN,
    publicUrl: "https://warden.example",
    now: Date.now,
  };
  let chat = 8_700;
  for (const name of ["lost", "transient", "held", "blocked", "fresh", "mailHeld", "mailLost"]) {
    chat += 1;
    const mail = name.startsWith("mail");
    tg.user({ id: chat, first_name: name }).sendText("/start");
    const { rows } = await sql.query(
      `insert into users (email, email_confirmed_at, telegram_user_id) values ($1, now(), $2)
       returning id::text as id`,
      [`resend-${name.toLowerCase()}@example.com`, chat],
    );
    const userId = rows[0].id as string;
    await sql.query(
      "insert into alert_preferences (user_id, telegram, email, websocket) values ($1, $2, $3, false)",
      [userId, !mail, mail],
    );
    const at = LONG_AGO();
    const { rows: a } = await sql.query(
      `insert into anomalies (user_id, rule, window_start, window_end, evidence, created_at, alert,
         delivery, decided_at)
       values ($1, 'new_ip', $2, $2, $3, $2, true, 'delivered', $2) returning id::text as id`,
      [
        userId,
        at,
        JSON.stringify({
          lookbackDays: 30,
          ips: [{ ip: "192.0.2.7", action: "open", symbol: "BTC", at, lastSeenBefore: null }],
        }),
      ],
    );
    cases[name] = { userId, anomalyId: a[0].id as string, chat };
  }
  const c = (name: string) => cases[name]!;
  // The hand-off of every copy, long ago; then what became of it.
  for (const [name, { userId, anomalyId }] of Object.entries(cases)) {
    const channel = name.startsWith("mail") ? "email" : "telegram";
    await log(anomalyId, userId, channel, "queued", name === "fresh" ? null : LONG_AGO());
  }
  await log(c("transient").anomalyId, c("transient").userId, "telegram", "failed", LONG_AGO(), {
    detail: "502 Bad Gateway",
  });
  // The admin's copy of the "lost" finding only: its hand-off failed while Redis was away. The
  // other findings' admin copies were never handed over (as if the admin was added since).
  for (const [outcome, detail] of [
    ["queued", `t${ADMIN}`],
    ["failed", `t${ADMIN} MaxRetriesPerRequestError`],
  ] as const) {
    await log(c("lost").anomalyId, null, "telegram", outcome, LONG_AGO(), {
      detail,
      audience: "admin",
    });
  }
  tg.user({ id: c("blocked").chat, first_name: "blocked" }).blockBot();
  await log(c("blocked").anomalyId, c("blocked").userId, "telegram", "failed", LONG_AGO(), {
    detail: "403 Forbidden: bot was blocked by the user",
    final: true,
  });
  // Still queued: a Telegram copy waiting out a retry's backoff, and a mail no worker took yet.
  await alertsQ.add(
    "telegram",
    {
      anomalyId: c("held").anomalyId,
      audience: "user",
      recipientUserId: c("held").userId,
      chatId: c("held").chat,
    },
    { jobId: tgJobId(c("held")), delay: 60 * MIN },
  );
  await deps.senders.outbox.send(
    { to: "resend-mailheld@example.com", subject: "Warden alert", text: "queued before" },
    {
      kind: "alert",
      id: c("mailHeld").anomalyId,
      audience: "user",
      recipient: c("mailHeld").userId,
    },
  );
  const logger = createLogger({ level: "silent", pretty: false, scrubber: createScrubber() });
  // The real alerts processor (scan and Telegram sends); no email worker: mails stay queued.
  workers = startWorkers({
    connection: () => new Redis(redisCtx.url, { maxRetriesPerRequest: null }),
    prefix: `${redisCtx.prefix}bull`,
    processors: {
      alerts: createAlertsProcessor({
        scan: {
          store: createAnomalyScanStore(orm),
          now: Date.now,
          thresholds: DEFAULT_THRESHOLDS,
          alerting: new Set<AnomalyRule>(["new_ip"]),
        },
        dispatch: deps,
        store,
        queue: alertsQ,
        telegram: createTelegramSender({ token: tg.token, apiRoot: tg.apiRoot }),
        logger,
      }),
    },
    logger,
  });
  await scan();
}, 120_000);

afterAll(async () => {
  await workers?.close(5_000);
  await queues?.close();
  conn?.disconnect();
  redis?.disconnect();
  await redisCtx?.cleanup();
  await sql?.end();
  await orm?.close();
  await tg?.close();
  await db?.drop();
});

async function log(
  anomalyId: string,
  userId: string | null,
  channel: "telegram" | "email",
  outcome: "queued" | "failed",
  at: string | null,
  opts: { detail?: string; final?: boolean; audience?: "user" | "admin" } = {},
) {
  await sql.query(
    `insert into alert_deliveries (anomaly_id, audience, recipient_user_id, channel, attempt,
       outcome, detail, final, created_at)
     values ($1, $2, $3, $4, 1, $5, $6, $7, coalesce($8::timestamptz, now()))`,
    [
      anomalyId,
      opts.audience ?? "user",
      userId,
      channel,
      outcome,
      opts.detail ?? null,
      opts.final ?? false,
      at,
    ],
  );
}

async function until(what: string, ok: () => Promise<boolean> | boolean, timeoutMs = 30_000) {
  const end = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** One run of the scan job, as the scheduler queues it; resolves once it completed. */
async function drained(): Promise<void> {
  await until("the alerts queue to drain", async () => {
    const n = await alertsQ.getJobCounts("waiting", "active", "prioritized");
    return (n.waiting ?? 0) + (n.active ?? 0) + (n.prioritized ?? 0) === 0;
  });
}

async function scan(): Promise<void> {
  const job = await alertsQ.add("scan", {});
  await until("the scan", async () => (await job.getState()) === "completed");
}

const alertsIn = (chat: number) =>
  tg.history(chat).filter((m) => m.from === "bot" && (m.text ?? "").includes("alert #"));

/** The outcomes of a copy's log in order, `resend` marking a hand-off made again. */
async function logOf(c: Case, audience: "user" | "admin" = "user") {
  const { rows } = await sql.query(
    `select outcome, detail from alert_deliveries where anomaly_id = $1 and audience = $2
     order by id`,
    [c.anomalyId, audience],
  );
  return rows.map((r) =>
    String(r.detail ?? "").endsWith("resend") ? `${r.outcome}:resend` : r.outcome,
  );
}

describe("resending lost alert copies", () => {
  it("when a delivered alert's Telegram copy was queued longer ago than the grace and its job is gone from Redis, then the scan sends it once, also after a failure for now, and later scans send nothing more", async () => {
    for (const name of ["lost", "transient"]) {
      const c = cases[name]!;
      await until(`the ${name} copy`, () => alertsIn(c.chat).length > 0);
    }
    await scan();
    await scan();
    await drained();
    const lost = cases.lost!;
    expect(alertsIn(lost.chat)).toHaveLength(1);
    expect(alertsIn(lost.chat)[0]!.text).toContain(`alert #${lost.anomalyId}`);
    expect(alertsIn(cases.transient!.chat)).toHaveLength(1);
    expect(await logOf(lost)).toEqual(["queued", "queued:resend", "sent"]);
    expect(await logOf(cases.transient!)).toEqual(["queued", "failed", "queued:resend", "sent"]);
  });

  it("when an admin without an account lost a copy, then it is resent once under their chat; admin copies never handed over (an admin added since) are not sent", async () => {
    const lost = cases.lost!;
    const adminCopies = () =>
      tg.history(ADMIN).filter((m) => m.from === "bot" && (m.text ?? "").includes("Anomaly #"));
    await until("the admin's copy", () => adminCopies().length > 0);
    await scan();
    await drained();
    const got = adminCopies();
    expect(got).toHaveLength(1);
    expect(got[0]!.text).toContain(`Anomaly #${lost.anomalyId}`);
    expect(await logOf(lost, "admin")).toEqual(["queued", "failed", "queued:resend", "sent"]);
    for (const c of Object.values(cases).filter((x) => x !== lost)) {
      expect(await logOf(c, "admin"), `finding ${c.anomalyId}`).toEqual([]);
    }
  });

  it("when the copy's job is still in the queue (waiting out a backoff), then the scan queues no second one and the chat gets the alert once", async () => {
    const c = cases.held!;
    expect(await logOf(c)).toEqual(["queued"]);
    const job = await alertsQ.getJob(tgJobId(c));
    expect(await job!.getState()).toBe("delayed");
    await job!.promote();
    await until("the held copy", () => alertsIn(c.chat).length > 0);
    await scan();
    await drained();
    expect(alertsIn(c.chat)).toHaveLength(1);
    expect(alertsIn(c.chat)[0]!.text).toBe(
      userAlertText((await deps.store.get(c.anomalyId))!).slice(0, 4096),
    );
    expect(await logOf(c)).toEqual(["queued", "sent"]);
  });

  it("when the copy failed for good (the user blocked the bot), then the scan does not retry it", async () => {
    const c = cases.blocked!;
    await scan();
    expect(await alertsQ.getJob(tgJobId(c))).toBeUndefined();
    expect(alertsIn(c.chat)).toEqual([]);
    expect(await logOf(c)).toEqual(["queued", "failed"]);
  });

  it("when the copy was handed over within the grace, then the scan leaves it alone", async () => {
    const c = cases.fresh!;
    await scan();
    expect(await alertsQ.getJob(tgJobId(c))).toBeUndefined();
    expect(alertsIn(c.chat)).toEqual([]);
    expect(await logOf(c)).toEqual(["queued"]);
  });

  it("when an email copy's job is still queued, then no second mail is queued; when it is gone, then one is queued under the copy's job id, once", async () => {
    await scan();
    const held = cases.mailHeld!;
    const lost = cases.mailLost!;
    const mails = await emailQ.getJobs(["waiting", "delayed", "active", "completed", "failed"]);
    expect(mails.map((j) => j.id).sort()).toEqual(
      [
        alertEmailJobId({
          kind: "alert",
          id: held.anomalyId,
          audience: "user",
          recipient: held.userId,
        }),
        alertEmailJobId({
          kind: "alert",
          id: lost.anomalyId,
          audience: "user",
          recipient: lost.userId,
        }),
      ].sort(),
    );
    expect(await logOf(held)).toEqual(["queued"]);
    expect(await logOf(lost)).toEqual(["queued", "queued:resend"]);
  });
});
