// Notices of what a trade action did: an entry (and a partial fill), a stop loss or take profit
// moved. They wrap the trading use cases, so the bot and the API send the same notices, through
// the user's notification settings (each event on or off, on the channels they chose).

import type { OrderRequest } from "./pre-trade-rules";
import type { Notifier } from "./reconcile";
import { displaySymbol } from "./symbols";
import type { Trading } from "./trading";
import type { Caller, OpenTradeInput, TradeRecord } from "./types";

/** A price as users read it: thousands separators, no trailing zeros. */
export const price = (n: number | null) =>
  n === null ? "none" : n.toLocaleString("en-US", { maximumFractionDigits: 8 });

const head = (t: TradeRecord) => `#${t.id} ${displaySymbol(t.symbol)} ${t.side}`;

/** "Opened: #12 BTC-PERP long 0.1 at 63,000 x5 — SL 62,000, TP 70,000". */
export function entryNotice(t: TradeRecord): string {
  const lev = t.leverage === null ? "" : ` x${t.leverage}`;
  const stops = [
    t.stopLoss === null ? null : `SL ${price(t.stopLoss)}`,
    t.takeProfit === null ? null : `TP ${price(t.takeProfit)}`,
  ].filter((s) => s !== null);
  const protection = t.protectionError
    ? ` — ⚠️ no SL/TP placed: ${t.protectionError}`
    : stops.length > 0
      ? ` — ${stops.join(", ")}`
      : "";
  return `Opened: ${head(t)} ${price(t.size)} at ${price(t.entryPrice)}${lev}${protection}`;
}

/** "Partially filled: #12 BTC-PERP long 0.03 of 0.1 at 63,000 — the rest was not filled". */
export function partialFillNotice(t: TradeRecord, asked: number): string {
  return `Partially filled: ${head(t)} ${price(t.size)} of ${price(asked)} at ${price(t.entryPrice)} — the rest was not filled`;
}

/** "SL/TP moved: #12 BTC-PERP long — SL 62,000 → 63,000; TP none → 70,000". */
export function slTpMovedNotice(before: TradeRecord, after: TradeRecord): string | null {
  const parts: string[] = [];
  if (before.stopLoss !== after.stopLoss)
    parts.push(`SL ${price(before.stopLoss)} → ${price(after.stopLoss)}`);
  if (before.takeProfit !== after.takeProfit)
    parts.push(`TP ${price(before.takeProfit)} → ${price(after.takeProfit)}`);
  return parts.length === 0 ? null : `SL/TP moved: ${head(after)} — ${parts.join("; ")}`;
}

export interface TradeNoticeDeps {
  notifier: Notifier;
  /** The trade as it was before a modify (the trading store's). */
  getTrade(userId: string, id: string): Promise<TradeRecord | null>;
  /**
   * Called when a notice could not be queued: the trade itself is done and recorded, so the
   * action still succeeds and the failure is only reported (logged).
   */
  onError?: (err: unknown) => void;
  /**
   * Takes the one notice of the action under this idempotency key (where several processes may
   * wait on the same action, as callers of a separate signer do); false: another sent it.
   */
  claim?: (userId: string, idempotencyKey: string) => Promise<boolean>;
}

/** Whether this call sends the action's notice: unclaimed without a key or a claim. */
async function claimed(deps: TradeNoticeDeps, userId: string, key: string | undefined) {
  if (!deps.claim || key === undefined) return true;
  try {
    return await deps.claim(userId, key);
  } catch (err) {
    // Unclaimed is not sent: a duplicate notice is the error this guards against.
    deps.onError?.(err);
    return false;
  }
}

/**
 * The trading use cases, sending notices after an open and a modify. A user acting in Telegram
 * already has the bot's answer there, so an entry or SL/TP change they made from the bot is not
 * repeated on Telegram (email and web still get it); a partial fill always is.
 */
export function withTradeNotices(trading: Trading, deps: TradeNoticeDeps): Trading {
  const send = async (
    userId: string,
    event: "entry" | "partial_fill" | "sl_tp_moved",
    text: string,
    skipTelegram: boolean,
  ) => {
    try {
      await deps.notifier.notify(userId, event, text, { skipTelegram });
    } catch (err) {
      deps.onError?.(err);
    }
  };
  const fromBot = (c: Caller) => c.source === "telegram";
  return {
    ...trading,
    async openTrade(caller: Caller, input: OpenTradeInput) {
      // A retried request is answered with the trade it opened: that entry was notified once.
      const replay = input.idempotencyKey
        ? await trading.replayedOpen(caller.userId, input.idempotencyKey)
        : null;
      const t = await trading.openTrade(caller, input);
      if (replay !== null && replay.id === t.id) return t;
      if (!(await claimed(deps, caller.userId, input.idempotencyKey))) return t;
      await send(caller.userId, "entry", entryNotice(t), fromBot(caller));
      // A float's last digit (a size rounded to the lot step by the client) is not a shortfall.
      if (input.size - t.size > input.size * 1e-9) {
        await send(caller.userId, "partial_fill", partialFillNotice(t, input.size), false);
      }
      return t;
    },
    async modifyTrade(caller, tradeId, input, opts = {}) {
      // A repeated request is answered with what the first one did: that move was notified once.
      if (opts.idempotencyKey) {
        const request = { action: "modify" as const, tradeId, change: input };
        const replay = await trading.replayedChange(caller.userId, opts.idempotencyKey, request);
        if (replay) return trading.modifyTrade(caller, tradeId, input, opts);
      }
      const prior = await deps.getTrade(caller.userId, tradeId);
      const after = await trading.modifyTrade(caller, tradeId, input, opts);
      const text = prior ? slTpMovedNotice(prior, after) : null;
      if (text && (await claimed(deps, caller.userId, opts.idempotencyKey))) {
        await send(caller.userId, "sl_tp_moved", text, fromBot(caller));
      }
      return after;
    },
  };
}

/**
 * An order placed in one step (pre-trade checks and open together, as a separate signer does
 * them), with the same entry and partial-fill notices as `withTradeNotices`' open.
 */
export function withOrderNotices(
  placeOrder: (caller: Caller, order: OrderRequest, idempotencyKey: string) => Promise<TradeRecord>,
  deps: TradeNoticeDeps & { replayedOpen: Trading["replayedOpen"] },
) {
  return async (caller: Caller, order: OrderRequest, idempotencyKey: string) => {
    const replay = await deps.replayedOpen(caller.userId, idempotencyKey);
    const t = await placeOrder(caller, order, idempotencyKey);
    if (replay !== null && replay.id === t.id) return t;
    if (!(await claimed(deps, caller.userId, idempotencyKey))) return t;
    const send = async (event: "entry" | "partial_fill", text: string, skipTelegram: boolean) => {
      try {
        await deps.notifier.notify(caller.userId, event, text, { skipTelegram });
      } catch (err) {
        deps.onError?.(err);
      }
    };
    await send("entry", entryNotice(t), caller.source === "telegram");
    const asked = order.size.kind === "base" ? order.size.value : null;
    if (asked !== null && asked - t.size > asked * 1e-9) {
      await send("partial_fill", partialFillNotice(t, asked), false);
    }
    return t;
  };
}
