// Issue 19: the `signer` role as `npm start -- --roles signer` runs it. It registers and runs the
// scheduled jobs that decrypt exchange keys (rotation, re-verification, reconciliation, open
// recovery, paper triggers), moved from the worker, and executes trade intents; a worker
// process registers only the jobs that decrypt no exchange key.
import type { MikroORM } from "@mikro-orm/postgresql";
import { Queue, QueueEvents } from "bullmq";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createOrm, sqlOf } from "../../src/infra/database";
import { QUEUE_DEFINITIONS, type QueueName } from "../../src/jobs/registry";
import { createSignerIntentClient } from "../../src/jobs/signer-intents";
import {
  createTestDatabase,
  createTestRedis,
  type TestDatabase,
  type TestRedis,
  testEnv,
} from "../support/context";
import { baseEnv, type Spawned, spawnProcess } from "../support/process";
import { seedPaperUsers } from "../support/trading-fixtures";

let db: TestDatabase;
let orm: MikroORM;
const redises: TestRedis[] = [];
const running: Spawned[] = [];
const queues: Queue[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  orm = await createOrm({ url: db.url, poolMax: 4 });
});

afterEach(() => {
  for (const p of running.splice(0)) p.kill("SIGKILL");
});

afterAll(async () => {
  await Promise.all(queues.map((q) => q.close()));
  await orm?.close();
  await db?.drop();
  for (const r of redises) await r.cleanup();
});

function start(roles: string, redis: TestRedis): Spawned {
  const p = spawnProcess(
    "node",
    ["--import", "tsx", "src/main.ts", "--roles", roles],
    baseEnv(
      testEnv({
        LOG_LEVEL: "info",
        DATABASE_URL: db.url,
        REDIS_URL: redis.url,
        REDIS_PREFIX: redis.prefix,
      }),
    ),
  );
  running.push(p);
  return p;
}

function queueOf(redis: TestRedis, name: QueueName): Queue {
  const q = new Queue(QUEUE_DEFINITIONS[name].name, {
    connection: { url: redis.url },
    prefix: `${redis.prefix}bull`,
  });
  queues.push(q);
  return q;
}

async function schedulers(redis: TestRedis, name: QueueName): Promise<string[]> {
  return (await queueOf(redis, name).getJobSchedulers()).map((s) => s.key).sort();
}

describe("signer role", () => {
  it("when a process runs with roles signer, then it registers and runs the jobs that decrypt exchange keys and executes intents; the old trading queue's daily summary is removed", async () => {
    const redis = createTestRedis();
    redises.push(redis);
    // Left by a worker of before the move.
    await queueOf(redis, "trading").upsertJobScheduler(
      "trading-daily-summary",
      { every: 600_000 },
      { name: "daily-summary", data: {} },
    );
    const signer = start("signer", redis);
    await signer.waitForOutput(/signer role started/, 90_000);
    expect(signer.output()).not.toContain("worker role started");

    expect(await schedulers(redis, "trading")).toEqual([
      "trading-paper-triggers",
      "trading-reconcile",
      "trading-recover-opens",
    ]);
    expect(await schedulers(redis, "venues")).toEqual(["venues-expiry", "venues-reverify"]);
    expect(await schedulers(redis, "vault")).toEqual(["vault-rotation"]);
    // The worker's own jobs are not the signer's.
    expect(await schedulers(redis, "alerts")).toEqual([]);
    expect(await schedulers(redis, "summaries")).toEqual([]);

    // Reconciliation, open recovery and the paper triggers run here: this process is the
    // trading queue's only worker.
    const trading = queueOf(redis, "trading");
    const ran = new Map<string, unknown>();
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && ran.size < 4) {
      for (const j of await trading.getCompleted(0, 50)) ran.set(j.name, j.returnvalue);
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(Object.fromEntries(ran)).toEqual({
      "paper-triggers": { fired: 0 },
      reconcile: { closed: 0, failed: 0 },
      "recover-opens": expect.anything(),
      // The old scheduler's waiting job is answered without sending anything (the worker's
      // `summaries` queue sends the summaries now), and the scheduler is gone (above).
      "daily-summary": { moved: "summaries" },
    });

    // And it executes trade intents.
    const [userId] = await seedPaperUsers(orm, 1, 9_900_001);
    const [key] = await sqlOf(orm)(
      "select id::text as id from exchange_credentials where user_id = ?",
      [userId],
    );
    const intents = queueOf(redis, "signerIntents");
    const events = new QueueEvents(QUEUE_DEFINITIONS.signerIntents.name, {
      connection: { url: redis.url },
      prefix: `${redis.prefix}bull`,
    });
    try {
      await events.waitUntilReady();
      const outcome = await createSignerIntentClient({ queue: intents, events }).submit(
        {
          action: "open",
          userId: userId!,
          credentialId: key!.id as string,
          idempotencyKey: "tg:role-1",
          source: "telegram",
          ip: null,
          params: { symbol: "ETH", side: "short", size: 0.1 },
        },
        { deadlineMs: 20_000 },
      );
      expect(outcome).toMatchObject({
        status: "done",
        result: { ok: true, value: { userId, symbol: expect.stringContaining("ETH") } },
      });
    } finally {
      await events.close();
    }
  }, 150_000);

  it("when a process runs with roles worker, then it registers only the jobs that decrypt no exchange key", async () => {
    const redis = createTestRedis();
    redises.push(redis);
    const worker = start("worker", redis);
    await worker.waitForOutput(/worker role started/, 90_000);
    expect(worker.output()).not.toContain("signer role started");
    expect(await schedulers(redis, "alerts")).toEqual(["anomaly-scan"]);
    expect(await schedulers(redis, "summaries")).toEqual(["summaries-daily"]);
    for (const moved of ["trading", "venues", "vault"] as const) {
      expect(await schedulers(redis, moved)).toEqual([]);
    }
  }, 120_000);
});
