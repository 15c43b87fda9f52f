// Opening a trade: the kill switch and the key, an idempotency key claimed, the one slot of
// (key, coin) reserved with the open's intent, the venue order, then the trade and its audit
// entry in one transaction. A lost venue answer is settled by asking the venue for the order.

import type { CredentialRecord } from "../venues/key-records";
import type { Fill } from "../venues/types";
import { VenueError } from "../venues/types";
import { type ActionContext, orderCertainlyNotPlaced } from "./action-context";
import { openIntentOf } from "./open-recovery";
import type { Caller, OpenTradeInput, TradeRecord, TradingDeps } from "./types";
import { TradingError } from "./types";
import { clientOrderIdFor, outcomeUnknown, settleOrder } from "./uncertain-outcome";

/**
 * An idempotency key already used for another request (an open's key for a close, say). Coded
 * `in_progress` (409), which the faces' status tables know; the signer refuses it for good.
 */
export class KeyReusedError extends TradingError {
  constructor() {
    super("in_progress", "This idempotency key was already used for a different request.");
    this.name = "KeyReusedError";
  }
}

export function keyReused(): TradingError {
  return new KeyReusedError();
}

export function createOpenTrade(deps: TradingDeps, ctx: ActionContext) {
  const { store } = deps;
  const { credentialFor, onVenue, auditFailure, assertNotPaused, actionReads, noteIp } = ctx;

  /**
   * The open's answer was lost: asks the venue for the order by its client id until it says
   * what happened. Filled (wholly or partly) → that fill, with the asked stop loss / take profit
   * placed now (their failure is reported, not thrown: the position is open). Never placed →
   * a certain failure (the request may be retried). No answer → `outcome_unknown`, and the
   * request and its slot stay claimed so that no retry can open a second position.
   */
  async function settleUnknownOpen(
    caller: Caller,
    c: CredentialRecord,
    input: OpenTradeInput,
    clientOrderId: string,
    lost: VenueError,
  ): Promise<Fill> {
    const asked = { side: input.side, size: input.size, clientOrderId, lostAnswer: lost.message };
    const found = await settleOrder(
      () =>
        onVenue(c, (v, keys) =>
          v.findOrder!(keys, { symbol: input.symbol, side: input.side, clientOrderId }),
        ),
      { delaysMs: deps.lookupDelaysMs },
    );
    if (found === null) {
      await auditFailure(caller, "open", c, input.symbol, null, lost, {
        ...asked,
        outcome: "unknown",
      });
      throw new TradingError(
        "outcome_unknown",
        `${lost.message.replace(/[.;:]?\s*try again shortly\.?$/i, "")}. Warden cannot tell yet whether the order was placed: check your positions before trying again; this request stays on hold so that it cannot open twice.`,
        lost.code,
      );
    }
    if (found.status !== "filled") {
      throw await auditFailure(
        caller,
        "open",
        c,
        input.symbol,
        null,
        new VenueError("not_placed", "The venue did not place the order; nothing was opened."),
        { ...asked, outcome: found.status },
      );
    }
    const fill: Fill = { ...found.fill };
    if (input.stopLoss !== undefined || input.takeProfit !== undefined) {
      try {
        await onVenue(c, (v, keys) =>
          v.modifyPosition(keys, {
            symbol: input.symbol,
            side: input.side,
            stopLoss: input.stopLoss,
            takeProfit: input.takeProfit,
          }),
        );
      } catch (err) {
        if (!(err instanceof VenueError)) throw err;
        fill.protectionError = err.message;
      }
    }
    return fill;
  }

  return {
    /**
     * The trade an earlier open with this idempotency key already opened, so a retried request
     * is answered with it before anything else is checked again (the market may have moved).
     */
    async replayedOpen(userId: string, idempotencyKey: string): Promise<TradeRecord | null> {
      const tradeId = await store.requestOutcome(userId, idempotencyKey);
      return tradeId ? store.getTrade(userId, tradeId) : null;
    },

    async openTrade(caller: Caller, input: OpenTradeInput): Promise<TradeRecord> {
      // The kill switch and the keys are read at once (each once for this action); the switch
      // is judged first, so a paused user is told so whatever the keys say.
      const { pauses, credentials } = actionReads(caller);
      await assertNotPaused(caller, "open", pauses);
      const c = await credentialFor(caller.userId, input.credentialId, credentials);
      const key = input.idempotencyKey;
      let reservedSlot = false;
      let notedIntent: string | undefined;
      if (key) {
        const claim = await store.claimRequest(caller.userId, key);
        if (claim.status === "done") return (await store.getTrade(caller.userId, claim.tradeId))!;
        if (claim.status === "pending")
          throw new TradingError("in_progress", "That request is still being processed.");
        if (claim.status === "conflict") throw keyReused();
      }
      try {
        const clientOrderId = clientOrderIdFor(c.id, key);
        // Noted with the slot, before the order leaves, so an open that dies after it (a failed
        // write, a killed process) is found and recorded from the venue by the recovery job.
        const intent =
          deps.venues[c.venue].findOrder !== undefined
            ? openIntentOf(caller, c.id, input, clientOrderId)
            : undefined;
        const slot = await store.reserveSlot(c.id, input.symbol, intent);
        if (!slot.reserved) {
          throw new TradingError(
            "already_open",
            slot.tradeId
              ? `Trade #${slot.tradeId} is already open on ${input.symbol} with this key: modify or close it.`
              : `Another order on ${input.symbol} with this key is in progress.`,
          );
        }
        reservedSlot = true;
        if (intent) notedIntent = clientOrderId;
        const asked = {
          side: input.side,
          size: input.size,
          leverage: input.leverage ?? null,
          stopLoss: input.stopLoss ?? null,
          takeProfit: input.takeProfit ?? null,
        };
        let fill: Fill;
        try {
          fill = await onVenue(c, (v, keys) => v.openPosition(keys, { ...input, clientOrderId }));
        } catch (err) {
          if (outcomeUnknown(err) && deps.venues[c.venue].findOrder !== undefined) {
            fill = await settleUnknownOpen(caller, c, input, clientOrderId, err as VenueError);
          } else {
            if (err instanceof VenueError)
              throw await auditFailure(caller, "open", c, input.symbol, null, err, asked);
            throw err;
          }
        }
        const protectionError = fill.protectionError;
        const trade = await store.recordOpen(
          {
            userId: caller.userId,
            credentialId: c.id,
            venue: c.venue,
            symbol: fill.symbol,
            side: input.side,
            size: fill.size,
            entryPrice: fill.price,
            leverage: input.leverage ?? null,
            stopLoss: protectionError === undefined ? (input.stopLoss ?? null) : null,
            takeProfit: protectionError === undefined ? (input.takeProfit ?? null) : null,
            source: caller.source,
          },
          { slotSymbol: input.symbol, idempotencyKey: key ?? null, clientOrderId },
          {
            userId: caller.userId,
            action: "open",
            venue: c.venue,
            symbol: fill.symbol,
            details: {
              ...asked,
              price: fill.price,
              filled: fill.size,
              orderId: fill.orderId,
              clientOrderId,
              ...(protectionError === undefined
                ? {}
                : { protection: "not_placed", protectionError }),
            },
            source: caller.source,
            ip: caller.ip,
            outcome: "ok",
          },
        );
        await noteIp(caller);
        return protectionError === undefined ? trade : { ...trade, protectionError };
      } catch (err) {
        // Free the key only when no order can have reached the venue; after a timeout or an
        // unclear venue answer it stays claimed, so a retry cannot open a second position.
        if (orderCertainlyNotPlaced(err)) {
          if (notedIntent) await store.dropOpenIntent(notedIntent);
          if (key) await store.releaseRequest(caller.userId, key);
          if (reservedSlot) await store.releaseSlot(c.id, input.symbol);
        }
        throw err;
      }
    },
  };
}
