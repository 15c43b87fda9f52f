// Trading for a process that does not decrypt exchange keys (issue 19): every action that needs
// the venue becomes an intent on the signer's queue (./signer-intents.ts) and its answer is turned
// back into what the direct use cases return or throw; reads of Warden's own records (trades,
// the kill switch, which keys a user has) come straight from the database, without a key ring.
import { randomUUID } from "node:crypto";
import type { PartialClose } from "../domain/trading/partial-close";
import type { PauseStore } from "../domain/trading/pause";
import { blockingPause, pausedMessage } from "../domain/trading/pause";
import {
  type OrderQuote,
  type OrderRequest,
  orderCredential,
  PreTradeError,
  type PreTradeRule,
} from "../domain/trading/pre-trade-rules";
import type { ReconcileResult } from "../domain/trading/reconcile";
import type { Trading } from "../domain/trading/trading";
import {
  type Caller,
  type TradeAction,
  type TradeRecord,
  TradingError,
  type TradingErrorCode,
  TradingPausedError,
  TradingPendingError,
  type TradingStore,
} from "../domain/trading/types";
import type { CredentialRecord } from "../domain/venues/key-records";
import { type IntentNotices, noticeKind, tradeOf } from "./intent-notices";
import {
  type IntentOutcome,
  type IntentResult,
  intentJobId,
  READ_ACTIONS,
  REFUSALS,
  SIGNER_FAILED,
  type SignerIntent,
  type SignerIntentClient,
} from "./signer-intents";

/** What a Telegram user or an API client is told while the signer has not answered a change. */
export const STILL_WORKING = "⏳ Still working on it — you'll be notified.";
const READ_PENDING = "⏳ The venue has not answered yet; try again in a moment.";

const TRADING_CODES = new Set<TradingErrorCode>([
  "no_key",
  "key_not_usable",
  "trade_not_found",
  "trade_closed",
  "already_open",
  "in_progress",
  "venue_failed",
  "outcome_unknown",
  "size_not_reduced",
]);

export interface RemoteTradingDeps {
  client: SignerIntentClient;
  /** Warden's own records of trades and requests (no venue call). */
  store: Pick<TradingStore, "getTrade" | "listTrades" | "requestOutcome" | "changeOutcome">;
  pauses: Pick<PauseStore, "activeFor">;
  /** The user's keys as stored (encrypted; only their ids and state are read here). */
  credentials: (userId: string) => Promise<CredentialRecord[]>;
  /** How long a caller waits for the signer before it is told "still working". */
  deadlineMs: number;
  /**
   * A change that was "still working" has finished: told once per intent across processes (and
   * the signer) when `notices` is given (e.g. to send the trade notice the user was promised).
   */
  onLate?: (
    intent: SignerIntent,
    outcome: Exclude<IntentOutcome, { status: "still_working" }>,
  ) => Promise<void> | void;
  /**
   * The promise of a notice (recorded before "still working", so that the signer keeps it if
   * this process does not), the signer's recorded result, and the one claim per notice.
   */
  notices?: Pick<IntentNotices, "owe" | "finished" | "claim">;
  /** How long a "still working" change is watched for its outcome (default 15 min). */
  lateWatchMs?: number;
  pollMs?: number;
  onError?: (err: unknown) => void;
}

/** A change's idempotency key: the user action's, or (no such key) one of its own. */
export const changeKey = (caller: Caller) => caller.requestKey ?? `once:${randomUUID()}`;

function failure(r: Extract<IntentResult, { ok: false }>): Error {
  if (r.code === "pre_trade_refused") return new PreTradeError(r.rule as PreTradeRule, r.message);
  if (r.code === "trading_paused") {
    const scope = r.scope === "global" || r.scope === "account" ? r.scope : "unknown";
    return new TradingPausedError(r.message, scope);
  }
  if (TRADING_CODES.has(r.code as TradingErrorCode)) {
    return new TradingError(r.code as TradingErrorCode, r.message, r.venueCode);
  }
  // "unsupported" (a signer without the cockpit), or a code this caller does not know yet.
  return new TradingError("signer_failed", r.message);
}

function refusal(reason: string): TradingError {
  const forbidden: string[] = [
    REFUSALS.notYours,
    REFUSALS.inactive,
    REFUSALS.malformed,
    REFUSALS.mismatch,
  ];
  if (forbidden.includes(reason)) return new TradingError("forbidden", reason);
  // The signer's own reading of the kill switch and of the key, after the caller's.
  if (reason.startsWith("⏸")) return new TradingPausedError(reason, "unknown");
  if (/revoked or disabled/.test(reason)) return new TradingError("key_not_usable", reason);
  return new TradingError("refused", reason);
}

