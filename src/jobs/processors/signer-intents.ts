// The `signer-intents` processor: the signer trusts the queue for transport, not for authority.
// Every kind (open, modify, close; the reads portfolio, quote, partial_close, reconcile) passes
// the same checks; an open is measured against the pre-trade rules here again before it is sent.
// Before an intent acts it re-reads from the database that the named key is the named user's and
// usable, that the user still exists, and the kill switch; a forged intent is refused and
// recorded as a security event. Refusals complete the job (never retried). Opens, modifies and
// closes are exactly once: each runs under the intent's idempotency key, whose claim and result
// the trading store keeps per (user, key) (trade_requests), the result written in the same
// statement as the change and its audit entry. A job redelivered after its signer died is
// answered with the recorded result (`replay`, before the kill switch) instead of acting again;
// one that died between the venue call and the record acts again once its claim's lease runs
// out, which the venue absorbs (a close of a flat position, a modify to the same values).
import type { Job } from "bullmq";
import type { SecurityEvent } from "../../domain/accounts/repo";
import { KeyReusedError } from "../../domain/trading/open";
import type { PartialClose } from "../../domain/trading/partial-close";
import { type ActivePause, blockingPause, pausedMessage } from "../../domain/trading/pause";
import {
  type OrderQuote,
  type OrderRequest,
  PreTradeError,
} from "../../domain/trading/pre-trade-rules";
import type { ReconcileResult } from "../../domain/trading/reconcile";
import type { Trading } from "../../domain/trading/trading";
import { type TradeRecord, TradingError, TradingPausedError } from "../../domain/trading/types";
import type { KeyAuthority } from "../../infra/signer-authority";
import {
  intentJobId,
  REFUSALS,
  SIGNER_FAILED,
  type SignerIntent,
  type SignerJobResult,
  signerIntentSchema,
} from "../signer-intents";

/**
 * Executes an authorised intent. Returns the answer (a coded failure of the action included);
 * throws only what a later attempt may resolve, so the job is retried.
 */
export type SignerExecutor = (intent: SignerIntent) => Promise<SignerJobResult>;

export interface SignerIntentProcessorDeps {
  authority: KeyAuthority;
  pauses: { activeFor(userId: string): Promise<ActivePause[]> };
  recordEvent: (e: SecurityEvent) => Promise<void>;
  execute: SignerExecutor;
  /**
   * The answer already recorded for this intent (an open whose trade exists under its
   * idempotency key), or null. Consulted before the kill switch: a redelivered intent that
   * already traded is answered with its trade, not refused as if nothing had happened.
   */
  replay?: (intent: SignerIntent) => Promise<SignerJobResult | null>;
  /**
   * Told each authorised intent's result before the job completes: the late notice a caller
   * promised (intent-notices.ts). Its failure is reported, never retried: a retry would act again.
   */
  settle?: (intent: SignerIntent, result: SignerJobResult) => Promise<void>;
  onSettleError?: (err: unknown) => void;
}

/**
 * Retried only on a redelivered job (an earlier attempt died or threw); on a first delivery they
 * are the answer, as on the direct path. The others are final failures of the action.
 */
const RETRY_CODES = new Set([
  // An earlier attempt of this intent holds the idempotency key (it died mid-open): once open
  // recovery settles the order, a retry replays its trade or opens afresh if none was placed.
  "in_progress",
  // The venue did not say whether the order executed: the key stays claimed, as above.
  "outcome_unknown",
]);

/**
 * What the signer needs beyond the trading use cases: the pre-trade checks (re-run on every open,
 * so an intent is measured against the market and the user's limit by the signer itself), the
 * partial-close preview and the on-demand reconciliation. Without them an open is sent as asked
 * (coins only) and those intents are answered `unsupported`.
 */
export interface CockpitExecutorDeps {
  quote: (userId: string, req: OrderRequest) => Promise<OrderQuote>;
  partialClose: (t: TradeRecord, percent: number) => Promise<PartialClose>;
  reconcileKey: (userId: string, credentialId: string) => Promise<ReconcileResult | null>;
  getTrade: (userId: string, id: string) => Promise<TradeRecord | null>;
}

