// Every burst is on record (S8.3): the real scan on real PostgreSQL hands its findings to the real
// dispatch (dedup on real Redis); each burst is a finding of its own, one inside the dedup window
// is stored `suppressed` with the alert it was folded into, and the next alert says so.
import type { MikroORM } from "@mikro-orm/postgresql";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  adminAlertText,
  type DispatchDeps,
  dispatchAlert,
  userAlertText,
} from "../../../src/domain/alerts";
import { DEFAULT_THRESHOLDS, runAnomalyScan } from "../../../src/domain/anomaly";
import type { AuditEntry } from "../../../src/domain/trading/trading";
import { createAlertDedup, createAlertStore } from "../../../src/infra/alerts-store";
import { createAnomalyScanStore, recordActivity } from "../../../src/infra/anomaly-store";
import { createOrm, sqlOf } from "../../../src/infra/database";
import {
  createTestDatabase,
  createTestRedis,
  type TestDatabase,
  type TestRedis,
} from "../../support/context";
import { seedPaperUsers } from "../../support/trading-fixtures";

const MIN = 60_000;
let clock = Date.parse("2026-12-02T08:00:00.000Z");
let db: TestDatabase;
let redisCtx: TestRedis;
let redis: Redis;
let orm: MikroORM;
let users: string[];
/** What the channels were handed: the user's Telegram jobs and WebSocket events, by anomaly id. */
let telegram: string[] = [];
let sockets: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  redisCtx = createTestRedis();
  redis = new Redis(redisCtx.url, { keyPrefix: redisCtx.prefix });
  orm = await createOrm({ url: db.url, poolMax: 4 });
  // Telegram accounts: their alerts go to the chat (and the WebSocket).
  users = await seedPaperUsers(orm, 3, 6_600_000);
});

afterAll(async () => {
  await orm?.close();
  redis?.disconnect();
  await redisCtx?.cleanup();
  await db?.drop();
});

const dispatchDeps = (): DispatchDeps => ({
  store: createAlertStore(sqlOf(orm), { adminTelegramIds: [] }),
  dedup: createAlertDedup(redis),
  senders: {
    telegram: async (j) => {
      if (j.audience === "user") telegram.push(j.anomalyId);
    },
    outbox: {
      send: async () => {
        throw new Error("no account here has an address");
      },
    },
    websocket: async (_userId, event) => {
      sockets.push((event as { alert: { id: string } }).alert.id);
    },
  },
  dedupWindowMs: 30 * MIN,
  publicUrl: "https://warden.example",
  now: () => clock,
});

/**
 * The scan reads only what every transaction older than it has settled, and transaction ids are
 * cluster-wide: waits until every transaction that began before now has ended (another test
 * file's long transaction would otherwise hold this scan back).
 */
async function settled(): Promise<void> {
  const sql = sqlOf(orm);
  const [me] = await sql("select txid_current()::text as x");
  const mine = BigInt(me!.x as string);
  for (let i = 0; i < 300; i++) {
    const [r] = await sql("select pg_snapshot_xmin(pg_current_snapshot())::text as xmin");
    if (BigInt(r!.xmin as string) > mine) return;
    await new Promise((res) => setTimeout(res, 100));
  }
}

/** One scan run, its findings dispatched as the dispatch job does; returns the new findings. */
async function scan(): Promise<string[]> {
  await settled();
  const handed: string[] = [];
  const report = await runAnomalyScan({
    store: createAnomalyScanStore(orm),
    now: () => clock,
    thresholds: DEFAULT_THRESHOLDS,
    alerting: new Set(["rapid_fire", "new_ip"]),
    dispatch: async (ids) => {
      handed.push(...ids);
      for (const id of ids) await dispatchAlert(dispatchDeps(), id);
    },
  });
  expect(report.status).toBe("done");
  return handed;
}

/** `n` open attempts by `userId`, 5 seconds apart, from a known IP (rapid_fire only). */
async function burst(
  userId: string,
  n: number,
  outcome: (i: number) => AuditEntry["outcome"] = () => "ok",
) {
  for (let i = 0; i < n; i++) {
    const entry: AuditEntry = {
      userId,
      action: "open",
      tradeId: null,
      venue: "paper",
      symbol: "BTC/USDT:USDT",
      details: {},
      source: "api",
      ip: "203.0.113.50",
      outcome: outcome(i),
    };
    await recordActivity(sqlOf(orm), entry, clock);
    clock += 5_000;
  }
}

