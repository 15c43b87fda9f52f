// The `signer-intents` queue, caller's side: a trade action becomes an intent (user, key,
// idempotency key, parameters) that only the signer executes. The job id is derived from the
// user and the idempotency key, so a resubmission joins the first job instead of adding one; the
// caller waits up to a deadline and is told the result, a refusal, or "still working".
import { Job, type Queue, type QueueEvents } from "bullmq";
import { z } from "zod";
import {
  allowWaitingCallers,
  type SignerJobOutcome,
  signerJobId,
  signerJobOutcome,
  waitForSignerJob,
} from "./signer-jobs";

const id = z.string().regex(/^[1-9][0-9]{0,18}$/);
const price = z.number().positive().finite();
/** A base size (coins), or an order value / a share of free margin the signer's quote resolves. */
const sizeSpec = z
  .object({
    kind: z.enum(["base", "quote", "percent"]),
    value: z.number().positive().finite(),
  })
  .strict();
const order = {
  symbol: z.string().min(1).max(40),
  side: z.enum(["long", "short"]),
  stopLoss: price.optional(),
  takeProfit: price.optional(),
  leverage: z.number().int().min(1).max(200).optional(),
};

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
      // The signer runs the pre-trade rules on it before the order is sent.
      params: z
        .object({ ...order, size: z.union([z.number().positive().finite(), sizeSpec]) })
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
  /** The pre-trade checks of an order through the named key (nothing is sent). */
  z
    .object({
      ...base,
      action: z.literal("quote"),
      params: z.object({ ...order, size: sizeSpec }).strict(),
    })
    .strict(),
  /** What closing a share of a trade would send, on its market's lot step (nothing is sent). */
  z
    .object({
      ...base,
      action: z.literal("partial_close"),
      params: z.object({ tradeId: id, percent: z.number().int().min(1).max(100) }).strict(),
    })
    .strict(),
  /** The named key's positions against Warden's open trades, as the reconciliation job does. */
  z.object({ ...base, action: z.literal("reconcile"), params: z.object({}).strict() }).strict(),
]);

/** Intents that change nothing at the venue: no kill switch, and a fresh key per read. */
export const READ_ACTIONS: ReadonlySet<SignerIntent["action"]> = new Set([
  "portfolio",
  "quote",
  "partial_close",
  "reconcile",
]);

/** The signer's refusals a caller tells apart (the others are passed on as they are). */
export const REFUSALS = {
  malformed: "The intent is malformed.",
  mismatch: "The intent does not match its job.",
  notYours: "This key is not yours.",
  inactive: "This account cannot trade.",
  reused: "This idempotency key was already used for a different request.",
} as const;

export type SignerIntent = z.infer<typeof signerIntentSchema>;

/**
 * What a finished job returns: a refusal by the signer (never retried), or the use case's answer,
 * which may itself be a coded failure of the action (a venue refusal, a closed trade…).
 */
export type SignerJobResult = { refused: string } | IntentResult;

/** The use case's answer; a coded failure keeps what the faces show (venue code, rule, scope). */
export type IntentResult =
  | { ok: true; value: unknown }
  | {
      ok: false;
      code: string;
      message: string;
      venueCode?: string;
      /** The pre-trade rule that refused the order (code "pre_trade_refused"). */
      rule?: string;
      /** The kill switch's scope (code "trading_paused"). */
      scope?: string;
    };

export type IntentOutcome = SignerJobOutcome<IntentResult>;

/** One job per (user, idempotency key). */
export const intentJobId = (userId: string, idempotencyKey: string): string =>
  signerJobId("si", userId, idempotencyKey);

/** What makes two submissions the same request (not the transport fields source and ip). */
function requestOf(data: unknown) {
  const d = data as Partial<SignerIntent>;
  return [d.userId, d.action, d.credentialId, d.params];
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
  /** Before a failed change is run again under its key (e.g. to forget that run's result). */
  beforeRetry?: (jobId: string) => Promise<void>;
}): SignerIntentClient {
  const { queue, events } = deps;
  allowWaitingCallers(queue);
  const outcome = (userId: string, idempotencyKey: string): Promise<IntentOutcome> =>
    signerJobOutcome(queue, intentJobId(userId, idempotencyKey));
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
        return { status: "refused", reason: REFUSALS.reused };
      }
      // A change the signer answered with a failure is asked again under the same key, as a
      // retried request is on the direct path: the trading store's claim per (user, key) answers
      // it (e.g. 409 in_progress while an unclear open holds the key), never a second order.
      if (!READ_ACTIONS.has(intent.action) && (await job.getState()) === "completed") {
        const r = job.returnvalue as SignerJobResult | null;
        if (r && typeof r === "object" && "ok" in r && !r.ok) {
          // Another caller may have re-run it already: then it is joined below.
          await deps.beforeRetry?.(jobId);
          await job
            .retry("completed", { resetAttemptsMade: true, resetAttemptsStarted: true })
            .catch(() => undefined);
        }
      }
      await waitForSignerJob(job, events, deadlineMs);
      return outcome(intent.userId, intent.idempotencyKey);
    },
  };
}

/** What a caller hears, and the user is told, of an intent whose every attempt failed. */
export const SIGNER_FAILED =
  "The order service could not complete this request, and nothing more will happen with it: check your positions before trying again.";
