// The `trading` queue: `paper-triggers` (crossed paper stops, every 5 s and after a price
// override), `reconcile` (every usable key against its venue, every 60 s), `recover-opens`
// (every 10 s: opens whose order may have reached the venue without their trade being
// recorded) and `daily-summary` (every 10 minutes: the daily summaries whose hour has come).
import { type Job, type Queue, UnrecoverableError } from "bullmq";

export const PAPER_TRIGGERS_SCHEDULER_ID = "trading-paper-triggers";
export const RECONCILE_SCHEDULER_ID = "trading-reconcile";
export const DAILY_SUMMARY_SCHEDULER_ID = "trading-daily-summary";
export const RECOVER_OPENS_SCHEDULER_ID = "trading-recover-opens";
const RECOVER_OPENS_EVERY_MS = 10_000;

export function createTradingProcessor(deps: {
  paperTriggers: () => Promise<unknown>;
  reconcileAll: () => Promise<unknown>;
  dailySummaries?: () => Promise<unknown>;
  recoverOpens?: () => Promise<unknown>;
}) {
  return async (job: Job) => {
    if (job.name === "paper-triggers") return deps.paperTriggers();
    if (job.name === "reconcile") return deps.reconcileAll();
    if (job.name === "daily-summary" && deps.dailySummaries) return deps.dailySummaries();
    if (job.name === "recover-opens" && deps.recoverOpens) return deps.recoverOpens();
    throw new UnrecoverableError(`trading queue: unknown job "${job.name}"`);
  };
}

export async function scheduleTradingJobs(
  queue: Queue,
  every: { paperTriggersMs: number; reconcileMs: number },
): Promise<void> {
  await queue.waitUntilReady();
  await queue.upsertJobScheduler(
    PAPER_TRIGGERS_SCHEDULER_ID,
    { every: every.paperTriggersMs },
    { name: "paper-triggers", data: {} },
  );
  await queue.upsertJobScheduler(
    RECONCILE_SCHEDULER_ID,
    { every: every.reconcileMs },
    { name: "reconcile", data: {} },
  );
  await queue.upsertJobScheduler(
    RECOVER_OPENS_SCHEDULER_ID,
    { every: RECOVER_OPENS_EVERY_MS },
    { name: "recover-opens", data: {} },
  );
  await queue.upsertJobScheduler(
    DAILY_SUMMARY_SCHEDULER_ID,
    { every: 10 * 60_000 },
    { name: "daily-summary", data: {} },
  );
}