const unsupported = (action: string): SignerJobResult => ({
  ok: false,
  code: "unsupported",
  message: `This signer cannot answer ${action} intents.`,
});

/** The trading use cases (and, with `cockpit`, the pre-trade checks) as the signer's executor. */
export function tradingExecutor(trading: Trading, cockpit?: CockpitExecutorDeps): SignerExecutor {
  return async (intent) => {
    const caller = { userId: intent.userId, source: intent.source, ip: intent.ip };
    const { idempotencyKey } = intent;
    try {
      switch (intent.action) {
        case "open": {
          const { size, ...p } = intent.params;
          const spec = typeof size === "number" ? { kind: "base" as const, value: size } : size;
          let order = { ...p, size: spec.value, credentialId: intent.credentialId };
          if (cockpit) {
            const q = await cockpit.quote(intent.userId, {
              ...p,
              size: spec,
              credentialId: intent.credentialId,
            });
            order = { ...order, symbol: q.symbol, size: q.size, credentialId: q.credentialId };
          } else if (spec.kind !== "base") {
            return unsupported("sized (order value or percent) open");
          }
          return {
            ok: true,
            value: await trading.openTrade(caller, {
              ...order,
              idempotencyKey: intent.idempotencyKey,
            }),
          };
        }
        case "modify": {
          const { tradeId, ...change } = intent.params;
          return {
            ok: true,
            value: await trading.modifyTrade(caller, tradeId, change, { idempotencyKey }),
          };
        }
        case "close":
          return {
            ok: true,
            value: await trading.closeTrade(caller, intent.params.tradeId, { idempotencyKey }),
          };
        case "portfolio": {
          const all = await trading.portfolio(intent.userId);
          return {
            ok: true,
            value: all.find((p) => p.credentialId === intent.credentialId) ?? null,
          };
        }
        case "quote":
          if (!cockpit) return unsupported(intent.action);
          return {
            ok: true,
            value: await cockpit.quote(intent.userId, {
              ...intent.params,
              credentialId: intent.credentialId,
            }),
          };
        case "partial_close": {
          if (!cockpit) return unsupported(intent.action);
          const t = await cockpit.getTrade(intent.userId, intent.params.tradeId);
          if (t?.status !== "open" || t.credentialId !== intent.credentialId) {
            return {
              ok: false,
              code: "trade_not_found",
              message: `No open trade #${intent.params.tradeId}.`,
            };
          }
          return { ok: true, value: await cockpit.partialClose(t, intent.params.percent) };
        }
        case "reconcile":
          if (!cockpit) return unsupported(intent.action);
          return {
            ok: true,
            value: await cockpit.reconcileKey(intent.userId, intent.credentialId),
          };
      }
    } catch (err) {
      // Retrying would not make the key this request's.
      if (err instanceof KeyReusedError) return { refused: err.message };
      if (err instanceof PreTradeError) {
        return { ok: false, code: "pre_trade_refused", rule: err.rule, message: err.message };
      }
      if (err instanceof TradingError && !RETRY_CODES.has(err.code)) {
        return {
          ok: false,
          code: err.code,
          message: err.message,
          ...(err.venueCode ? { venueCode: err.venueCode } : {}),
          ...(err instanceof TradingPausedError ? { scope: err.scope } : {}),
        };
      }
      throw err;
    }
  };
}

/**
 * An open, modify or close already made under the intent's idempotency key (see
 * SignerIntentProcessorDeps); a modify or close only when it was this same request.
 */
export function tradingReplay(trading: Trading) {
  return async (intent: SignerIntent): Promise<SignerJobResult | null> => {
    const { userId, idempotencyKey } = intent;
    let trade: TradeRecord | null = null;
    switch (intent.action) {
      case "open":
        trade = await trading.replayedOpen(userId, idempotencyKey);
        break;
      case "modify": {
        const { tradeId, ...change } = intent.params;
        trade = await trading.replayedChange(userId, idempotencyKey, {
          action: "modify",
          tradeId,
          change,
        });
        break;
      }
      case "close":
        trade = await trading.replayedChange(userId, idempotencyKey, {
          action: "close",
          tradeId: intent.params.tradeId,
        });
        break;
      case "portfolio":
        return null;
    }
    return trade ? { ok: true, value: trade } : null;
  };
}

