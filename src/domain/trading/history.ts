// The trade history as /trades pages it: newest first, n per page, with cursors (trade ids) to
// the older and newer pages, so a page stays the same when new trades arrive.
import { amount, money } from "./pre-trade-rules";
import { displaySymbol, settleOf } from "./symbols";
import type { TradeRecord } from "./types";

export interface HistoryTrade extends TradeRecord {
  realizedPnl: number | null;
}

export interface HistoryPage {
  trades: HistoryTrade[];
  /** Whether trades older than the last / newer than the first of this page exist. */
  older: boolean;
  newer: boolean;
}

export type HistoryCursor = { before: string } | { after: string } | null;

export interface TradeHistoryStore {
  page(userId: string, size: number, cursor: HistoryCursor): Promise<HistoryPage>;
}

export const TRADES_DEFAULT = 10;
export const TRADES_MAX = 50;

/** "#12 closed long 0.01 BTC-PERP 60,000 → 62,000 · +20.00 USDT". */
export function historyLine(t: HistoryTrade): string {
  const sym = displaySymbol(t.symbol);
  const entry = t.entryPrice === null ? "?" : amount(t.entryPrice);
  if (t.status !== "closed") {
    return `#${t.id} ${t.status} ${t.side} ${amount(t.size)} ${sym} @ ${entry}`;
  }
  const exit = t.exitPrice === null ? "?" : amount(t.exitPrice);
  const pnl =
    t.realizedPnl === null
      ? ""
      : ` · ${t.realizedPnl < 0 ? "−" : "+"}${money(Math.abs(t.realizedPnl))} ${settleOf(t.symbol)}`;
  return `#${t.id} closed ${t.side} ${amount(t.size)} ${sym} ${entry} → ${exit}${pnl}`;
}
