// The signer's intake queue, end to end on real PostgreSQL and Redis with the trading use cases
// on the paper venue: a forged intent is refused and recorded; an idempotency key trades once
// however often it is submitted, whether the caller waits or not, and when the signer is killed
// in the middle of the intent (SIGKILL, in a process of its own) and another one takes over.
import { randomBytes } from "node:crypto";
import type { MikroORM } from "@mikro-orm/postgresql";
import { Queue, QueueEvents } from "bullmq";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { generateFernetKey, parseMasterKeys } from "../../../src/domain/vault";
import { createOrm, sqlOf } from "../../../src/infra/database";
import { createPauseStore } from "../../../src/infra/pause-store";
import type { SignerExecutor } from "../../../src/jobs/processors/signer-intents";
import { QUEUE_DEFINITIONS, type WorkerPool } from "../../../src/jobs/registry";
import {
  createSignerIntentClient,
  intentJobId,
  type SignerIntent,
  type SignerIntentClient,
} from "../../../src/jobs/signer-intents";
import { createTestDatabase, createTestRedis, type TestDatabase } from "../../support/context";
import { baseEnv, type Spawned, spawnProcess } from "../../support/process";
import { startTestSigner } from "../../support/signer-fixtures";
import { seedPaperUsers } from "../../support/trading-fixtures";

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
let nextTelegramId = 9_700_000;

/** A user with one paper key: [userId, credentialId]. */
async function trader(): Promise<[string, string]> {
  const [userId] = await seedPaperUsers(orm, 1, nextTelegramId++);
  const [row] = await sql()(
    "select id::text as id from exchange_credentials where user_id = ? order by id desc limit 1",
    [userId],
  );
  return [userId!, row!.id as string];
}

function signer(wrap?: (e: SignerExecutor) => SignerExecutor): WorkerPool {
  const pool = startTestSigner({ orm, redisUrl: redis.url, bullPrefix, keyRing, pepper, wrap });
  pools.push(pool);
  return pool;
}

function openIntent(userId: string, credentialId: string, key: string): SignerIntent {
  return {
    action: "open",
    userId,
    credentialId,
    idempotencyKey: key,
    source: "api",
    ip: "203.0.113.9",
    params: { symbol: "BTC", side: "long", size: 0.01 },
  };
}

async function tradesOf(userId: string) {
  return sql()("select id::text as id from trades where user_id = ? order by id", [userId]);
}

async function openAuditRows(tradeId: string): Promise<number> {
  const [row] = await sql()(
    "select count(*)::int as n from trade_audit_log where action = 'open' and trade_id = ?",
    [tradeId],
  );
  return row!.n as number;
}

