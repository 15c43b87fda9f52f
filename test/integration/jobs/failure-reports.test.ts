// Worker failures reach the error reporter once a job has failed for good: not on an attempt
// that will be retried, and at once for an UnrecoverableError. Real BullMQ on Redis.
import { Queue, UnrecoverableError } from "bullmq";
import { afterAll, describe, expect, it } from "vitest";
import { createLogger } from "../../../src/infra/logger";
import { createRedisFactory } from "../../../src/infra/redis";
import { createScrubber } from "../../../src/infra/scrub";
import { QUEUE_DEFINITIONS, startWorkers } from "../../../src/jobs/registry";
import { createTestRedis } from "../../support/context";

const redis = createTestRedis();
const factory = createRedisFactory({ url: redis.url, keyPrefix: redis.prefix });
const logger = createLogger({ level: "silent", pretty: false, scrubber: createScrubber() });
afterAll(async () => {
  await factory.closeAll();
  await redis.cleanup();
});

describe("job failure reports", () => {
  it("when a job fails every attempt, then it is reported once, after the last attempt; an unrecoverable one at its first", async () => {
    const attemptsSeen = new Map<string, number>();
    const reports: Array<{ message: string; queue: string; job?: string; attempts?: number }> = [];
    let notify = () => {};
    const pool = startWorkers({
      connection: () => factory.create("worker", "test-worker"),
      prefix: factory.bullPrefix,
      logger,
      processors: {
        system: async (job) => {
          attemptsSeen.set(job.name, (attemptsSeen.get(job.name) ?? 0) + 1);
          if (job.name === "refused") throw new UnrecoverableError("refused for good");
          throw new Error(`flaky attempt ${job.attemptsMade + 1}`);
        },
      },
      reportError: (err, context) => {
        reports.push({ message: err.message, ...context });
        notify();
      },
    });
    const queue = new Queue(QUEUE_DEFINITIONS.system.name, {
      connection: factory.create("producer", "test-queue"),
      prefix: factory.bullPrefix,
    });
    try {
      await queue.add("flaky", {}, { attempts: 3, backoff: { type: "fixed", delay: 10 } });
      await queue.add("refused", {}, { attempts: 3, backoff: { type: "fixed", delay: 10 } });
      while (reports.length < 2) await new Promise<void>((r) => (notify = r));

      expect(attemptsSeen.get("flaky")).toBe(3);
      expect(attemptsSeen.get("refused")).toBe(1);
      expect(reports.map((r) => [r.job, r.message, r.queue, r.attempts]).sort()).toEqual([
        ["flaky", "flaky attempt 3", "system", 3],
        ["refused", "refused for good", "system", 1],
      ]);
    } finally {
      await queue.close();
      await pool.close(5_000);
    }
  });
});
