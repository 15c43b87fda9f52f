// The `trading` queue, run by the signer (every job here decrypts exchange keys):
// `paper-triggers` (crossed paper stops, every 5 s and after a price override), `reconcile`
// (every usable key against its venue, every 60 s) and `recover-opens` (every 10 s: opens whose
// order may have reached the venue without their trade being recorded). The daily summaries,
// which decrypt nothing, have their own queue on the worker (./summaries.ts).
import { type Job, type Queue, UnrecoverableError } from "bullmq";

export const PAPER_TRIGGERS_SCHEDULER_ID = "trading-paper-triggers";
export const RECONCILE_SCHEDULER_ID = "trading-reconcile";
export const RECOVER_OPENS_SCHEDULER_ID = "trading-recover-opens";
/** Where the daily summaries were scheduled before they moved to the `summaries` queue. */
export const LEGACY_DAILY_SUMMARY_SCHEDULER_ID = "trading-daily-summary";
const RECOVER_OPENS_EVERY_MS = 10_000;

export function createTradingProcessor(deps: {
  paperTriggers: () => Promise<unknown>;
  reconcileAll: () => Promise<unknown>;
  recoverOpens?: () => Promise<unknown>;
}) {
  return async (job: Job) => {
    if (job.name === "paper-triggers") return deps.paperTriggers();
    if (job.name === "reconcile") return deps.reconcileAll();
    if (job.name === "recover-opens" && deps.recoverOpens) return deps.recoverOpens();
    // One left over from before the move (its scheduler is removed at boot): the worker's
    // `summaries` queue sends the summaries now.
    if (job.name === "daily-summary") return { moved: "summaries" };
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
  await queue.removeJobScheduler(LEGACY_DAILY_SUMMARY_SCHEDULER_ID);
}
