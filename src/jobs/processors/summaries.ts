// The `summaries` queue, run by the worker: `daily-summary` every 10 minutes sends the daily
// summaries whose hour has come. It reads the ledger from the database and decrypts no
// exchange key, so it does not run on the signer.
import { type Job, type Queue, UnrecoverableError } from "bullmq";

export const DAILY_SUMMARY_SCHEDULER_ID = "summaries-daily";

export function createSummariesProcessor(deps: { dailySummaries: () => Promise<unknown> }) {
  return async (job: Job) => {
    if (job.name === "daily-summary") return deps.dailySummaries();
    throw new UnrecoverableError(`summaries queue: unknown job "${job.name}"`);
  };
}

/** Registers the daily summaries idempotently (stable scheduler id). */
export async function scheduleDailySummaries(queue: Queue): Promise<void> {
  await queue.waitUntilReady();
  await queue.upsertJobScheduler(
    DAILY_SUMMARY_SCHEDULER_ID,
    { every: 10 * 60_000 },
    { name: "daily-summary", data: {} },
  );
}
