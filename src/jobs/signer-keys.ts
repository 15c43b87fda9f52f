// The `signer-keys` queue, caller's side (issue 19): a pasted key (a new one, or a rotation's
// replacement) becomes a sealed intake request (user, venue, label, request id, expiry, and the
// envelope: nothing else secret) that only the signer opens; every other field of the job is
// bound in the envelope, so an edited job does not open. The job id is derived from the user and
// the request id, so a resubmission joins the first job; the caller waits up to a deadline, as
// for signer intents.
import { Job, type Queue, type QueueEvents } from "bullmq";
import { z } from "zod";
import type { SealedConnectResult, SealedKeyRequest } from "../domain/venues/sealed-keys";
import { VENUE_IDS } from "../domain/venues/types";
import {
  allowWaitingCallers,
  type SignerJobOutcome,
  signerJobId,
  signerJobOutcome,
  waitForSignerJob,
} from "./signer-jobs";

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

export type KeyJobOutcome = SignerJobOutcome<Exclude<SealedConnectResult, { refused: string }>>;

/** One job per (user, request id). */
export const keyJobId = (userId: string, requestId: string): string =>
  signerJobId("sk", userId, requestId);

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
  allowWaitingCallers(queue);
  const outcome = (userId: string, requestId: string): Promise<KeyJobOutcome> =>
    signerJobOutcome(queue, keyJobId(userId, requestId));
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
      await waitForSignerJob(job, events, deadlineMs);
      return outcome(data.userId, data.requestId);
    },
  };
}
