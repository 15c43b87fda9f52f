// The `signer-keys` queue, caller's side (issue 19): a pasted key (a new one, or a rotation's
// replacement) becomes a sealed intake request (user, venue, label, request id, expiry, and the
// envelope: nothing else secret) that only the signer opens. The job id is derived from the user and the request id, so a resubmission joins
// the first job; the caller waits up to a deadline, as for signer intents.
import { createHash } from "node:crypto";
import { Job, type Queue, type QueueEvents } from "bullmq";
import { z } from "zod";
import type { SealedConnectResult, SealedKeyRequest } from "../domain/venues/sealed-keys";
import { VENUE_IDS } from "../domain/venues/types";

const id = z.string().regex(/^[1-9][0-9]{0,18}$/);

export const signerKeyJobSchema = z
  .object({
    action: z.enum(["connect", "rotate"]),
    /** rotate only: the key whose material is replaced. */
    credentialId: id.optional(),
    requestId: z.string().regex(/^[0-9a-f]{32}$/),
    userId: id,
    venue: z.enum(VENUE_IDS),
    label: z.string().max(64),
    testnet: z.boolean(),
    expiresAt: z.number().int().positive(),
    envelope: z.string().min(1).max(32_000),
    ip: z.union([z.ipv4(), z.ipv6()]).nullable(),
  })
  .strict()
  .refine((j) => (j.action === "rotate") === (j.credentialId !== undefined), {
    message: "a rotation names its key, a connection does not",
  });

export type SignerKeyJob = z.infer<typeof signerKeyJobSchema>;

export type KeyJobOutcome =
  | { status: "done"; result: Exclude<SealedConnectResult, { refused: string }> }
  | { status: "refused"; reason: string }
  | { status: "still_working" }
  | { status: "failed"; reason: string };

/** One job per (user, request id); hashed, as BullMQ ids may not contain ':'. */
export function keyJobId(userId: string, requestId: string): string {
  const h = createHash("sha256").update(`${userId}\n${requestId}`).digest("hex");
  return `sk-${h.slice(0, 40)}`;
}

function outcomeOf(job: Job | undefined, state: string): KeyJobOutcome {
  if (!job) return { status: "still_working" };
  if (state === "completed") {
    const r = job.returnvalue as SealedConnectResult | null;
    if (r === null || typeof r !== "object") return { status: "still_working" };
    if ("refused" in r) return { status: "refused", reason: r.refused };
    return { status: "done", result: r };
  }
  if (state === "failed") {
    return { status: "failed", reason: "The signer could not complete this request." };
  }
  return { status: "still_working" };
}

export interface SignerKeyClient {
  /** Enqueues the request (or joins its job) and waits up to `deadlineMs` for the outcome. */
  connect(request: SealedKeyRequest, opts: { deadlineMs: number }): Promise<KeyJobOutcome>;
  outcome(userId: string, requestId: string): Promise<KeyJobOutcome>;
}

export function createSignerKeyClient(deps: {
  queue: Queue;
  /** A QueueEvents of the same queue and prefix, listening. */
  events: QueueEvents;
}): SignerKeyClient {
  const { queue, events } = deps;
  async function outcome(userId: string, requestId: string): Promise<KeyJobOutcome> {
    const jobId = keyJobId(userId, requestId);
    const state = await queue.getJobState(jobId);
    const job = await Job.fromId(queue, jobId);
    return outcomeOf(job, state);
  }
  return {
    outcome,
    async connect(request, { deadlineMs }) {
      const data = signerKeyJobSchema.parse(request);
      const jobId = keyJobId(data.userId, data.requestId);
      await queue.add(data.action, data, { jobId });
      const job = await Job.fromId(queue, jobId);
      if (!job) return { status: "still_working" };
      // Request ids are random per paste: another request under this id is not ours to answer.
      if ((job.data as SignerKeyJob).envelope !== data.envelope) {
        return { status: "refused", reason: "This intake request id was already used." };
      }
      try {
        await job.waitUntilFinished(events, deadlineMs);
      } catch {
        // Timed out, or failed: the job's state says which.
      }
      return outcome(data.userId, data.requestId);
    },
  };
}
