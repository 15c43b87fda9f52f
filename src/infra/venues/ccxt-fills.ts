// A close the venue made (a trigger, a liquidation, the exchange's app), read from the venue's
// own fills through ccxt: the closing fills' average price and size, every commission since the
// trade opened, and the funding the venue reports for that time, where it reports it.
import type { Side, VenueClose } from "../../domain/venues/types";
import { num, sell } from "./ccxt-keyed";

interface CcxtTradeLike {
  side?: string;
  /** The venue's id of the order the fill belongs to. */
  order?: string;
  price?: number;
  amount?: number;
  timestamp?: number;
  fee?: { cost?: number | string; currency?: string };
}

export interface FillsClient {
  fetchMyTrades(symbol?: string, since?: number, limit?: number): Promise<CcxtTradeLike[]>;
  fetchFundingHistory?(
    symbol?: string,
    since?: number,
  ): Promise<Array<{ amount?: number; timestamp?: number }>>;
}

const LIMIT = 1000;
/**
 * Warden stamps a trade's opening time after the venue answered, so its entry fill is a little
 * older: entry-side fills are looked for this far back; closing fills only from the opening on,
 * so that an earlier trade's exit is never taken for this one's.
 */
const ENTRY_LEEWAY_MS = 60_000;

/**
 * The close of `symbol` found among the fills since `since`, or null when the venue reports no
 * closing fill (the caller then falls back to the mark and says so). `side` is the position's;
 * without it, the first fill's direction is taken as the entry. Fees are the commissions of
 * every fill since the trade opened (entry and exit), as positive amounts; funding is summed
 * only where `funding` asks for it (the venue's income history), signed as the venue pays it.
 */
export async function closeFromFills(
  ex: FillsClient,
  symbol: string,
  side: Side | undefined,
  since: Date,
  opts: {
    funding: boolean;
    /**
     * Why the venue closed, from the closing fills' order ids (a trigger, a liquidation, or by
     * hand); without it the reason stays "venue" (not told).
     */
    reasonOf?: (orderIds: string[]) => Promise<VenueClose["reason"]>;
  },
): Promise<VenueClose | null> {
  const from = since.getTime();
  const fetched = await ex.fetchMyTrades(symbol, from - ENTRY_LEEWAY_MS, LIMIT);
  const after = fetched.filter((f) => (f.timestamp ?? 0) >= from);
  const entrySide = side ?? (after[0]?.side === "sell" ? "short" : "long");
  const closing = after.filter((f) => f.side === sell(entrySide));
  const fills = fetched.filter((f) => f.side !== sell(entrySide) || (f.timestamp ?? 0) >= from);
  const size = closing.reduce((n, f) => n + (f.amount ?? 0), 0);
  if (closing.length === 0 || !(size > 0)) return null;
  const price = closing.reduce((n, f) => n + (f.price ?? 0) * (f.amount ?? 0), 0) / size;
  // Binance prints some commissions negative (its docs' own example): a fee is a cost either way.
  const fee = fills.reduce((n, f) => n + Math.abs(num(f.fee?.cost) ?? 0), 0);
  const at = Math.max(...closing.map((f) => f.timestamp ?? 0));
  let funding: number | null = null;
  if (opts.funding && ex.fetchFundingHistory) {
    const rows = await ex.fetchFundingHistory(symbol, since.getTime());
    funding = rows
      .filter((r) => (r.timestamp ?? 0) >= since.getTime() && (r.timestamp ?? 0) <= at)
      .reduce((n, r) => n + (num(r.amount) ?? 0), 0);
  }
  const orderIds = [...new Set(closing.flatMap((f) => (f.order ? [String(f.order)] : [])))];
  const reason = opts.reasonOf && orderIds.length > 0 ? await opts.reasonOf(orderIds) : "venue";
  const round8 = (n: number) => Math.round(n * 1e8) / 1e8;
  return {
    price: round8(price),
    size: round8(size),
    fee: round8(fee),
    funding: funding === null ? null : round8(funding),
    reason,
    at: new Date(at),
  };
}