export function createRemoteTrading(deps: RemoteTradingDeps) {
  const { store } = deps;
  const timers = new Set<NodeJS.Timeout>();
  const watching = new Set<string>();
  let closed = false;
  const readKey = () => `read:${randomUUID()}`;

  /** Polls a "still working" change until it finishes, then hands it to `onLate` once. */
  function watch(intent: SignerIntent) {
    const onLate = deps.onLate;
    if (!onLate || closed) return;
    const jobId = intentJobId(intent.userId, intent.idempotencyKey);
    if (watching.has(jobId)) return;
    watching.add(jobId);
    const until = Date.now() + (deps.lateWatchMs ?? 15 * 60_000);
    const tick = async () => {
      if (closed) return;
      try {
        const o = await deps.client.outcome(intent.userId, intent.idempotencyKey);
        if (o.status !== "still_working") {
          watching.delete(jobId);
          const notices = deps.notices;
          if (!notices || (await notices.claim(jobId, noticeKind(o)))) await onLate(intent, o);
          return;
        }
      } catch (err) {
        deps.onError?.(err);
      }
      if (Date.now() > until) return void watching.delete(jobId);
      const t = setTimeout(() => {
        timers.delete(t);
        void tick();
      }, deps.pollMs ?? 500);
      t.unref();
      timers.add(t);
    };
    void tick();
  }

  /**
   * Before a change is answered "still working": the promised notice is recorded, then the
   * signer's result read once more (intent-notices.ts says why one of the two always sees it).
   */
  async function promise(intent: SignerIntent): Promise<IntentOutcome> {
    const still = { status: "still_working" } as const;
    if (!deps.notices) return still;
    try {
      await deps.notices.owe(intent);
      return (
        (await deps.notices.finished(intentJobId(intent.userId, intent.idempotencyKey))) ?? still
      );
    } catch (err) {
      // Not recorded: the watch below is then the only one to send it.
      deps.onError?.(err);
      return still;
    }
  }

  async function ask(intent: SignerIntent): Promise<unknown> {
    let o = await deps.client.submit(intent, { deadlineMs: deps.deadlineMs });
    if (o.status === "still_working" && !READ_ACTIONS.has(intent.action)) o = await promise(intent);
    switch (o.status) {
      case "done":
        if (o.result.ok) return o.result.value;
        throw failure(o.result);
      case "still_working":
        // A read left behind is simply asked again; a change is followed and notified.
        if (READ_ACTIONS.has(intent.action)) throw new TradingError("still_working", READ_PENDING);
        watch(intent);
        throw new TradingPendingError(STILL_WORKING, intent.idempotencyKey);
      case "refused":
        throw refusal(o.reason);
      case "failed":
        throw new TradingError("signer_failed", SIGNER_FAILED);
    }
  }

  const intentBase = (caller: Caller, credentialId: string, key: string) => ({
    userId: caller.userId,
    credentialId,
    idempotencyKey: key,
    source: caller.source === "venue" ? ("system" as const) : caller.source,
    ip: caller.ip,
  });

  // The same checks and texts as the direct use cases (action-context.ts), read here first so
  // that a paused user or a revoked key is told at once; the signer checks both again.
  async function assertNotPaused(caller: Caller, action: TradeAction): Promise<void> {
    let pauses: Awaited<ReturnType<PauseStore["activeFor"]>>;
    try {
      pauses = await deps.pauses.activeFor(caller.userId);
    } catch {
      throw new TradingPausedError(
        "⏸ Trading is unavailable right now (the pause switch cannot be checked). Try again shortly.",
        "unknown",
      );
    }
    const p = blockingPause(pauses, action);
    if (p) throw new TradingPausedError(pausedMessage(p), p.userId === null ? "global" : "account");
  }

  async function credentialFor(userId: string, credentialId?: string): Promise<CredentialRecord> {
    const all = await deps.credentials(userId);
    if (credentialId) {
      const c = all.find((x) => x.id === credentialId);
      if (!c) throw new TradingError("no_key", `No key #${credentialId}. /keys lists your keys.`);
      if (c.revokedAt || c.disabledAt)
        throw new TradingError(
          "key_not_usable",
          `Key #${c.id} is ${c.revokedAt ? "revoked" : "disabled"}.`,
        );
      return c;
    }
    const newest = all.filter((c) => !c.revokedAt && !c.disabledAt).at(-1);
    if (!newest)
      throw new TradingError("no_key", "Connect a key first (/connect, or POST /api/keys).");
    return newest;
  }

  async function openTradeOf(userId: string, tradeId: string, verb: "modify" | "close") {
    const t = await store.getTrade(userId, tradeId);
    if (!t) throw new TradingError("trade_not_found", `No trade #${tradeId}.`);
    if (t.status !== "open")
      throw new TradingError(
        "trade_closed",
        verb === "close" ? `Trade #${t.id} is already closed.` : `Trade #${t.id} is closed.`,
      );
    return t;
  }

  async function quote(userId: string, req: OrderRequest): Promise<OrderQuote> {
    const c = await orderCredential(await deps.credentials(userId), req.credentialId);
    if (!c) {
      throw new TradingError(
        "no_key",
        req.credentialId
          ? `No usable key #${req.credentialId}. /keys lists your keys.`
          : "Connect a key first (/connect, or POST /api/keys).",
      );
    }
    const { credentialId: _c, ...order } = req;
    return (await ask({
      ...intentBase({ userId, source: "system", ip: null }, c.id, readKey()),
      action: "quote",
      params: order,
    })) as OrderQuote;
  }

  const trading: Trading = {
    assertNotPaused: (caller, action) => assertNotPaused(caller, action),

    async replayedOpen(userId, idempotencyKey) {
      const tradeId = await store.requestOutcome(userId, idempotencyKey);
      return tradeId ? store.getTrade(userId, tradeId) : null;
    },

    replayedChange: (userId, idempotencyKey, request) =>
      store.changeOutcome(userId, idempotencyKey, request),

    async openTrade(caller, input) {
      await assertNotPaused(caller, "open");
      const c = await credentialFor(caller.userId, input.credentialId);
      const { credentialId: _c, idempotencyKey, ...order } = input;
      const key = idempotencyKey ?? changeKey(caller);
      return tradeOf(
        await ask({ ...intentBase(caller, c.id, key), action: "open", params: order }),
      );
    },

    async modifyTrade(caller, tradeId, input, opts = {}) {
      await assertNotPaused(caller, "modify");
      const t = await openTradeOf(caller.userId, tradeId, "modify");
      const c = await credentialFor(caller.userId, t.credentialId);
      return tradeOf(
        await ask({
          ...intentBase(caller, c.id, opts.idempotencyKey ?? changeKey(caller)),
          action: "modify",
          params: { tradeId: t.id, ...input },
        }),
      );
    },

    async closeTrade(caller, tradeId, opts = {}) {
      await assertNotPaused(caller, "close");
      const t = await openTradeOf(caller.userId, tradeId, "close");
      const c = await credentialFor(caller.userId, t.credentialId);
      return tradeOf(
        await ask({
          ...intentBase(caller, c.id, opts.idempotencyKey ?? changeKey(caller)),
          action: "close",
          params: { tradeId: t.id },
        }),
      );
    },

    async closeAll(caller) {
      const open = await store.listTrades(caller.userId, { limit: 100, status: "open" });
      const results: Array<{ id: string; ok: boolean; message?: string }> = [];
      for (const t of open) {
        // One key per trade, derived from the action's, so a retried "close all" closes each once.
        const each = caller.requestKey ? `${caller.requestKey}:close:${t.id}` : undefined;
        try {
          await trading.closeTrade({ ...caller, requestKey: each }, t.id);
          results.push({ id: t.id, ok: true });
        } catch (err) {
          if (!(err instanceof TradingError)) throw err;
          results.push({ id: t.id, ok: false, message: err.message });
        }
      }
      return results;
    },

    listTrades: (userId, opts) => store.listTrades(userId, opts),

    async portfolio(userId) {
      const usable = (await deps.credentials(userId)).filter((c) => !c.revokedAt && !c.disabledAt);
      return Promise.all(
        usable.map(async (c) => {
          const head = { credentialId: c.id, venue: c.venue, testnet: c.testnet };
          try {
            const v = await ask({
              ...intentBase({ userId, source: "system", ip: null }, c.id, readKey()),
              action: "portfolio",
              params: {},
            });
            return (v as Awaited<ReturnType<Trading["portfolio"]>>[number] | null) ?? head;
          } catch (err) {
            if (!(err instanceof TradingError)) throw err;
            return { ...head, error: err.message };
          }
        }),
      );
    },
  };

  return {
    trading,
    quote,

    /** The pre-trade checks and the open in one intent: the signer quotes, then sends. */
    async placeOrder(caller: Caller, order: OrderRequest, idempotencyKey?: string) {
      const c = await orderCredential(await deps.credentials(caller.userId), order.credentialId);
      if (!c) {
        throw new TradingError(
          "no_key",
          order.credentialId
            ? `No usable key #${order.credentialId}. /keys lists your keys.`
            : "Connect a key first (/connect, or POST /api/keys).",
        );
      }
      await assertNotPaused(caller, "open");
      const { credentialId: _c, ...params } = order;
      return tradeOf(
        await ask({
          ...intentBase(caller, c.id, idempotencyKey ?? changeKey(caller)),
          action: "open",
          params,
        }),
      );
    },

    async partialClose(t: TradeRecord, percent: number): Promise<PartialClose> {
      return (await ask({
        ...intentBase({ userId: t.userId, source: "system", ip: null }, t.credentialId, readKey()),
        action: "partial_close",
        params: { tradeId: t.id, percent },
      })) as PartialClose;
    },

    async reconcileKey(userId: string, credentialId: string): Promise<ReconcileResult | null> {
      const c = (await deps.credentials(userId)).find((x) => x.id === credentialId);
      if (!c || c.revokedAt || c.disabledAt) return null;
      const r = (await ask({
        ...intentBase({ userId, source: "system", ip: null }, c.id, readKey()),
        action: "reconcile",
        params: {},
      })) as ReconcileResult | null;
      return r && { ...r, closed: r.closed.map(tradeOf) };
    },

    /** Stops watching "still working" changes (shutdown). */
    close() {
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
    },
  };
}

export type RemoteTrading = ReturnType<typeof createRemoteTrading>;
