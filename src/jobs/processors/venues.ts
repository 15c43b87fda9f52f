// The `venues` queue: `reverify` checks every active key with its venue again (S7.2), on a
// schedule. The job carries no data; keys are decrypted inside the worker only.
import { type Job, type Queue, UnrecoverableError } from "bullmq";
import type { KeyService } from "../../domain/venues/keys";

export const REVERIFY_SCHEDULER_ID = "venues-reverify";

export function createVenuesProcessor(deps: { keys: KeyService }) {
  return async (job: Job) => {
    if (job.name === "reverify") return deps.keys.reverifyAll();
    throw new UnrecoverableError(`venues queue: unknown job "${job.name}"`);
  };
}

export async function scheduleReverification(queue: Queue, everyHours: number): Promise<void> {
  await queue.waitUntilReady();
  await queue.upsertJobScheduler(
    REVERIFY_SCHEDULER_ID,
    { every: Math.round(everyHours * 3600_000) },
    { name: "reverify", data: {} },
  );
}
