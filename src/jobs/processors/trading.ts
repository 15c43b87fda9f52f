// The `trading` queue: `paper-triggers` (crossed paper stops, every 5 s and after a price
// override) and `reconcile` (every usable key against its venue, every 60 s).
import { type Job, type Queue, UnrecoverableError } from "bullmq";

export const PAPER_TRIGGERS_SCHEDULER_ID = "trading-paper-triggers";
export const RECONCILE_SCHEDULER_ID = "trading-reconcile";

export function createTradingProcessor(deps: {
  paperTriggers: () => Promise<unknown>;
  reconcileAll: () => Promise<unknown>;
}) {
  return async (job: Job) => {
    if (job.name === "paper-triggers") return deps.paperTriggers();
    if (job.name === "reconcile") return deps.reconcileAll();
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
}