async function settled(userId: string, key: string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const o = await client.outcome(userId, key);
    if (o.status !== "still_working") return o;
    if (Date.now() > deadline) throw new Error(`intent ${key} still working after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The trade id of a "done" open, or a failure naming what came back. */
function openedTradeId(o: Awaited<ReturnType<SignerIntentClient["submit"]>>): string {
  if (o.status !== "done" || !o.result.ok) throw new Error(`not opened: ${JSON.stringify(o)}`);
  return (o.result.value as { id: string }).id;
}

describe("signer intents", () => {
  it("when 20 callers in one process wait on their intents at once, then each gets its own trade and no listener-leak warning is raised", async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    process.on("warning", onWarning);
    try {
      const traders = await Promise.all(Array.from({ length: 20 }, () => trader()));
      const waiting = traders.map(([userId, key], i) =>
        client.submit(openIntent(userId, key, `api:many-${i}`), { deadlineMs: 30_000 }),
      );
      // All 20 are waiting before a signer takes the first.
      await new Promise((r) => setTimeout(r, 500));
      signer();
      const ids = (await Promise.all(waiting)).map(openedTradeId);
      expect(new Set(ids).size).toBe(20);
      await new Promise((r) => setImmediate(r));
      expect(warnings.filter((w) => w.startsWith("MaxListenersExceededWarning"))).toEqual([]);
    } finally {
      process.off("warning", onWarning);
    }
  });

  it("when an intent names another user's key (as a compromised api would file it), then the signer refuses it, records a security event on the key owner's account, and no trade is made", async () => {
    signer();
    const [victim, victimKey] = await trader();
    const [attacker] = await trader();
    const outcome = await client.submit(openIntent(attacker, victimKey, "api:forged-1"), {
      deadlineMs: 20_000,
    });
    expect(outcome).toEqual({ status: "refused", reason: "This key is not yours." });
    const rows = await sql()(
      `select user_id::text as user_id, outcome, details from security_events
        where kind = 'signer_intent_forged'`,
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      user_id: victim,
      outcome: "refused",
      details: { claimedUserId: attacker, credentialId: victimKey, reason: "key_of_another_user" },
    });
    expect(await tradesOf(victim)).toEqual([]);
    expect(await tradesOf(attacker)).toEqual([]);
    // Refused for good: submitting it again neither retries nor trades.
    expect(
      await client.submit(openIntent(attacker, victimKey, "api:forged-1"), { deadlineMs: 5_000 }),
    ).toEqual(outcome);
    expect(await tradesOf(victim)).toEqual([]);
  });

  it("when a job is filed under another request's id, or is malformed, then the signer refuses it and records a security event, and no trade is made", async () => {
    signer();
    const [userId, key] = await trader();
    const shadow = await queue.add("open", openIntent(userId, key, "tg:1001"), {
      jobId: intentJobId(userId, "tg:1002"),
    });
    const malformed = await queue.add("open", { ...openIntent(userId, key, "tg:1003"), size: 1 });
    expect(await shadow.waitUntilFinished(events, 20_000)).toEqual({
      refused: "The intent does not match its job.",
    });
    expect(await malformed.waitUntilFinished(events, 20_000)).toEqual({
      refused: "The intent is malformed.",
    });
    const rows = await sql()(
      `select details ->> 'reason' as reason from security_events
        where kind = 'signer_intent_forged' and details ->> 'jobId' in (?, ?) order by id`,
      [shadow.id, malformed.id],
    );
    expect(rows.map((r) => r.reason)).toEqual(["job_id_mismatch", "malformed"]);
    expect(await tradesOf(userId)).toEqual([]);
  });

  it("when the account was deleted after the intent was filed, then the signer refuses it and records why", async () => {
    signer();
    const [userId, key] = await trader();
    await sql()("update users set deleted_at = now(), telegram_user_id = null where id = ?", [
      userId,
    ]);
    const outcome = await client.submit(openIntent(userId, key, "api:deleted-1"), {
      deadlineMs: 20_000,
    });
    expect(outcome).toEqual({ status: "refused", reason: "This account cannot trade." });
    const rows = await sql()(
      "select details ->> 'reason' as reason from security_events where kind = 'signer_intent_refused' and details ->> 'claimedUserId' = ?",
      [userId],
    );
    expect(rows).toEqual([{ reason: "user_inactive" }]);
    expect(await tradesOf(userId)).toEqual([]);
  });

  it("when the user's trading is paused, then the signer refuses the intent itself and nothing is traded", async () => {
    signer();
    const [userId, key] = await trader();
    await createPauseStore(sql()).set(
      { scope: "user", userId },
      { reason: null, blocksClose: false, by: { via: "cli" } },
    );
    const outcome = await client.submit(openIntent(userId, key, "api:paused-1"), {
      deadlineMs: 20_000,
    });
    expect(outcome.status).toBe("refused");
    expect(await tradesOf(userId)).toEqual([]);
  });

  it("when the same idempotency key is submitted twice, and twice at once, then one trade is opened and every answer names it", async () => {
    signer();
    const [userId, key] = await trader();
    const intent = openIntent(userId, key, "api:twice-0001");
    const first = openedTradeId(await client.submit(intent, { deadlineMs: 20_000 }));
    const again = openedTradeId(await client.submit(intent, { deadlineMs: 20_000 }));
    expect(again).toBe(first);
    const racing = openIntent(userId, key, "api:twice-0002");
    racing.params = { symbol: "ETH", side: "short", size: 0.02 };
    const both = await Promise.all([
      client.submit(racing, { deadlineMs: 20_000 }),
      client.submit(racing, { deadlineMs: 20_000 }),
    ]);
    expect(openedTradeId(both[0])).toBe(openedTradeId(both[1]));
    const trades = await tradesOf(userId);
    expect(trades.map((t) => t.id)).toEqual([first, openedTradeId(both[0])]);
    expect(await openAuditRows(first)).toBe(1);
  });

  it("when an idempotency key already used for an open comes with other parameters or a junk address, then it is refused and the open's trade is not given as its answer", async () => {
    signer();
    const [userId, key] = await trader();
    const intent = openIntent(userId, key, "api:reuse-0001");
    const first = openedTradeId(await client.submit(intent, { deadlineMs: 20_000 }));
    const other = openIntent(userId, key, "api:reuse-0001");
    other.params = { symbol: "ETH", side: "short", size: 0.5 };
    expect(await client.submit(other, { deadlineMs: 5_000 })).toEqual({
      status: "refused",
      reason: "This idempotency key was already used for a different request.",
    });
    const junk = { ...openIntent(userId, key, "api:reuse-0002"), ip: "not-an-address" };
    await expect(client.submit(junk, { deadlineMs: 5_000 })).rejects.toThrow();
    expect((await tradesOf(userId)).map((t) => t.id)).toEqual([first]);
  });

  it("when the caller's deadline ends before the signer finishes, then the caller is told it is still working, a resubmission joins it, and exactly one trade is opened", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let started = 0;
    signer((execute) => async (intent) => {
      started++;
      await gate;
      return execute(intent);
    });
    const [userId, key] = await trader();
    const intent = openIntent(userId, key, "api:slow-0001");
    expect(await client.submit(intent, { deadlineMs: 300 })).toEqual({ status: "still_working" });
    expect(await client.submit(intent, { deadlineMs: 300 })).toEqual({ status: "still_working" });
    expect(await tradesOf(userId)).toEqual([]);
    release();
    const tradeId = openedTradeId(await settled(userId, "api:slow-0001"));
    expect((await tradesOf(userId)).map((t) => t.id)).toEqual([tradeId]);
    expect(started).toBe(1);
    expect(await openAuditRows(tradeId)).toBe(1);
  });

  for (const dieAt of ["before", "after"] as const) {
    it(`when the signer is killed with SIGKILL ${dieAt === "before" ? "before the intent acts" : "after the trade is recorded but before the job completes (and trading is paused meanwhile)"}, then the caller is told it is still working, another signer completes the intent, and there is one trade with one audit row`, async () => {
      const [userId, key] = await trader();
      const idem = `tg:kill-${dieAt}`;
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
      const waiting = client.submit(openIntent(userId, key, idem), { deadlineMs: 1_000 });
      await child.waitForOutput(dieAt === "before" ? /holding open/ : /executed open/, 30_000);
      child.kill("SIGKILL");
      await child.exited;
      expect(await waiting).toEqual({ status: "still_working" });
      const before = await tradesOf(userId);
      expect(before).toHaveLength(dieAt === "before" ? 0 : 1);

      if (dieAt === "after") {
        // Paused meanwhile: the intent already traded, so it is answered with its trade.
        await createPauseStore(sql()).set(
          { scope: "user", userId },
          { reason: null, blocksClose: false, by: { via: "cli" } },
        );
      }
      signer();
      const tradeId = openedTradeId(await settled(userId, idem));
      expect((await tradesOf(userId)).map((t) => t.id)).toEqual([tradeId]);
      if (dieAt === "after") expect(tradeId).toBe(before[0]!.id);
      expect(await openAuditRows(tradeId)).toBe(1);
    }, 90_000);
  }
});
