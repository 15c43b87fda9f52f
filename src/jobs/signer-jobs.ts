// What the signer's queues (signer-intents, signer-keys) share on the caller's side: one job per
// (user, key) under a hashed id, and how a job's state reads as an outcome for the caller.
import { createHash } from "node:crypto";
import { Job, type Queue, type QueueEvents } from "bullmq";

export type SignerJobOutcome<Done> =
  | { status: "done"; result: Done }
  | { status: "still_working" }
  | { status: "refused"; reason: string }
  /** The signer gave up after its retries (an unexpected error): nothing more will happen. */
  | { status: "failed"; reason: string };

/** One job per (user, key); hashed, as BullMQ ids may not contain ':'. */
export function signerJobId(prefix: "si" | "sk", userId: string, key: string): string {
  const h = createHash("sha256").update(`${userId}\n${key}`).digest("hex");
  return `${prefix}-${h.slice(0, 40)}`;
}

function outcomeOf<Done>(job: Job | undefined, state: string): SignerJobOutcome<Done> {
  if (!job) return { status: "still_working" };
  if (state === "completed") {
    const r = job.returnvalue as Done | { refused: string } | null;
    // Read before its completion was written (a stale copy): not finished as far as we know.
    if (r === null || typeof r !== "object") return { status: "still_working" };
    if ("refused" in r) return { status: "refused", reason: r.refused };
    return { status: "done", result: r };
  }
  if (state === "failed") {
    return { status: "failed", reason: "The signer could not complete this request." };
  }
  return { status: "still_working" };
}

/** The job's outcome now, without waiting. */
export async function signerJobOutcome<Done>(
  queue: Queue,
  jobId: string,
): Promise<SignerJobOutcome<Done>> {
  // State first, then the job: a job read before its state could miss a completion that
  // lands in between (state "completed" with no return value yet in the copy read).
  const state = await queue.getJobState(jobId);
  const job = await Job.fromId(queue, jobId);
  return outcomeOf<Done>(job, state);
}

/**
 * A caller waiting on a job holds one "closing" listener on the queue until the job finishes or
 * its deadline passes (BullMQ's waitUntilFinished), so a process has as many as it has requests
 * in flight: more than Node's default of 10 is normal load, not a leak. Bounded all the same.
 */
const MAX_WAITING_CALLERS = 10_000;

export function allowWaitingCallers(queue: Queue): void {
  if (queue.getMaxListeners() < MAX_WAITING_CALLERS) queue.setMaxListeners(MAX_WAITING_CALLERS);
}

/** Waits up to `deadlineMs` for the job to finish; its state then says how (or that it runs). */
export async function waitForSignerJob(
  job: Job,
  events: QueueEvents,
  deadlineMs: number,
): Promise<void> {
  try {
    await job.waitUntilFinished(events, deadlineMs);
  } catch {
    // Timed out, or failed: the job's state says which.
  }
}
