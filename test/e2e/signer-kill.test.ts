// Issue 19: a signer killed with SIGKILL in the middle of an intent (open, modify, close), in a
// process of its own. The caller is told "still working" by its deadline; once a new signer
// runs, the intent completes once: one trade (or one change of it), one venue order, one audit
// row; and the same idempotency key submitted again, even after the finished job is gone from
// the queue, gets that same result from the trading store's record, not a second action.
import { randomBytes } from "node:crypto";
import type { MikroORM } from "@mikro-orm/postgresql";
import { Job, Queue, QueueEvents } from "bullmq";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { generateFernetKey, parseMasterKeys } from "../../src/domain/vault";
import { createOrm, sqlOf } from "../../src/infra/database";
import { QUEUE_DEFINITIONS, type WorkerPool } from "../../src/jobs/registry";
import {
  createSignerIntentClient,
  type IntentOutcome,
  intentJobId,
  type SignerIntent,
  type SignerIntentClient,
} from "../../src/jobs/signer-intents";
import { createTestDatabase, createTestRedis, type TestDatabase } from "../support/context";
import { baseEnv, type Spawned, spawnProcess } from "../support/process";
import { startTestSigner } from "../support/signer-fixtures";
import { seedPaperUsers } from "../support/trading-fixtures";

const redis = createTestRedis();
const bullPrefix = `${redis.prefix}bull`;
const masterKeys = `1:${generateFernetKey()}`;
const keyRing = parseMasterKeys(masterKeys);
const pepper = randomBytes(32);
let db: TestDatabase;
let orm: MikroORM;
let queue: Queue;
let events: QueueEvents;
let client: SignerIntentClient;
const pools: WorkerPool[] = [];
const children: Spawned[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  orm = await createOrm({ url: db.url, poolMax: 8 });
  const connection = { url: redis.url };
  queue = new Queue(QUEUE_DEFINITIONS.signerIntents.name, {
    connection,
    prefix: bullPrefix,
    defaultJobOptions: QUEUE_DEFINITIONS.signerIntents.defaultJobOptions,
  });
  events = new QueueEvents(QUEUE_DEFINITIONS.signerIntents.name, {
    connection,
    prefix: bullPrefix,
  });
  await events.waitUntilReady();
  client = createSignerIntentClient({ queue, events });
});

afterEach(async () => {
  for (const c of children.splice(0)) c.kill("SIGKILL");
  await Promise.all(pools.splice(0).map((p) => p.close(2_000)));
});

afterAll(async () => {
  await events?.close();
  await queue?.close();
  await orm?.close();
  await db?.drop();
  await redis.cleanup();
});

const sql = () => sqlOf(orm);
let nextTelegramId = 9_800_000;

/** A user with one paper key: its id, the key's id and its paper account. */
async function trader(): Promise<{ userId: string; key: string; account: string }> {
  const [userId] = await seedPaperUsers(orm, 1, nextTelegramId++);
  const [row] = await sql()(
    `select id::text as id, wallet_address from exchange_credentials
      where user_id = ? order by id desc limit 1`,
    [userId],
  );
  return { userId: userId!, key: row!.id as string, account: row!.wallet_address as string };
}

function signer(): WorkerPool {
  const pool = startTestSigner({ orm, redisUrl: redis.url, bullPrefix, keyRing, pepper });
  pools.push(pool);
  return pool;
}

/** A signer in a child process that stops (to be killed) before or after its intent acts. */
async function dyingSigner(dieAt: "before" | "after"): Promise<Spawned> {
  const child = spawnProcess(
    "node",
    ["--import", "tsx", "test/support/signer-child.ts"],
    baseEnv({
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      BULL_PREFIX: bullPrefix,
      MASTER_KEYS: masterKeys,
      AUDIT_PEPPER_HEX: pepper.toString("hex"),
      SIGNER_DIE_AT: dieAt,
    }),
  );
  children.push(child);
  await child.waitForOutput(/signer ready/, 60_000);
  return child;
}

type Action = "open" | "modify" | "close";

function intent(
  t: { userId: string; key: string },
  action: Action,
  idem: string,
  tradeId?: string,
): SignerIntent {
  const base = {
    userId: t.userId,
    credentialId: t.key,
    idempotencyKey: idem,
    source: "telegram" as const,
    ip: null,
  };
  if (action === "open") {
    return { ...base, action, params: { symbol: "BTC", side: "long", size: 0.01 } };
  }
  if (action === "modify") return { ...base, action, params: { tradeId: tradeId!, stopLoss: 1 } };
  return { ...base, action, params: { tradeId: tradeId! } };
}