const row = async (id: string) =>
  (
    await sqlOf(orm)(
      `select rule, delivery, suppressed_into::text as suppressed_into, suppressed_before,
         (extract(epoch from window_start) * 1000)::float8 as window_start, evidence
       from anomalies where id = ?`,
      [id],
    )
  )[0]!;

describe("every burst on record", () => {
  it("when two bursts of 11 opens come ten minutes apart, scanned in between, then two findings, the second suppressed into the first, one alert; a third burst after 30 minutes alerts and mentions the suppressed one", async () => {
    const u = users[0]!;
    // The account's first sighting of the IP (a new_ip finding); afterwards it is known and only
    // rapid_fire can fire.
    await burst(u, 1);
    clock += 20 * MIN;
    await scan();
    telegram = [];
    sockets = [];

    const start = clock;
    await burst(u, 11);
    const [first, ...none] = await scan();
    expect(none).toEqual([]);
    expect(await row(first!)).toMatchObject({
      rule: "rapid_fire",
      delivery: "delivered",
      suppressed_into: null,
      suppressed_before: 0,
    });

    clock = start + 10 * MIN;
    await burst(u, 11);
    const [second, ...none2] = await scan();
    expect(none2).toEqual([]);
    expect(second).not.toBe(first);
    expect(await row(second!)).toMatchObject({
      rule: "rapid_fire",
      delivery: "suppressed",
      suppressed_into: first,
    });
    // One alert: only the first finding reached the user.
    expect(telegram).toEqual([first]);
    expect(sockets).toEqual([first]);

    clock = start + 31 * MIN;
    await burst(u, 11);
    const [third] = await scan();
    expect(await row(third!)).toMatchObject({
      delivery: "delivered",
      suppressed_into: null,
      suppressed_before: 1,
    });
    expect(telegram).toEqual([first, third]);
    expect(sockets).toEqual([first, third]);
    const stored = await dispatchDeps().store.get(third!);
    const mention =
      "Since the previous alert of this kind, 1 more finding was recorded and suppressed";
    expect(userAlertText(stored!)).toContain(mention);
    expect(adminAlertText(stored!, { userTelegramId: null, userChannels: [] })).toContain(mention);
    // The first alert had nothing folded into anything before it.
    expect(userAlertText((await dispatchDeps().store.get(first!))!)).not.toContain("suppressed");
  });

  it("when a second burst starts 3 minutes after a scanned one (inside its 5-minute span), then it is a finding of its own with its own window start", async () => {
    const u = users[1]!;
    await burst(u, 1);
    clock += 20 * MIN;
    await scan();
    const start = clock;
    await burst(u, 11);
    const [first] = await scan();
    clock = start + 3 * MIN;
    await burst(u, 11);
    const [second, ...rest] = await scan();
    expect(rest).toEqual([]);
    expect(second).toBeDefined();
    const [a, b] = [await row(first!), await row(second!)];
    expect(a.window_start).toBe(start);
    expect(b.window_start).toBe(start + 3 * MIN);
    expect(b).toMatchObject({ delivery: "suppressed", suppressed_into: first });
    expect(b.evidence).toMatchObject({ attempts: 11 });
  });

  it("when a burst mixes filled and failed opens, then the alert says “N open attempts (F filled, X failed)”", async () => {
    const u = users[2]!;
    await burst(u, 1);
    clock += 20 * MIN;
    await scan();
    await burst(u, 12, (i) => (i % 3 === 0 ? "ok" : "failed"));
    const [id] = await scan();
    expect(await row(id!)).toMatchObject({
      evidence: { attempts: 12, filled: 4, failed: 8 },
    });
    const stored = await dispatchDeps().store.get(id!);
    expect(userAlertText(stored!)).toContain(
      "12 open attempts (4 filled, 8 failed) within 5 minutes",
    );
  });
});
