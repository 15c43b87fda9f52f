// Changing an open trade: modifying its stop loss / take profit or shrinking it, closing it, and
// closing all of a user's open trades. Each change and its audit entry are written together.
// Under an idempotency key (the signer's intents) a change is made once: the key is claimed
// first, and its result is written with the change, so a redelivered request gets that result.
import type { Fill } from "../venues/types";
import { VenueError } from "../venues/types";
import { type ActionContext, orderCertainlyNotPlaced, quiet } from "./action-context";
import { keyReused } from "./open";
import {
  type Caller,
  type ChangeRequest,
  closeLedger,
  type TradeRecord,
  type TradingDeps,
  TradingError,
} from "./types";

/**
 * How long an attempt holds a change's idempotency key. An attempt that dies before recording
 * leaves the key claimed; once this has run out, a redelivery acts again (a close of a flat
 * position and a modify to the same absolute values change nothing more at the venue).
 */
export const CHANGE_LEASE_MS = 30_000;

/** The claim a change records its result under: the key and the holder's token. */
type ChangeLink = { userId: string; key: string; token: string };

const inProgress = () => new TradingError("in_progress", "That request is still being processed.");

export interface ChangeOptions {
  /** Makes the change once per (user, key): a repeat gets the first one's result. */
  idempotencyKey?: string;
}

