// What every trade action shares: the fresh read of the kill switch and the user's keys, the
// key in scope for one venue call, and the audit entry of a failed venue call.
import { withDecryptedExchangeKeys } from "../vault/decrypt-scope";
import type { CredentialRecord } from "../venues/key-records";
import type { Venue } from "../venues/types";
import { VenueError } from "../venues/types";
import { type ActivePause, blockingPause, pausedMessage } from "./pause";
import {
  type Caller,
  type TradeAction,
  type TradingDeps,
  TradingError,
  TradingPausedError,
} from "./types";

const REFUSED_BEFORE_ORDER = new Set([
  "invalid_key",
  "permission_denied",
  "insufficient_funds",
  "invalid_order",
  "unknown_symbol",
  "unsupported_credentials",
  /** The venue, asked by client order id after a lost answer, has no such order. */
  "not_placed",
]);

export function orderCertainlyNotPlaced(err: unknown): boolean {
  if (err instanceof TradingError) {
    if (err.code === "outcome_unknown") return false;
    return err.code !== "venue_failed" || REFUSED_BEFORE_ORDER.has(err.venueCode ?? "");
  }
  return err instanceof VenueError && REFUSED_BEFORE_ORDER.has(err.code);
}

/**
 * `p`, marked as handled: a read started alongside others may be left unawaited when an earlier
 * check refuses the action; its failure then must not surface as an unhandled rejection.
 */
export function quiet<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}

export type ActionContext = ReturnType<typeof createActionContext>;

export function createActionContext(deps: TradingDeps) {
  const { store } = deps;

  async function credentialFor(
    userId: string,
    credentialId?: string,
    /** The user's credentials when already being read (alongside the kill switch). */
    listed?: Promise<CredentialRecord[]>,
  ): Promise<CredentialRecord> {
    const all = await (listed ?? deps.credentials(userId));
    const usable = all.filter((c) => !c.revokedAt && !c.disabledAt);
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
    const newest = usable.at(-1);
    if (!newest)
      throw new TradingError("no_key", "Connect a key first (/connect, or POST /api/keys).");
    return newest;
  }

  async function onVenue<T>(
    c: CredentialRecord,
    fn: (v: Venue, keys: Parameters<Venue["positions"]>[0]) => Promise<T>,
  ) {
    return withDecryptedExchangeKeys(deps.keyRing, c.encrypted, (keys) =>
      fn(deps.venues[c.venue], keys),
    );
  }

  const failedDetails = (err: VenueError, asked: Record<string, unknown>) => ({
    ...asked,
    error: err.code,
    message: err.message,
  });

  async function auditFailure(
    caller: Caller,
    action: TradeAction,
    c: CredentialRecord,
    symbol: string,
    tradeId: string | null,
    err: VenueError,
    asked: Record<string, unknown>,
  ) {
    await store.recordFailure({
      userId: caller.userId,
      action,
      tradeId,
      venue: c.venue,
      symbol,
      details: failedDetails(err, asked),
      source: caller.source,
      ip: caller.ip,
      outcome: "failed",
    });
    return new TradingError("venue_failed", err.message, err.code);
  }

  /**
   * Fails safe: when the switch cannot be read, the action is refused like a paused one.
   * `read` is the switch's state when already being read (alongside the action's other reads).
   */
  async function assertNotPaused(
    caller: Caller,
    action: TradeAction,
    read?: Promise<ActivePause[]>,
  ): Promise<void> {
    let pauses: ActivePause[];
    try {
      pauses = await (read ?? deps.pauses.activeFor(caller.userId));
    } catch {
      throw new TradingPausedError(
        "⏸ Trading is unavailable right now (the pause switch cannot be checked). Try again shortly.",
        "unknown",
      );
    }
    const p = blockingPause(pauses, action);
    if (p) throw new TradingPausedError(pausedMessage(p), p.userId === null ? "global" : "account");
  }

  /**
   * An action's reads of the kill switch and of the user's keys, started together (fresh for
   * this action: nothing is kept across actions, so a pause or a revocation applies at once).
   */
  function actionReads(caller: Caller) {
    const together = deps.actionState;
    if (together) {
      const both = quiet((async () => together(caller.userId))());
      return {
        pauses: quiet(both.then((b) => b.pauses)),
        credentials: quiet(both.then((b) => b.credentials)),
      };
    }
    return {
      // Async, so that a store throwing at once is refused as an unreadable switch too.
      pauses: quiet((async () => deps.pauses.activeFor(caller.userId))()),
      credentials: quiet(deps.credentials(caller.userId)),
    };
  }

  async function noteIp(caller: Caller) {
    if (caller.source === "api" && caller.ip) await store.recordIp(caller.userId, caller.ip);
  }

  return { credentialFor, onVenue, auditFailure, assertNotPaused, actionReads, noteIp };
}
