// CLI area: Workers: ping a running worker through the queue.
import { parseArgs } from "node:util";
import { QueueEvents } from "bullmq";
import { createRedisFactory } from "../infra/redis";
import { createQueueRegistry } from "../jobs/registry";
import { config } from "./context";
import type { Command } from "./registry";

export const WORKER_COMMANDS: Record<string, Command> = {
  "worker ping": {
    usage: "worker ping [--hold-ms N] [--timeout-s N]",
    summary: "send a job through the queue and wait for a worker to complete it",
    async run(args, io) {
      const { values } = parseArgs({
        args,
        options: { "hold-ms": { type: "string" }, "timeout-s": { type: "string" } },
      });
      const holdMs = Number(values["hold-ms"] ?? 0);
      const timeoutS = Number(values["timeout-s"] ?? 30);
      if (!Number.isInteger(holdMs) || holdMs < 0 || holdMs > 60_000) {
        io.err("--hold-ms must be a whole number of milliseconds from 0 to 60000");
        return 2;
      }
      const c = await config();
      const redis = createRedisFactory({ url: c.redisUrl, keyPrefix: c.redisPrefix });
      const queues = createQueueRegistry(redis.create("producer", "cli"), redis.bullPrefix);
      const events = new QueueEvents("system", {
        connection: redis.create("worker", "cli-events"),
        prefix: redis.bullPrefix,
      });
      try {
        await events.waitUntilReady();
        const job = await queues.get("system").add("ping", { holdMs });
        const result = await job.waitUntilFinished(events, timeoutS * 1000);
        io.out(`job ${job.id} completed by ${(result as { worker: string }).worker}`);
        return 0;
      } catch (err) {
        io.err(`ping failed: ${(err as Error).message} (is a worker role running?)`);
        return 1;
      } finally {
        await events.close();
        await queues.close();
        await redis.closeAll();
      }
    },
  },
};
