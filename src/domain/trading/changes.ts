// Changing an open trade: modifying its stop loss / take profit or shrinking it, closing it, and
// closing all of a user's open trades. Each change and its audit entry are written together.
import type { Fill } from "../venues/types";
import { VenueError } from "../venues/types";
import { type ActionContext, quiet } from "./action-context";
import { type Caller, closeLedger, type TradingDeps, TradingError } from "./types";

export function createTradeChanges(deps: TradingDeps, ctx: ActionContext) {
  const { store } = deps;
  const { credentialFor, onVenue, auditFailure, assertNotPaused, actionReads, noteIp } = ctx;

  return {
    async modifyTrade(
      caller: Caller,
      tradeId: string,
      input: { stopLoss?: number | null; takeProfit?: number | null; size?: number },
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
      );
      await noteIp(caller);
      return updated;
    },

    async closeTrade(caller: Caller, tradeId: string) {
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
      );
      await noteIp(caller);
      return closed;
    },

    async closeAll(caller: Caller) {
      const open = await store.listTrades(caller.userId, { limit: 100, status: "open" });
      const results: Array<{ id: string; ok: boolean; message?: string }> = [];
      for (const t of open) {
        try {
          await this.closeTrade(caller, t.id);
          results.push({ id: t.id, ok: true });
        } catch (err) {
          if (!(err instanceof TradingError)) throw err;
          results.push({ id: t.id, ok: false, message: err.message });
        }
      }
      return results;
    },
  };
}
