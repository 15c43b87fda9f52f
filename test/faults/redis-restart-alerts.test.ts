// Fault: Redis dies (SIGKILL, no persistence) while a worker is fanning alerts out to Telegram,
// and comes back empty: every queued dispatch and Telegram job is gone. The findings and the
// delivery log live in PostgreSQL, so the scans after the recovery must hand over what was not
// sent, and the log must keep what was, so that each user's chat gets its alert exactly once,
// from the same worker process, without a restart.
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase, testEnv } from "../support/context";
import { type PrivateRedis, startPrivateRedis } from "../support/private-services";
import { baseEnv, type Spawned, spawnProcess } from "../support/process";
import { startTelegramEmulator, type TelegramEmulator } from "../support/telegram";

// More findings than the alerts queue runs at once (30), so part of the fan-out waits in Redis.
const USERS = 90;
const FIRST_TG = 8100;
const PREFIX = "faultalerts:";

let redis: PrivateRedis;
let db: TestDatabase;
let tg: TelegramEmulator;
let worker: Spawned;
let sql: pg.Client;
const anomalyOf = new Map<number, string>(); // Telegram chat → finding

beforeAll(async () => {
  redis = await startPrivateRedis();
  db = await createTestDatabase();
  tg = await startTelegramEmulator();
  sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
  // Users whose chats have written to the bot, alerted on Telegram only, each with one
  // undecided new_ip finding stored ten minutes ago: the first scan hands them all over at once.
  for (let i = 0; i < USERS; i++) {
    const chat = FIRST_TG + i;
    tg.user({ id: chat, first_name: `u${i}` }).sendText("/start");
    const { rows } = await sql.query(
      "insert into users (email, telegram_user_id) values ($1, $2) returning id::text as id",
      [`fanout${i}@example.com`, chat],
    );
    const userId = rows[0].id as string;
    await sql.query(
      "insert into alert_preferences (user_id, telegram, email, websocket) values ($1, true, false, false)",
      [userId],
    );
    const at = new Date(Date.now() - 10 * 60_000).toISOString();
    const { rows: a } = await sql.query(
      `insert into anomalies (user_id, rule, window_start, window_end, evidence, created_at, alert)
       values ($1, 'new_ip', $2, $2, $3, $2, true) returning id::text as id`,
      [
        userId,
        at,
        JSON.stringify({
          lookbackDays: 30,
          ips: [
            { ip: `192.0.2.${i + 1}`, action: "open", symbol: "BTC", at, lastSeenBefore: null },
          ],
        }),
      ],
    );
    anomalyOf.set(chat, a[0].id as string);
  }
}, 120_000);

afterAll(async () => {
  worker?.kill("SIGKILL");
  await worker?.exited;
  await sql?.end();
  await tg?.close();
  await redis?.destroy();
  await db?.drop();
});

const botMessages = (chat: number) => tg.history(chat).filter((m) => m.from === "bot");
const chats = () => [...anomalyOf.keys()];

