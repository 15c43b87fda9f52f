// The `system` queue: `ping` proves the whole job pipeline (enqueue → worker → result) works,
// for operators (`npm run cli -- worker ping`) and for the shutdown tests.
import { hostname } from "node:os";
import { type Job, UnrecoverableError } from "bullmq";
import { z } from "zod";

export const pingData = z.object({
  /** Keep the job running this long, to observe a worker under load or during shutdown. */
  holdMs: z.number().int().min(0).max(60_000).default(0),
});

export interface PingResult {
  worker: string;
  startedAt: string;
  finishedAt: string;
}

export async function processSystemJob(job: Job): Promise<PingResult> {
  switch (job.name) {
    case "ping": {
      const { holdMs } = pingData.parse(job.data ?? {});
      const startedAt = new Date().toISOString();
      if (holdMs > 0) await new Promise((r) => setTimeout(r, holdMs));
      return {
        worker: `${hostname()}:${process.pid}`,
        startedAt,
        finishedAt: new Date().toISOString(),
      };
    }
    default:
      // Retrying cannot make an unknown job known.
      throw new UnrecoverableError(`system queue: unknown job "${job.name}"`);
  }
}
