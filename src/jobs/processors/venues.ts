// The `venues` queue: `reverify` checks every active key with its venue again (S7.2), on a
// schedule; `expiry` re-verifies the keys that expire within a week and warns their owners once
// per expiry (issue 16), daily. The jobs carry no data; keys are decrypted inside the worker only.
import { type Job, type Queue, UnrecoverableError } from "bullmq";
import type { createKeyChecks } from "../../domain/venues/key-checks";

export const REVERIFY_SCHEDULER_ID = "venues-reverify";
export const EXPIRY_SCHEDULER_ID = "venues-expiry";
const EXPIRY_EVERY_MS = 24 * 3600_000;

export function createVenuesProcessor(deps: { keys: ReturnType<typeof createKeyChecks> }) {
  return async (job: Job) => {
    if (job.name === "reverify") return deps.keys.reverifyAll();
    if (job.name === "expiry") return deps.keys.warnExpiring();
    throw new UnrecoverableError(`venues queue: unknown job "${job.name}"`);
  };
}

/** Registers the re-verification and the daily expiry check (idempotent: stable ids). */
export async function scheduleReverification(queue: Queue, everyHours: number): Promise<void> {
  await queue.waitUntilReady();
  await queue.upsertJobScheduler(
    REVERIFY_SCHEDULER_ID,
    { every: Math.round(everyHours * 3600_000) },
    { name: "reverify", data: {} },
  );
  await queue.upsertJobScheduler(
    EXPIRY_SCHEDULER_ID,
    { every: EXPIRY_EVERY_MS },
    { name: "expiry", data: {} },
  );
}
