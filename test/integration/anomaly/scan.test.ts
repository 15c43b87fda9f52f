// The anomaly scan on real PostgreSQL and the alert dedup on real Redis, with a driven clock:
// two "processes" (separate connection pools) scanning at once flag and hand off each finding
// once; a skipped run is caught up by the next; the dedup holds across concurrent dispatches.
import type { MikroORM } from "@mikro-orm/postgresql";
import { Queue, UnrecoverableError, Worker } from "bullmq";
import { Redis } from "ioredis";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Migration20261125090000Anomalies } from "../../../migrations/20261125090000-anomalies";
import type { EmailMessage } from "../../../src/domain/accounts/email";
import { type DispatchDeps, dispatchAlert } from "../../../src/domain/alerts";
import {
  DEFAULT_THRESHOLDS,
  runAnomalyScan,
  type ScanDeps,
  type ScanReport,
} from "../../../src/domain/anomaly";
import type { AuditEntry } from "../../../src/domain/trading/trading";
import { createAlertDedup, createAlertStore } from "../../../src/infra/alerts-store";
import {
  ANOMALY_SCAN_LOCK_KEY,
  createAnomalyScanStore,
  recordActivity,
} from "../../../src/infra/anomaly-store";
import { createOrm, sqlOf } from "../../../src/infra/database";
import {
  ANOMALY_SCAN_SCHEDULER_ID,
  alertsQueueDispatcher,
  scheduleAnomalyScan,
} from "../../../src/jobs/processors/alerts";
import {
  createTestDatabase,
  createTestRedis,
  type TestDatabase,
  type TestRedis,
} from "../../support/context";
import { seedPaperUsers } from "../../support/trading-fixtures";

const MIN = 60_000;
const DAY = 24 * 60 * MIN;
let clock = Date.parse("2026-12-01T08:00:00.000Z");
let db: TestDatabase;
let redisCtx: TestRedis;
let redis: Redis;
let ormA: MikroORM;
let ormB: MikroORM;
let users: string[];

beforeAll(async () => {
  db = await createTestDatabase();
  redisCtx = createTestRedis();
  redis = new Redis(redisCtx.url, { keyPrefix: redisCtx.prefix });
  ormA = await createOrm({ url: db.url, poolMax: 4 });
  ormB = await createOrm({ url: db.url, poolMax: 4 });
  users = await seedPaperUsers(ormA, 6, 5_500_000);
});

afterAll(async () => {
  await ormA?.close();
  await ormB?.close();
  redis?.disconnect();
  await redisCtx?.cleanup();
  await db?.drop();
});

/** A trade action of `userId` (an API open of BTC unless `opts` says otherwise). */
const action = (userId: string, opts: Partial<AuditEntry> = {}): AuditEntry => ({
  userId,
  action: "open",
  tradeId: null,
  venue: "paper",
  symbol: "BTC/USDT:USDT",
  details: {},
  source: "api",
  ip: "203.0.113.9",
  outcome: "ok",
  ...opts,
});

/** One trade action at the current clock time (the same row the trading use cases write). */
async function act(userId: string, opts: Partial<AuditEntry> = {}): Promise<void> {
  await recordActivity(sqlOf(ormA), action(userId, opts), clock);
}

/**
 * The scan reads only what every transaction older than it has settled, and transaction ids are
 * cluster-wide: waits until every transaction that began before now has ended (another test
 * file's long transaction would otherwise hold the scan back and make it see nothing).
 */
async function settled(): Promise<void> {
  const sql = sqlOf(ormA);
  const [me] = await sql("select txid_current()::text as x");
  const mine = BigInt(me!.x as string);
  for (let i = 0; i < 300; i++) {
    const [r] = await sql("select pg_snapshot_xmin(pg_current_snapshot())::text as xmin");
    if (BigInt(r!.xmin as string) > mine) return;
    await new Promise((res) => setTimeout(res, 100));
  }
}

/**
 * A scan as one worker process runs it: its own pool, the shared clock, a recording hand-off.
 * It waits for the writes before it to settle unless told not to (a test holding a transaction
 * open on purpose).
 */
