// The daily summary: at the hour a user chose (UTC), their closed trades of the last 24 hours
// (count, realised P&L, won and lost, best and worst), once per day, through their settings.
import type { LedgerStore, ProfitReport } from "../reports";
import { profitReport } from "../reports";
import { money } from "../trading/pre-trade-rules";
import type { NoticeEvent } from "./settings";

export const DEFAULT_SUMMARY_HOUR = 20;

export interface DailySummaryStore {
  hourOf(userId: string): Promise<number>;
  setHour(userId: string, hourUtc: number): Promise<void>;
  /**
   * Claims today's summary of every user whose summary is on and whose hour has come: marks it
   * sent for `day` and returns those users. A user is returned once per day, however many runs.
   */
  claimDue(day: string, hourUtc: number): Promise<string[]>;
}

const signed = (n: number) => `${n < 0 ? "−" : "+"}${money(Math.abs(n))}`;

export function dailySummaryText(day: string, r: ProfitReport): string {
  if (r.trades === 0) return `Daily summary ${day}: no trades closed in the last 24 hours.`;
  const lines = [
    `Daily summary ${day}: ${r.trades} closed trade(s) in the last 24 hours`,
    `Realised P&L: ${signed(r.realizedPnl)} (${r.wins} won, ${r.losses} lost)`,
  ];
  if (r.best) lines.push(`Best: #${r.best.id} ${r.best.symbol} ${signed(r.best.pnl)}`);
  if (r.worst && r.trades > 1)
    lines.push(`Worst: #${r.worst.id} ${r.worst.symbol} ${signed(r.worst.pnl)}`);
  return lines.join("\n");
}

/** One run: sends every due summary; returns how many were sent. */
export async function runDailySummaries(deps: {
  store: DailySummaryStore;
  ledger: LedgerStore;
  notify(userId: string, event: NoticeEvent, text: string): Promise<void>;
  now: () => number;
}): Promise<{ sent: number }> {
  const at = new Date(deps.now());
  const day = at.toISOString().slice(0, 10);
  const users = await deps.store.claimDue(day, at.getUTCHours());
  for (const userId of users) {
    const rows = await deps.ledger.closedTrades(userId, new Date(at.getTime() - 86_400_000));
    await deps.notify(userId, "daily_summary", dailySummaryText(day, profitReport(rows)));
  }
  return { sent: users.length };
}
