// The notice of a change (open, modify, close) sent through the signer, exactly once per intent
// whichever process sends it (issue 19). Three Redis keys per intent job:
//   owed:  written by a caller before it answers "still working": a notice is promised. Durable,
//          so the promise outlives the caller (a crash, a restart, a closed wait).
//   done:  written by the signer with the intent's result before it reads `owed`.
//   claim: SET NX per job and kind (ok / fail), taken by whoever sends: the caller's on-time
//          notice, the caller's late watch, or the signer.
// Caller: write `owed`, then read `done`. Signer: write `done`, then read `owed`. Redis runs each
// command in one order, so at least one of them sees the other's write: either the caller finds
// the result (and answers on time, its notice claimed as usual) or the signer finds the promise
// (and sends the late notice itself). Both may: the claim lets one send. A claim taken by a
// process that dies before queueing its notice loses that notice (no outbox here).
import type { Redis } from "ioredis";
import { displaySymbol } from "../domain/trading/symbols";
import { entryNotice, price } from "../domain/trading/trade-notices";
import type { TradeRecord } from "../domain/trading/types";
import {
  type IntentOutcome,
  intentJobId,
  READ_ACTIONS,
  REFUSALS,
  type SignerIntent,
  type SignerJobResult,
} from "./signer-intents";

/** How long a promise, a result and a claim are kept (beyond any caller's watch). */
const TTL_S = 24 * 3600;

export type NoticeKind = "ok" | "fail";
type Finished = Exclude<IntentOutcome, { status: "still_working" }>;

/** A trade as it comes back from the queue (JSON): its dates are strings again. */
export function tradeOf(v: unknown): TradeRecord {
  const t = v as TradeRecord & { openedAt: string | Date; closedAt: string | Date | null };
  return {
    ...t,
    openedAt: new Date(t.openedAt),
    closedAt: t.closedAt === null ? null : new Date(t.closedAt),
  };
}

/** The notice of a change that finished after its caller was told "still working". */
export function lateNotice(
  intent: SignerIntent,
  outcome: Finished,
): { event: "entry" | "sl_tp_moved" | "exit"; text: string } | null {
  const event =
    intent.action === "open"
      ? "entry"
      : intent.action === "modify"
        ? "sl_tp_moved"
        : intent.action === "close"
          ? "exit"
          : null;
  if (event === null) return null;
  const what = { entry: "open", sl_tp_moved: "change", exit: "close" }[event];
  if (outcome.status === "done" && outcome.result.ok) {
    const t = tradeOf(outcome.result.value);
    if (event === "entry") return { event, text: entryNotice(t) };
    const head = `#${t.id} ${displaySymbol(t.symbol)} ${t.side}`;
    return {
      event,
      text:
        event === "exit"
          ? `Closed: ${head} at ${price(t.exitPrice)}`
          : `Changed: ${head} ${price(t.size)} — SL ${price(t.stopLoss)}, TP ${price(t.takeProfit)}`,
    };
  }
  const reason =
    outcome.status === "done" && !outcome.result.ok
      ? outcome.result.message
      : outcome.status === "refused" || outcome.status === "failed"
        ? outcome.reason
        : "";
  // The venue did not say, or an earlier attempt still holds the key: it may have happened.
  if (
    outcome.status === "done" &&
    !outcome.result.ok &&
    UNCONFIRMED.includes(outcome.result.code)
  ) {
    return {
      event,
      text: `⚠️ Your ${what} is not confirmed yet: ${reason}${
        /positions/i.test(reason) ? "" : " Check /positions before trying again."
      }`,
    };
  }
  return { event, text: `❌ Your ${what} was not done: ${reason}` };
}

/** Failures whose change may still have happened (see RETRY_CODES in the signer's processor). */
const UNCONFIRMED: readonly string[] = ["in_progress", "outcome_unknown"];

/** Which claim a finished intent's notice takes: a success happens once per key, failures not. */
export const noticeKind = (o: Finished): NoticeKind =>
  o.status === "done" && o.result.ok ? "ok" : "fail";

const outcomeOf = (r: SignerJobResult): Finished =>
  "refused" in r ? { status: "refused", reason: r.refused } : { status: "done", result: r };

/** Refusals of an intent that is not what it claims: nobody was promised anything for it. */
const FORGED: readonly string[] = [REFUSALS.malformed, REFUSALS.mismatch, REFUSALS.notYours];

export type LateNoticeSender = (
  userId: string,
  notice: { event: "entry" | "sl_tp_moved" | "exit"; text: string },
) => Promise<void>;

export function createIntentNotices(redis: Redis) {
  const key = (what: string, jobId: string) => `signer:notice:${what}:${jobId}`;
  const claim = async (jobId: string, kind: NoticeKind) =>
    (await redis.set(key(`claim-${kind}`, jobId), "1", "EX", TTL_S, "NX")) === "OK";
  return {
    claim,

    /** Caller: a notice is owed for this intent (before it answers "still working"). */
    async owe(intent: SignerIntent): Promise<void> {
      const jobId = intentJobId(intent.userId, intent.idempotencyKey);
      await redis.set(key("owed", jobId), "1", "EX", TTL_S);
    },

    /** Caller: the intent's outcome as the signer recorded it, once it has one. */
    async finished(jobId: string): Promise<Finished | null> {
      const raw = await redis.get(key("done", jobId));
      return raw === null ? null : outcomeOf(JSON.parse(raw) as SignerJobResult);
    },

    /**
     * Caller, before a failed change is asked again under its key: the next run's result is
     * not the failure's, its failure (if any) is a new notice, and the failure's promise was
     * kept (a caller told "still working" again promises anew).
     */
    async reset(jobId: string): Promise<void> {
      await redis.del(key("done", jobId), key("claim-fail", jobId), key("owed", jobId));
    },

    /**
     * Signer, when an intent has its result: records it, then sends the notice a caller
     * promised (if one did and nobody has claimed it).
     */
    async settle(intent: SignerIntent, result: SignerJobResult, send: LateNoticeSender) {
      if (READ_ACTIONS.has(intent.action)) return;
      if ("refused" in result && FORGED.includes(result.refused)) return;
      const jobId = intentJobId(intent.userId, intent.idempotencyKey);
      await redis.set(key("done", jobId), JSON.stringify(result), "EX", TTL_S);
      if ((await redis.get(key("owed", jobId))) === null) return;
      const outcome = outcomeOf(result);
      const notice = lateNotice(intent, outcome);
      if (notice && (await claim(jobId, noticeKind(outcome)))) await send(intent.userId, notice);
    },
  };
}

export type IntentNotices = ReturnType<typeof createIntentNotices>;