function scanner(
  orm: MikroORM,
  handed: string[],
  batchSize?: number,
  opts: { settle?: boolean } = {},
): () => Promise<ScanReport> {
  const deps: ScanDeps = {
    store: createAnomalyScanStore(orm),
    now: () => clock,
    thresholds: DEFAULT_THRESHOLDS,
    alerting: new Set(["rapid_fire", "new_ip"]),
    // The alerts side takes each finding and decides it (as the dispatch job does).
    dispatch: async (ids) => {
      handed.push(...ids);
      await sqlOf(orm)(
        "update anomalies set delivery = 'delivered' where id = any(?::bigint[]) and delivery = 'pending'",
        [`{${ids.join(",")}}`],
      );
    },
    batchSize,
  };
  return async () => {
    if (opts.settle !== false) await settled();
    return runAnomalyScan(deps);
  };
}

const findings = async () =>
  (
    await sqlOf(ormA)(
      "select id::text as id, user_id::text as user_id, rule from anomalies order by anomalies.id",
    )
  ).map((r) => ({ id: r.id as string, userId: r.user_id as string, rule: r.rule as string }));

const alerting = async () => (await findings()).filter((f) => f.rule !== "new_symbol");

describe("anomaly scan", () => {
  it("when two workers scan at the same moment, again and again, then each finding is stored and handed off exactly once", async () => {
    const handedA: string[] = [];
    const handedB: string[] = [];
    const a = scanner(ormA, handedA);
    const b = scanner(ormB, handedB);
    const statuses: string[] = [];
    for (let round = 0; round < 6; round++) {
      clock += 10 * MIN;
      // Every user bursts 11 opens from a new IP: a rapid_fire and a new_ip finding each.
      for (const u of users) {
        for (let i = 0; i < 11; i++) await act(u, { ip: `198.51.100.${round + 1}` });
      }
      const [ra, rb] = await Promise.all([a(), b()]);
      statuses.push(ra.status, rb.status);
      // Whatever the interleaving, a run right after catches up with nothing left to do.
      const again = await b();
      expect(again.scanned).toBe(0);
    }
    const stored = await alerting();
    expect(stored).toHaveLength(6 * users.length * 2);
    const handed = [...handedA, ...handedB].sort();
    expect(handed).toEqual(stored.map((f) => f.id).sort());
    expect(new Set(handed).size).toBe(handed.length);
    // Each (user, rule) once per round: no double flag.
    const perUserRule = new Map<string, number>();
    for (const f of stored) {
      const k = `${f.userId}:${f.rule}`;
      perUserRule.set(k, (perUserRule.get(k) ?? 0) + 1);
    }
    expect([...perUserRule.values()].every((n) => n === 6)).toBe(true);
    expect(statuses.every((s) => s === "done" || s === "busy")).toBe(true);
  });

  it("when another process holds the scan lock, then a run scans nothing and says busy; once released, it catches up", async () => {
    clock += 10 * MIN;
    for (let i = 0; i < 11; i++) await act(users[2]!, { ip: "198.51.100.3" });
    const other = new pg.Client({ connectionString: db.url });
    await other.connect();
    try {
      await other.query("select pg_advisory_lock($1)", [ANOMALY_SCAN_LOCK_KEY]);
      const handed: string[] = [];
      const scan = scanner(ormB, handed);
      expect(await scan()).toMatchObject({ status: "busy", scanned: 0 });
      expect(handed).toEqual([]);
      await other.query("select pg_advisory_unlock($1)", [ANOMALY_SCAN_LOCK_KEY]);
      expect(await scan()).toMatchObject({ status: "done", scanned: 11, findings: 1 });
      expect(handed).toHaveLength(1);
    } finally {
      await other.end();
    }
  });

  it("when the same window is scanned twice (a watermark lost), then the unique window refuses the duplicates and nothing is handed off twice", async () => {
    const handed: string[] = [];
    const scan = scanner(ormA, handed);
    clock += 10 * MIN;
    // From a known IP: only the rapid_fire finding.
    for (let i = 0; i < 11; i++) await act(users[0]!, { ip: "198.51.100.6" });
    const [mark] = await sqlOf(ormA)("select value from app_state where key = 'anomaly_scan'");
    expect((await scan()).findings).toBe(1);
    await sqlOf(ormA)("update app_state set value = ?::jsonb where key = 'anomaly_scan'", [
      JSON.stringify(mark!.value),
    ]);
    const replay = await scan();
    expect(replay.scanned).toBe(11);
    expect(replay.findings).toBe(0);
    expect(handed).toHaveLength(1);
  });

  it("when an action with a lower id commits after a scan has passed a higher one, then a later run still covers it", async () => {
    const handed: string[] = [];
    const scan = scanner(ormA, handed);
    clock += 40 * MIN;
    await scan(); // start from a settled watermark
    // A trade's statement still running: its activity row has drawn its id but not committed.
    const slow = new pg.Client({ connectionString: db.url });
    await slow.connect();
    try {
      await slow.query("begin");
      await recordActivity(
        (q, p = []) => {
          let i = 0;
          return slow
            .query(
              q.replace(/\?/g, () => `$${++i}`),
              p,
            )
            .then((r) => r.rows);
        },
        action(users[4]!, { ip: "192.0.2.44" }), // never seen on this account: new_ip
        clock,
      );
      // Meanwhile another action (a higher id) commits, and a run scans.
      await act(users[5]!, { ip: "198.51.100.6" });
      // (This run cannot wait for the open transaction to settle: that is the point.)
      const during = await scanner(ormA, handed, undefined, { settle: false })();
      expect(during.scanned).toBe(0); // the later row waits behind the one still running
      await slow.query("commit");
    } finally {
      await slow.end();
    }
    const after = await scan();
    expect(after.scanned).toBe(2);
    const mine = (await findings()).filter((f) => f.userId === users[4]);
    expect(mine.map((f) => f.rule)).toContain("new_ip");
  });

  it("when the worker is down for 20 minutes, then the next run covers the whole gap: nothing is lost", async () => {
    const handed: string[] = [];
    // Small batches: the catch-up takes several transactions, each advancing the watermark.
    const scan = scanner(ormA, handed, 4);
    clock += 10 * MIN;
    expect((await scan()).scanned).toBe(0);
    const start = clock;
    const before = (await alerting()).length;
    // Minute 3: a burst of 11 opens over 2 minutes; minute 15: a trade from a new IP.
    clock = start + 3 * MIN;
    for (let i = 0; i < 11; i++) {
      await act(users[1]!, { ip: "198.51.100.1" });
      clock += 10_000;
    }
    clock = start + 15 * MIN;
    await act(users[2]!, { ip: "192.0.2.200", action: "close" });
    // Runs at +5, +10, +15 never happened; the run at +20 finds both.
    clock = start + 20 * MIN;
    const report = await scan();
    // Three full batches of 4, then one that finds the end.
    expect(report).toMatchObject({ status: "done", scanned: 12, batches: 4 });
    const fresh = (await alerting()).slice(before);
    expect(fresh.map((f) => [f.userId, f.rule])).toEqual([
      [users[1], "rapid_fire"],
      [users[2], "new_ip"],
    ]);
    expect(handed).toEqual(fresh.map((f) => f.id));
    expect((await scan()).scanned).toBe(0);
  });

  it("when the hand-off fails after the findings were stored, then the next run hands them off again", async () => {
    clock += 10 * MIN;
    for (let i = 0; i < 11; i++) await act(users[5]!, { ip: "198.51.100.6" });
    const crashing: ScanDeps = {
      store: createAnomalyScanStore(ormA),
      now: () => clock,
      thresholds: DEFAULT_THRESHOLDS,
      alerting: new Set(["rapid_fire", "new_ip"]),
      dispatch: async () => {
        throw new Error("redis down");
      },
    };
    await expect(runAnomalyScan(crashing)).rejects.toThrow("redis down");
    const [lost] = (await alerting()).slice(-1);
    expect(lost).toMatchObject({ userId: users[5], rule: "rapid_fire" });
    const handed: string[] = [];
    clock += 5 * MIN;
    const report = await scanner(ormA, handed)();
    expect(report).toMatchObject({ scanned: 0, redispatched: 1 });
    expect(handed).toEqual([lost!.id]);
  });

  it("when a burst straddles two runs, then the second run sees it whole", async () => {
    const handed: string[] = [];
    const scan = scanner(ormA, handed);
    clock += 10 * MIN;
    await act(users[3]!, { ip: "198.51.100.1", action: "close" });
    await scan();
    clock += 10 * MIN;
    for (let i = 0; i < 6; i++) await act(users[3]!, { ip: "198.51.100.1" });
    await scan();
    const before = (await alerting()).length;
    clock += 2 * MIN;
    for (let i = 0; i < 5; i++) await act(users[3]!, { ip: "198.51.100.1" });
    await scan();
    const fresh = (await alerting()).slice(before);
    expect(fresh.map((f) => f.rule)).toEqual(["rapid_fire"]);
  });
});