export function createTradeChanges(deps: TradingDeps, ctx: ActionContext) {
  const { store } = deps;
  const { credentialFor, onVenue, auditFailure, assertNotPaused, actionReads, noteIp } = ctx;

  /**
   * Runs `act` as the one execution of `request` under `key`: the trade an earlier execution
   * recorded, or this one's. The claim is freed when nothing can have reached the venue.
   */
  async function once(
    caller: Caller,
    key: string | undefined,
    request: ChangeRequest,
    act: (link: ChangeLink | undefined) => Promise<TradeRecord>,
  ): Promise<TradeRecord> {
    if (!key) return act(undefined);
    const leaseMs = deps.changeLeaseMs ?? CHANGE_LEASE_MS;
    const claim = await store.claimChange(caller.userId, key, request, leaseMs);
    if (claim.status === "done") return claim.trade;
    if (claim.status === "conflict") throw keyReused();
    if (claim.status === "pending") throw inProgress();
    const { token } = claim;
    const lease = holdLease(caller.userId, key, token, leaseMs);
    try {
      return await act({ userId: caller.userId, key, token });
    } catch (err) {
      if (err instanceof TradingError && err.code === "trade_closed") {
        // Recorded meanwhile by another attempt (its lease had run out): that result.
        const recorded = await store.changeOutcome(caller.userId, key, request);
        if (recorded) return recorded;
        // This attempt lost the claim and wrote nothing; the one holding it now answers.
        if (!(await store.renewChange(caller.userId, key, token, leaseMs))) throw inProgress();
      }
      if (orderCertainlyNotPlaced(err)) await store.releaseRequest(caller.userId, key, token);
      throw err;
    } finally {
      lease.stop();
    }
  }

  /**
   * Renews the claim's lease every third of it while the change runs, so a venue call slower
   * than the lease is not taken for a dead attempt and made again by a redelivery. A failed
   * renewal is tried again at the next beat; a lost claim stops the beats (the holder's record
   * then writes nothing, see recordChange).
   */
  function holdLease(userId: string, key: string, token: string, leaseMs: number) {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const beat = () => {
      timer = setTimeout(async () => {
        if (stopped) return;
        const held = await store.renewChange(userId, key, token, leaseMs).catch(() => true);
        if (held && !stopped) beat();
      }, leaseMs / 3);
      timer.unref?.();
    };
    beat();
    return {
      stop() {
        stopped = true;
        clearTimeout(timer);
      },
    };
  }

  return {
    /** The trade as the change made under this key left it, if that change was `request`. */
    replayedChange(
      userId: string,
      idempotencyKey: string,
      request: ChangeRequest,
    ): Promise<TradeRecord | null> {
      return store.changeOutcome(userId, idempotencyKey, request);
    },

    async modifyTrade(
      caller: Caller,
      tradeId: string,
      input: { stopLoss?: number | null; takeProfit?: number | null; size?: number },
      opts: ChangeOptions = {},
    ) {
      const request: ChangeRequest = { action: "modify", tradeId, change: input };
      return once(caller, opts.idempotencyKey, request, (link) =>
        modify(caller, tradeId, input, link),
      );
    },

    async closeTrade(caller: Caller, tradeId: string, opts: ChangeOptions = {}) {
      const request: ChangeRequest = { action: "close", tradeId };
      return once(caller, opts.idempotencyKey, request, (link) => close(caller, tradeId, link));
    },

    async closeAll(caller: Caller) {
      const open = await store.listTrades(caller.userId, { limit: 100, status: "open" });
      const results: Array<{ id: string; ok: boolean; message?: string }> = [];
      for (const t of open) {
        try {
          await close(caller, t.id, undefined);
          results.push({ id: t.id, ok: true });
        } catch (err) {
          if (!(err instanceof TradingError)) throw err;
          results.push({ id: t.id, ok: false, message: err.message });
        }
      }
      return results;
    },
  };

  async function modify(
    caller: Caller,
    tradeId: string,
    input: { stopLoss?: number | null; takeProfit?: number | null; size?: number },
    link: ChangeLink | undefined,
  ) {
    const { pauses, credentials } = actionReads(caller);
    const trade = quiet(store.getTrade(caller.userId, tradeId));
    await assertNotPaused(caller, "modify", pauses);
    const t = await trade;
    if (!t) throw new TradingError("trade_not_found", `No trade #${tradeId}.`);
    if (t.status !== "open") throw new TradingError("trade_closed", `Trade #${t.id} is closed.`);
    // Growing a position here would skip the pre-trade checks and the confirmation.
    if (input.size !== undefined && !(input.size > 0 && input.size < t.size)) {
      throw new TradingError(
        "size_not_reduced",
        `The size of #${t.id} can only be reduced here (it is ${t.size}); to add to it, open a new order.`,
      );
    }
    const c = await credentialFor(caller.userId, t.credentialId, credentials);
    const asked = { stopLoss: input.stopLoss, takeProfit: input.takeProfit, size: input.size };
    let fill: Fill | null;
    try {
      fill = await onVenue(c, (v, keys) =>
        v.modifyPosition(keys, { symbol: t.symbol, side: t.side, ...input }),
      );
    } catch (err) {
      if (err instanceof VenueError)
        throw await auditFailure(caller, "modify", c, t.symbol, t.id, err, asked);
      throw err;
    }
    const updated = await store.recordChange(
      t.id,
      {
        ...(input.size !== undefined ? { size: input.size } : {}),
        ...(input.stopLoss !== undefined ? { stopLoss: input.stopLoss } : {}),
        ...(input.takeProfit !== undefined ? { takeProfit: input.takeProfit } : {}),
      },
      {
        userId: caller.userId,
        action: "modify",
        tradeId: t.id,
        venue: c.venue,
        symbol: t.symbol,
        details: { ...asked, price: fill?.price ?? null, orderId: fill?.orderId ?? null },
        source: caller.source,
        ip: caller.ip,
        outcome: "ok",
      },
      link,
    );
    await noteIp(caller);
    return updated;
  }

  async function close(caller: Caller, tradeId: string, link: ChangeLink | undefined) {
    const { pauses, credentials } = actionReads(caller);
    const trade = quiet(store.getTrade(caller.userId, tradeId));
    await assertNotPaused(caller, "close", pauses);
    const t = await trade;
    if (!t) throw new TradingError("trade_not_found", `No trade #${tradeId}.`);
    if (t.status !== "open")
      throw new TradingError("trade_closed", `Trade #${t.id} is already closed.`);
    const c = await credentialFor(caller.userId, t.credentialId, credentials);
    let fill: Fill | null;
    try {
      fill = await onVenue(c, (v, keys) =>
        v.closePosition(keys, { symbol: t.symbol, side: t.side }),
      );
    } catch (err) {
      if (err instanceof VenueError)
        throw await auditFailure(caller, "close", c, t.symbol, t.id, err, {});
      throw err;
    }
    const closed = await store.recordChange(
      t.id,
      {
        status: "closed",
        exitPrice: fill?.price ?? null,
        ...closeLedger(t, fill?.price ?? null),
      },
      {
        userId: caller.userId,
        action: "close",
        tradeId: t.id,
        venue: c.venue,
        symbol: t.symbol,
        details: {
          price: fill?.price ?? null,
          size: fill?.size ?? 0,
          orderId: fill?.orderId ?? null,
          alreadyFlat: fill === null,
        },
        source: caller.source,
        ip: caller.ip,
        outcome: "ok",
      },
      link,
    );
    await noteIp(caller);
    return closed;
  }
}