async function settled(userId: string, key: string, timeoutMs = 40_000): Promise<IntentOutcome> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const o = await client.outcome(userId, key);
    if (o.status !== "still_working") return o;
    if (Date.now() > deadline) throw new Error(`intent ${key} still working after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function tradeOf(o: IntentOutcome): { id: string; status: string; stopLoss: number | null } {
  if (o.status !== "done" || !o.result.ok) throw new Error(`not done: ${JSON.stringify(o)}`);
  return o.result.value as { id: string; status: string; stopLoss: number | null };
}

/** What the user and the venue show: trades, audit rows per action, paper orders and closes. */
async function ledger(t: { userId: string; account: string }) {
  const trades = await sql()(
    "select id::text as id, status, stop_loss::float8 as stop_loss from trades where user_id = ? order by id",
    [t.userId],
  );
  const audit = await sql()(
    `select action, count(*)::int as n from trade_audit_log
      where trade_id in (select id from trades where user_id = ?) and outcome = 'ok'
      group by action order by action`,
    [t.userId],
  );
  const [orders] = await sql()("select count(*)::int as n from paper_orders where account = ?", [
    t.account,
  ]);
  const [closes] = await sql()("select count(*)::int as n from paper_closes where account = ?", [
    t.account,
  ]);
  return {
    trades,
    audit: Object.fromEntries(audit.map((r) => [r.action as string, r.n as number])),
    venueOpens: orders!.n as number,
    venueCloses: closes!.n as number,
  };
}

/** An open trade of `t`, made through an in-process signer that is stopped again. */
async function openTrade(t: { userId: string; key: string }): Promise<string> {
  const pool = signer();
  const id = tradeOf(await client.submit(intent(t, "open", "tg:setup"), { deadlineMs: 20_000 })).id;
  pools.splice(pools.indexOf(pool), 1);
  await pool.close(2_000);
  return id;
}

const cases: Array<{ action: Action; dieAt: "before" | "after" }> = [
  { action: "open", dieAt: "after" },
  { action: "modify", dieAt: "after" },
  { action: "close", dieAt: "after" },
  { action: "close", dieAt: "before" },
];

describe("signer killed mid-intent", () => {
  for (const { action, dieAt } of cases) {
    it(`when the signer is killed with SIGKILL ${dieAt === "after" ? "after the venue call and its record, before answering" : "before acting"} on a ${action}, then the caller hears "still working", a new signer completes it once (one venue order, one audit row), and a resubmission gets the same result`, async () => {
      const t = await trader();
      const tradeId = action === "open" ? undefined : await openTrade(t);
      const before = await ledger(t);
      const idem = `tg:${action}-${dieAt}`;
      const child = await dyingSigner(dieAt);

      const started = Date.now();
      const waiting = client.submit(intent(t, action, idem, tradeId), { deadlineMs: 1_500 });
      await child.waitForOutput(
        new RegExp(`${dieAt === "after" ? "executed" : "holding"} ${action}`),
        30_000,
      );
      child.kill("SIGKILL");
      await child.exited;
      expect(await waiting).toEqual({ status: "still_working" });
      // Told by its deadline, not after the kill was noticed.
      expect(Date.now() - started).toBeLessThan(10_000);

      signer();
      const done = await settled(t.userId, idem);
      const trade = tradeOf(done);
      const after = await ledger(t);
      expect(after.trades).toHaveLength(1);
      expect(after.trades[0]!.id).toBe(tradeId ?? trade.id);
      if (action === "open") {
        expect(after.audit).toEqual({ open: 1 });
        expect(after.venueOpens).toBe(1);
        expect(after.venueCloses).toBe(0);
      }
      if (action === "modify") {
        expect(trade.stopLoss).toBe(1);
        expect(after.trades[0]!.stop_loss).toBe(1);
        expect(after.audit).toEqual({ ...before.audit, modify: 1 });
      }
      if (action === "close") {
        expect(trade.status).toBe("closed");
        expect(after.trades[0]!.status).toBe("closed");
        expect(after.audit).toEqual({ ...before.audit, close: 1 });
        expect(after.venueCloses).toBe(1);
      }
      expect(after.venueOpens).toBe(1);

      // The same request again: the queue's finished job answers it…
      const again = await client.submit(intent(t, action, idem, tradeId), { deadlineMs: 20_000 });
      expect(again).toEqual(done);
      // …and once that job is gone (removeOnComplete), the trading store's record does.
      await (await Job.fromId(queue, intentJobId(t.userId, idem)))!.remove();
      const replayed = await client.submit(intent(t, action, idem, tradeId), {
        deadlineMs: 20_000,
      });
      expect(replayed).toEqual(done);
      expect(await ledger(t)).toEqual(after);
    }, 120_000);
  }

  it("when a modify's idempotency key comes back with another change, after its job is gone, then the signer refuses it and changes nothing", async () => {
    const t = await trader();
    const tradeId = await openTrade(t);
    signer();
    const first = await client.submit(intent(t, "modify", "tg:mod-1", tradeId), {
      deadlineMs: 20_000,
    });
    expect(tradeOf(first).stopLoss).toBe(1);
    await (await Job.fromId(queue, intentJobId(t.userId, "tg:mod-1")))!.remove();
    const other = intent(t, "modify", "tg:mod-1", tradeId);
    other.params = { tradeId: tradeId, stopLoss: 2 };
    expect(await client.submit(other, { deadlineMs: 20_000 })).toEqual({
      status: "refused",
      reason: "This idempotency key was already used for a different request.",
    });
    const now = await ledger(t);
    expect(now.trades[0]!.stop_loss).toBe(1);
    expect(now.audit).toEqual({ open: 1, modify: 1 });
  }, 60_000);
});