async function until(what: string, ok: () => Promise<boolean> | boolean, timeoutMs: number) {
  const end = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Each finding with its delivery and its Telegram copy's log, in order. */
async function findings() {
  const { rows } = await sql.query(
    `select a.id::text as id, a.delivery,
       count(d.id) filter (where d.outcome = 'sent')::int as sent,
       coalesce(string_agg(d.outcome, ',' order by d.id), '') as log
     from anomalies a left join alert_deliveries d on d.anomaly_id = a.id
     group by a.id order by a.id`,
  );
  return rows as Array<{ id: string; delivery: string; sent: number; log: string }>;
}

/** Each finding's log ends with its copy sent: the last entry, in order, is 'sent'. */
const lastOutcome = (log: string) => log.split(",").at(-1);

// Issue 18: a copy whose Telegram job was queued in Redis ('queued' in the log) or whose hand-off
// failed during the outage ('failed') belongs to a finding already decided 'delivered'; the scan
// hands such a copy over again once its log has been quiet for ALERT_RESEND_AFTER_SECONDS and its
// job is gone, under the copy's own job id: every chat gets its alert, exactly once.
describe("fault: Redis restart during an alert fan-out", () => {
  let pid: number | undefined;

  it("when Redis restarts empty in the middle of an alert fan-out, then the same worker registers its scan again, the next scans hand over every finding the outage left undecided and every copy it lost, and every chat gets its alert exactly once", async () => {
    // Redis dies the moment the third copy has reached its chat: the rest of the fan-out (waiting
    // dispatches, queued Telegram jobs) is in Redis only.
    let arrived = 0;
    let killed: Promise<void> | undefined;
    tg.subscribe((e) => {
      if (e.type !== "message" || e.entry.from !== "bot") return;
      arrived += 1;
      if (arrived === 3 && !killed) killed = redis.stop();
    });
    worker = spawnProcess(
      "node",
      ["--import", "tsx", "src/main.ts", "--roles", "worker"],
      baseEnv(
        testEnv({
          DATABASE_URL: db.url,
          REDIS_URL: redis.url,
          REDIS_PREFIX: PREFIX,
          TELEGRAM_BOT_TOKEN: tg.token,
          TELEGRAM_API_ROOT: tg.apiRoot,
          ANOMALY_SCAN_EVERY_MINUTES: "1",
          ALERT_RESEND_AFTER_SECONDS: "10",
          LOG_LEVEL: "info",
        }),
      ),
    );
    await worker.waitForOutput(/worker role started/, 90_000);
    pid = worker.child.pid;
    await until("the first copies of the fan-out", () => killed !== undefined, 90_000);
    await killed;
    // The outage hit the fan-out in its middle, not after it.
    expect(chats().filter((c) => botMessages(c).length > 0).length).toBeLessThan(USERS);
    await new Promise((r) => setTimeout(r, 2_000));
    await redis.start();

    const conn = new Redis(redis.url, { maxRetriesPerRequest: null });
    const queue = new Queue("alerts", { connection: conn, prefix: `${PREFIX}bull` });
    try {
      // The scan (every minute) hands over findings undecided for two minutes; none is left.
      await until(
        "no finding left undecided",
        async () => (await findings()).every((f) => f.delivery !== "pending"),
        200_000,
      );
      expect((await queue.getJobSchedulers()).map((s) => s.key)).toContain("anomaly-scan");
      // The scans after that hand over again the copies the outage lost, once quiet for 10 s.
      await until(
        "every copy sent",
        async () => (await findings()).every((f) => f.sent >= 1),
        200_000,
      );
      // One more scan after that, and the fan-out drained: nothing is sent twice.
      const scan = await queue.add("scan", {});
      await until("one more scan", async () => (await scan.getState()) === "completed", 60_000);
      await until(
        "the alerts queue to drain",
        async () => {
          // The scheduler's next scan always waits, delayed.
          const jobs = await queue.getJobs(["waiting", "active", "delayed", "prioritized"]);
          return jobs.every((j) => j.name === "scan" && j.id !== scan.id);
        },
        60_000,
      );
    } finally {
      await queue.close();
      conn.disconnect();
    }

    const all = await findings();
    expect(all).toHaveLength(USERS);
    for (const f of all) {
      expect(f, `finding ${f.id}`).toMatchObject({ delivery: "delivered" });
      expect(f.sent, `finding ${f.id}: ${f.log}`).toBe(1);
      expect(lastOutcome(f.log), `finding ${f.id}: ${f.log}`).toBe("sent");
    }
    // Each chat shows what the log says was sent to it: exactly one alert, its own.
    for (const chat of chats()) {
      const f = all.find((x) => x.id === anomalyOf.get(chat))!;
      const got = botMessages(chat);
      expect(got, `chat ${chat}`).toHaveLength(1);
      for (const m of got) expect(m.text).toContain(`alert #${f.id}`);
    }
    // Nothing went out on a channel the users had switched off, and no admin copy (none set).
    const { rows: others } = await sql.query(
      "select count(*)::int as n from alert_deliveries where channel <> 'telegram' or audience <> 'user'",
    );
    expect(others[0].n).toBe(0);
    expect(worker.child.pid).toBe(pid);
    expect(worker.child.exitCode).toBeNull();
  }, 420_000);
});