describe("alert dedup", () => {
  it("when two processes dispatch two findings of the same user and rule at once, then exactly one is delivered and the other suppressed", async () => {
    const sent: string[] = [];
    const make = (orm: MikroORM): DispatchDeps => ({
      store: createAlertStore(sqlOf(orm), { adminTelegramIds: [] }),
      dedup: createAlertDedup(redis),
      senders: {
        telegram: async (j) => {
          sent.push(`tg:${j.anomalyId}`);
        },
        outbox: {
          send: async (m: EmailMessage) => {
            sent.push(`mail:${m.subject}`);
          },
        },
        websocket: async (userId) => {
          sent.push(`ws:${userId}`);
        },
      },
      dedupWindowMs: 30 * MIN,
      publicUrl: "https://warden.example",
      now: () => clock,
    });
    const u = users[4]!;
    const insert = async (start: number) =>
      (
        await sqlOf(ormA)(
          `insert into anomalies (user_id, rule, window_start, window_end, evidence, created_at, alert)
           values (?, 'rapid_fire', ?, ?, '{"opens":11,"threshold":10,"windowMinutes":5}', ?, true)
           returning id::text as id`,
          [
            u,
            new Date(start).toISOString(),
            new Date(start).toISOString(),
            new Date(clock).toISOString(),
          ],
        )
      )[0]!.id as string;
    clock += 60 * MIN;
    const first = await insert(clock - 1000);
    const second = await insert(clock - 2000);
    const results = await Promise.all([
      dispatchAlert(make(ormA), first),
      dispatchAlert(make(ormB), second),
    ]);
    expect(results.map((r) => r?.delivery).sort()).toEqual(["delivered", "suppressed"]);
    // The winner's channels: Telegram, email and WebSocket (users have Telegram ids), once each.
    expect(sent).toHaveLength(2);
    expect(sent.filter((s) => s.startsWith("tg:"))).toHaveLength(1);
    expect(sent.filter((s) => s.startsWith("ws:"))).toHaveLength(1);
    // Redelivering the winner's job sends nothing more, and does not flip to suppressed.
    const winner = results[0]!.delivery === "delivered" ? first : second;
    expect((await dispatchAlert(make(ormA), winner))?.delivery).toBe("delivered");
    expect(sent).toHaveLength(2);
    // 29 minutes later: still suppressed; 31 minutes later: delivered.
    clock += 29 * MIN;
    expect((await dispatchAlert(make(ormA), await insert(clock)))?.delivery).toBe("suppressed");
    clock += 2 * MIN;
    expect((await dispatchAlert(make(ormB), await insert(clock)))?.delivery).toBe("delivered");
  });
});

