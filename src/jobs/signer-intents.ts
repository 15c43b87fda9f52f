// The `signer-intents` queue, caller's side: a trade action becomes an intent (user, key,
// idempotency key, parameters) that only the signer executes. The job id is derived from the
// user and the idempotency key, so a resubmission joins the first job instead of adding one; the
// caller waits up to a deadline and is told the result, a refusal, or "still working".
import { createHash } from "node:crypto";
import { Job, type Queue, type QueueEvents } from "bullmq";
import { z } from "zod";

const id = z.string().regex(/^[1-9][0-9]{0,18}$/);
const price = z.number().positive().finite();

const base = {
  userId: id,
  /** The key the action uses: the signer checks that it is this user's and usable. */
  credentialId: id,
  idempotencyKey: z
    .string()
    .min(1)
    .max(160)
    .regex(/^[A-Za-z0-9:_.-]+$/),
  source: z.enum(["telegram", "api", "system"]),
  // Checked here, not first by PostgreSQL's ::inet cast after the venue was called.
  ip: z.union([z.ipv4(), z.ipv6()]).nullable(),
};

export const signerIntentSchema = z.discriminatedUnion("action", [
  z
    .object({
      ...base,
      action: z.literal("open"),
      params: z
        .object({
          symbol: z.string().min(1).max(40),
          side: z.enum(["long", "short"]),
          size: z.number().positive().finite(),
          stopLoss: price.optional(),
          takeProfit: price.optional(),
          leverage: z.number().int().min(1).max(200).optional(),
        })
        .strict(),
    })
    .strict(),
  z
    .object({
      ...base,
      action: z.literal("modify"),
      params: z
        .object({
          tradeId: id,
          stopLoss: price.nullable().optional(),
          takeProfit: price.nullable().optional(),
          size: z.number().positive().finite().optional(),
        })
        .strict(),
    })
    .strict(),
  z
    .object({ ...base, action: z.literal("close"), params: z.object({ tradeId: id }).strict() })
    .strict(),
  /** Positions and balance of the named key. */
  z.object({ ...base, action: z.literal("portfolio"), params: z.object({}).strict() }).strict(),
]);

export type SignerIntent = z.infer<typeof signerIntentSchema>;

/**
 * What a finished job returns: a refusal by the signer (never retried), or the use case's answer,
 * which may itself be a coded failure of the action (a venue refusal, a closed trade…).
 */
export type SignerJobResult =
  | { refused: string }
  | { ok: true; value: unknown }
  | { ok: false; code: string; message: string };

export type IntentOutcome =
  | {
      status: "done";
      result: { ok: true; value: unknown } | { ok: false; code: string; message: string };
    }
  | { status: "still_working" }
  | { status: "refused"; reason: string }
  /** The signer gave up after its retries (an unexpected error): nothing more will happen. */
  | { status: "failed"; reason: string };

/** One job per (user, idempotency key); hashed, as BullMQ ids may not contain ':'. */
export function intentJobId(userId: string, idempotencyKey: string): string {
  const h = createHash("sha256").update(`${userId}\n${idempotencyKey}`).digest("hex");
  return `si-${h.slice(0, 40)}`;
}

/** What makes two submissions the same request (not the transport fields source and ip). */
function requestOf(data: unknown) {
  const d = data as Partial<SignerIntent>;
  return [d.userId, d.action, d.credentialId, d.params];
}

function outcomeOf(job: Job | undefined, state: string): IntentOutcome {
  if (!job) return { status: "still_working" };
  if (state === "completed") {
    const r = job.returnvalue as SignerJobResult | null;
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

export interface SignerIntentClient {
  /**
   * Enqueues the intent (or joins the job already there for its user and idempotency key) and
   * waits up to `deadlineMs` for its outcome; "still_working" after that, never a second job.
   */
  submit(intent: SignerIntent, opts: { deadlineMs: number }): Promise<IntentOutcome>;
  /** The outcome now, without waiting (e.g. to notify a caller told "still working"). */
  outcome(userId: string, idempotencyKey: string): Promise<IntentOutcome>;
}

export function createSignerIntentClient(deps: {
  queue: Queue;
  /** A QueueEvents of the same queue and prefix, listening: finishes are announced there. */
  events: QueueEvents;
}): SignerIntentClient {
  const { queue, events } = deps;
  async function outcome(userId: string, idempotencyKey: string): Promise<IntentOutcome> {
    const jobId = intentJobId(userId, idempotencyKey);
    // State first, then the job: a job read before its state could miss a completion that
    // lands in between (state "completed" with no return value yet in the copy read).
    const state = await queue.getJobState(jobId);
    const job = await Job.fromId(queue, jobId);
    return outcomeOf(job, state);
  }
  return {
    outcome,
    async submit(input, { deadlineMs }) {
      const intent = signerIntentSchema.parse(input);
      const jobId = intentJobId(intent.userId, intent.idempotencyKey);
      await queue.add(intent.action, intent, { jobId });
      // An existing job under this id (same user and idempotency key) is joined only when it
      // is the same request: a key reused for another action or parameters is refused, never
      // answered with the other request's result.
      const job = await Job.fromId(queue, jobId);
      if (!job) return { status: "still_working" };
      if (JSON.stringify(requestOf(job.data)) !== JSON.stringify(requestOf(intent))) {
        return {
          status: "refused",
          reason: "This idempotency key was already used for a different request.",
        };
      }
      try {
        await job.waitUntilFinished(events, deadlineMs);
      } catch {
        // Timed out, or failed: the job's state says which.
      }
      return outcome(intent.userId, intent.idempotencyKey);
    },
  };
}
