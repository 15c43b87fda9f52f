// Closing a share of a position, shared by the bot's ½ button, `/close #id <percent>` and
// POST /api/trades/:id/close {percent}: the part closed is rounded down to the venue market's
// lot step (the pre-trade checks read the same market), and a part or a rest below the venue's
// minimum size is refused with the numbers instead of being sent.

import { withDecryptedExchangeKeys } from "../vault/decrypt-scope";
import { VENUE_NAMES } from "../venues/key-records";
import { VenueError } from "../venues/types";
import { amount } from "./format";
import { orderCredential, type PreTradeDeps } from "./pre-trade";
import { decimalsOf, floorToStep } from "./sizing";
import { displaySymbol } from "./symbols";
import { type TradeRecord, TradingError } from "./types";

export type PartialClose =
  | { ok: true /** The size left open. */; size: number /** The size closed. */; closing: number }
  | { ok: false; error: "nothing_left" | "below_minimum"; message: string };

/** The lot step and minimum size of the trade's market, or null when the adapter gives none. */
async function lotOf(
  deps: Omit<PreTradeDeps, "settings">,
  t: TradeRecord,
): Promise<{ lotStep: number; minSize: number } | null> {
  const venue = deps.venues[t.venue];
  if (!venue.market) return null;
  const c = await orderCredential(await deps.credentials(t.userId), t.credentialId);
  if (!c) throw new TradingError("no_key", `The key of #${t.id} is no longer usable.`);
  return withDecryptedExchangeKeys(deps.keyRing, c.encrypted, async (keys) => {
    try {
      const m = await venue.market!(keys, t.symbol);
      return { lotStep: m.lotStep, minSize: m.minSize };
    } catch (err) {
      if (err instanceof VenueError) throw new TradingError("venue_failed", err.message, err.code);
      throw err;
    }
  });
}

/** Works out what closing `percent` of open trade `t` sends; nothing is sent here. */
export async function partialClose(
  deps: Omit<PreTradeDeps, "settings">,
  t: TradeRecord,
  percent: number,
): Promise<PartialClose> {
  const lot = await lotOf(deps, t);
  // Without market data: the size's own decimals, as before the market was known.
  const step = lot?.lotStep ?? 10 ** -Math.min(8, (String(t.size).split(".")[1] ?? "").length);
  const minSize = lot?.minSize ?? step;
  const d = Math.max(decimalsOf(step), (String(t.size).split(".")[1] ?? "").length);
  const closing = floorToStep((t.size * percent) / 100, step);
  const size = Number((t.size - closing).toFixed(Math.min(d, 12)));
  const name = `${displaySymbol(t.symbol)} on ${VENUE_NAMES[t.venue]}`;
  if (!(size > 0) || size < minSize - 1e-12) {
    return {
      ok: false,
      error: "nothing_left",
      message: `Closing ${percent} % of #${t.id} would leave ${amount(size)}, below the minimum ${amount(minSize)} of ${name}: close the whole trade.`,
    };
  }
  if (!(closing > 0) || closing < minSize - 1e-12) {
    return {
      ok: false,
      error: "below_minimum",
      message: `Closing ${percent} % of #${t.id} is ${amount((t.size * percent) / 100)}, below the minimum ${amount(minSize)} of ${name} (lot step ${amount(step)}).`,
    };
  }
  return { ok: true, size, closing };
}