describe("scan scheduler", () => {
  it("when every boot registers the scan, then there is exactly one scheduler, with the stable id and the configured interval", async () => {
    const conn = new Redis(redisCtx.url, { maxRetriesPerRequest: null });
    const queue = new Queue("alerts", { connection: conn, prefix: `${redisCtx.prefix}bull` });
    try {
      await scheduleAnomalyScan(queue, 5);
      await scheduleAnomalyScan(queue, 5);
      expect(await queue.getJobSchedulers()).toEqual([
        expect.objectContaining({ key: ANOMALY_SCAN_SCHEDULER_ID, name: "scan", every: 5 * MIN }),
      ]);
      // A changed interval updates the one scheduler instead of adding a second.
      await scheduleAnomalyScan(queue, 7);
      expect(await queue.getJobSchedulers()).toEqual([
        expect.objectContaining({ key: ANOMALY_SCAN_SCHEDULER_ID, every: 7 * MIN }),
      ]);
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
      conn.disconnect();
    }
  });
});

describe("hand-off again", () => {
  it("when a finding's dispatch job failed for good, then handing it over again retries that job; a lost job is queued anew; a waiting one is left alone", async () => {
    const conn = new Redis(redisCtx.url, { maxRetriesPerRequest: null });
    const queue = new Queue("alerts", { connection: conn, prefix: `${redisCtx.prefix}bull` });
    const dispatcher = alertsQueueDispatcher(queue);
    try {
      await dispatcher(["901", "902"]);
      // 901's dispatch fails for good (attempts used up), as during a long database outage:
      // a worker takes the first job by hand and fails it.
      const failing = new Worker("alerts", null, {
        connection: conn.duplicate(),
        prefix: `${redisCtx.prefix}bull`,
      });
      const taken = await failing.getNextJob("token-1");
      expect(taken?.id).toBe("dispatch-901");
      await taken!.moveToFailed(new UnrecoverableError("database unavailable"), "token-1", false);
      await failing.close();
      const states = async () =>
        Object.fromEntries(
          await Promise.all(
            ["901", "902", "903"].map(async (id) => {
              const job = await queue.getJob(`dispatch-${id}`);
              return [id, job ? await job.getState() : "none"];
            }),
          ),
        );
      expect(await states()).toEqual({ "901": "failed", "902": "waiting", "903": "none" });
      // A plain add with the same id would be ignored: BullMQ keeps the failed job.
      await dispatcher(["901"]);
      expect((await states())["901"]).toBe("failed");

      await dispatcher(["901", "902", "903"], true);
      expect(await states()).toEqual({ "901": "waiting", "902": "waiting", "903": "waiting" });
      expect(await queue.getJobCountByTypes("waiting")).toBe(3);
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
      conn.disconnect();
    }
  });
});

