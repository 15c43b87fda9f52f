// SIGTERM while a BullMQ job runs: the process exits 0 promptly and the job is completed, or
// left for redelivery and completed by the next worker — never lost.
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  createTestDatabase,
  createTestRedis,
  type TestDatabase,
  testEnv,
} from "../support/context";
import { baseEnv, type Spawned, spawnProcess } from "../support/process";

const redis = createTestRedis();
let db: TestDatabase;
let queue: Queue;
let connection: Redis;
const running: Spawned[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  connection = new Redis(redis.url, { maxRetriesPerRequest: null });
  queue = new Queue("system", { connection, prefix: `${redis.prefix}bull` });
});
afterEach(() => {
  for (const p of running.splice(0)) p.kill("SIGKILL");
});
afterAll(async () => {
  await queue.close();
  connection.disconnect();
  await redis.cleanup();
  await db.drop();
});

function startWorker(): Spawned {
  const p = spawnProcess(
    "node",
    ["--import", "tsx", "src/main.ts", "--roles", "worker"],
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

async function waitForState(jobId: string, state: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    last = await queue.getJobState(jobId);
    if (last === state) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`job ${jobId} stayed "${last}", expected "${state}"`);
}

describe("graceful shutdown", () => {
  it("when SIGTERM arrives while a job runs, then the job completes and the process exits 0 within 10 s", async () => {
    const p = startWorker();
    await p.waitForOutput(/Warden started/);
    const job = await queue.add("ping", { holdMs: 3_000 });
    await waitForState(job.id!, "active", 10_000);

    const t0 = Date.now();
    p.child.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 300));
    p.child.kill("SIGTERM"); // a second signal must not start a second shutdown
    const { code } = await p.exited;
    const elapsed = Date.now() - t0;

    expect(code).toBe(0);
    expect(elapsed).toBeLessThan(10_000);
    expect(await queue.getJobState(job.id!)).toBe("completed");
    expect(p.output()).toContain("already shutting down");
  });

  it("when a job outlives the shutdown grace period, then the process still exits 0 within 10 s and the job is redelivered to the next worker", async () => {
    const first = startWorker();
    await first.waitForOutput(/Warden started/);
    const job = await queue.add("ping", { holdMs: 9_000 }, { attempts: 1 });
    await waitForState(job.id!, "active", 10_000);

    const t0 = Date.now();
    first.child.kill("SIGTERM");
    const { code } = await first.exited;
    expect(code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(first.output()).toContain("left for redelivery");
    expect(await queue.getJobState(job.id!)).toBe("active");

    // The lock expires, the next worker's stalled-job check puts it back, and it completes.
    const second = startWorker();
    await second.waitForOutput(/Warden started/);
    await waitForState(job.id!, "completed", 90_000);
    second.child.kill("SIGTERM");
    expect((await second.exited).code).toBe(0);
  }, 120_000);
});