export function createSignerIntentProcessor(deps: SignerIntentProcessorDeps) {
  async function refuse(
    reason: string,
    event: (Omit<SecurityEvent, "outcome" | "kind"> & { kind?: string }) | null,
  ): Promise<SignerJobResult> {
    if (event) {
      await deps.recordEvent({ kind: "signer_intent_forged", ...event, outcome: "refused" });
    }
    return { refused: reason };
  }

  async function paused(intent: SignerIntent): Promise<string | null> {
    const action = intent.action;
    if (action !== "open" && action !== "modify" && action !== "close") return null;
    let pauses: ActivePause[];
    try {
      pauses = await deps.pauses.activeFor(intent.userId);
    } catch {
      // Fail safe, as the trading use cases do.
      return "⏸ Trading is unavailable right now (the pause switch cannot be checked).";
    }
    const p = blockingPause(pauses, action);
    return p ? pausedMessage(p) : null;
  }

  return async (job: Job): Promise<SignerJobResult> => {
    const parsed = signerIntentSchema.safeParse(job.data);
    if (!parsed.success || parsed.data.action !== job.name) {
      return refuse(REFUSALS.malformed, {
        userId: null,
        details: { jobId: job.id, job: job.name, reason: "malformed" },
      });
    }
    const intent = parsed.data;
    const asked = {
      jobId: job.id,
      action: intent.action,
      claimedUserId: intent.userId,
      credentialId: intent.credentialId,
      source: intent.source,
    };
    // A job filed under another (user, key) would shadow that request's real intent.
    if (job.id !== intentJobId(intent.userId, intent.idempotencyKey)) {
      return refuse(REFUSALS.mismatch, {
        userId: null,
        details: { ...asked, reason: "job_id_mismatch" },
      });
    }
    const key = await deps.authority.key(intent.credentialId);
    if (!key || key.userId !== intent.userId) {
      // Filed on the account whose key was named (the one attacked), when there is one.
      return refuse(REFUSALS.notYours, {
        userId: key?.userId ?? null,
        ip: intent.ip,
        details: { ...asked, reason: key ? "key_of_another_user" : "no_such_key" },
      });
    }
    if (!(await deps.authority.userActive(intent.userId))) {
      return refuse(REFUSALS.inactive, {
        kind: "signer_intent_refused",
        userId: null,
        details: { ...asked, reason: "user_inactive" },
      });
    }
    let result: SignerJobResult;
    try {
      result = await answer(job, intent, key.usable);
    } catch (err) {
      // Its last attempt: no result will come, so a promised notice is settled as failed here
      // (a caller told "still working" may be gone; its watch would hear "failed" as well).
      if (job.attemptsMade + 1 >= (job.opts.attempts ?? 1)) {
        await settle(intent, { ok: false, code: "signer_failed", message: SIGNER_FAILED });
      }
      throw err;
    }
    await settle(intent, result);
    return result;
  };

  /** Tells `settle` an intent's result; its failure is reported, never thrown (see deps). */
  async function settle(intent: SignerIntent, result: SignerJobResult): Promise<void> {
    if (!deps.settle) return;
    try {
      await deps.settle(intent, result);
    } catch (err) {
      deps.onSettleError?.(err);
    }
  }

  /** An authorised intent's answer: its recorded result, a refusal, or the action's. */
  async function answer(job: Job, intent: SignerIntent, usable: boolean) {
    const recorded = await deps.replay?.(intent);
    if (recorded) return recorded;
    // Ordinary refusals (the key was revoked, trading paused since the request): no event.
    if (!usable) return refuse(`Key #${intent.credentialId} is revoked or disabled.`, null);
    const pause = await paused(intent);
    if (pause) return refuse(pause, null);
    try {
      return await deps.execute(intent);
    } catch (err) {
      // On the intent's first delivery these are the answer, as on the direct path (409
      // in_progress, 504 outcome_unknown); only a job redelivered after an attempt that died or
      // threw waits for the key's claim to settle.
      if (err instanceof TradingError && RETRY_CODES.has(err.code) && job.attemptsStarted <= 1) {
        return { ok: false, code: err.code, message: err.message } as SignerJobResult;
      }
      throw err;
    }
  }
}