describe("evidence", () => {
  it("when the application's role tries to rewrite activity, delete findings or the delivery log, then PostgreSQL refuses; it can still read and append", async () => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      await client.query("set role warden_app");
      for (const sql of [
        "update trade_activity set ip = null",
        "delete from trade_activity",
        "delete from anomalies",
        "update alert_deliveries set outcome = 'sent'",
        "delete from alert_deliveries",
        "truncate trade_activity",
      ]) {
        await expect(client.query(sql), sql).rejects.toThrow(/permission denied/);
      }
      expect(
        (await client.query("select count(*)::int as n from trade_activity")).rows[0].n,
      ).toBeGreaterThan(0);
      await client.query(
        `insert into trade_activity (user_id, occurred_at, action, outcome, source, symbol, coin)
         values ($1, now(), 'close', 'ok', 'telegram', 'BTC/USDT:USDT', 'BTC')`,
        [users[0]],
      );
      await client.query("update anomalies set verdict = 'me' where user_id = $1", [users[0]]);
    } finally {
      await client.end();
    }
  });
});

describe("upgrade", () => {
  it("when the migration meets accounts with earlier API IPs and trades, then those IPs and coins are known, so the first trade after it is not new", async () => {
    const sql = sqlOf(ormA);
    const u = users[5]!;
    const [cred] = await sql("select id::text as id from exchange_credentials where user_id = ?", [
      u,
    ]);
    await sql(
      `insert into account_ips (user_id, ip, first_seen, last_seen)
       values (?, '198.18.0.7', now() - interval '40 days', now() - interval '3 days')`,
      [u],
    );
    await sql(
      `insert into trades (user_id, credential_id, venue, symbol, side, size, source, opened_at)
       values (?, ?, 'paper', 'WIF/USDT:USDT', 'long', 1, 'api', now() - interval '9 days')`,
      [u, cred!.id],
    );
    // The migration's seeding statements, as the migrator would run them.
    const migration = new Migration20261125090000Anomalies(
      ormA.em.getDriver() as never,
      ormA.config as never,
    );
    await migration.up();
    const seeding = migration
      .getQueries()
      .map(String)
      .filter((q) => /insert into activity_(ip_sightings|coins)/.test(q));
    expect(seeding).toHaveLength(2);
    for (const q of seeding) await sql(q);

    clock += DAY;
    const handed: string[] = [];
    const scan = scanner(ormA, handed);
    await scan();
    await act(u, { ip: "198.18.0.7", symbol: "WIF/USDT:USDT" });
    await act(u, { ip: "198.18.0.8", symbol: "BONK/USDT:USDT" });
    await scan();
    const fresh = await sql(
      "select rule, evidence from anomalies where user_id = ? and created_at = ? order by anomalies.id",
      [u, new Date(clock).toISOString()],
    );
    expect(fresh.map((r) => r.rule)).toEqual(["new_ip", "new_symbol"]);
    const [ip, coin] = fresh.map(
      (r) => r.evidence as Record<string, Array<Record<string, unknown>>>,
    );
    expect(ip!.ips!.map((x) => x.ip)).toEqual(["198.18.0.8"]);
    expect(coin!.coins!.map((x) => x.coin)).toEqual(["BONK"]);
  });
});
