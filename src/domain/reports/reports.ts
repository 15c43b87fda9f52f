// The P&L reports freqtrade users know, as pure functions over the ledger of closed trades:
// profit summary, P&L per day/week/month, per-symbol performance. Periods are UTC.
import { displaySymbol } from "../trading/symbols";

export interface LedgerRow {
  id: string;
  symbol: string;
  side: "long" | "short";
  size: number;
  entryPrice: number | null;
  exitPrice: number | null;
  fees: number;
  funding: number;
  realizedPnl: number;
  openedAt: Date;
  closedAt: Date;
}

/** What a report needs from storage: closed trades with a realised P&L, oldest first. */
export interface LedgerStore {
  closedTrades(userId: string, since: Date | null): Promise<LedgerRow[]>;
}

const r2 = (n: number) => Math.round(n * 1e8) / 1e8;

export interface ProfitReport {
  trades: number;
  wins: number;
  losses: number;
  winRate: number | null;
  realizedPnl: number;
  fees: number;
  best: { id: string; symbol: string; pnl: number } | null;
  worst: { id: string; symbol: string; pnl: number } | null;
  averageDurationMs: number | null;
  /** Gross profit / gross loss; null with no losing trade. */
  profitFactor: number | null;
}

export function profitReport(rows: LedgerRow[]): ProfitReport {
  const wins = rows.filter((r) => r.realizedPnl > 0);
  const losses = rows.filter((r) => r.realizedPnl < 0);
  const grossWin = wins.reduce((n, r) => n + r.realizedPnl, 0);
  const grossLoss = -losses.reduce((n, r) => n + r.realizedPnl, 0);
  const sorted = [...rows].sort((a, b) => b.realizedPnl - a.realizedPnl);
  const pick = (r: LedgerRow | undefined) =>
    r ? { id: r.id, symbol: displaySymbol(r.symbol), pnl: r2(r.realizedPnl) } : null;
  return {
    trades: rows.length,
    wins: wins.length,
    losses: losses.length,
    winRate: rows.length ? wins.length / rows.length : null,
    realizedPnl: r2(rows.reduce((n, r) => n + r.realizedPnl, 0)),
    fees: r2(rows.reduce((n, r) => n + r.fees, 0)),
    best: pick(sorted[0]),
    worst: pick(sorted.at(-1)),
    averageDurationMs: rows.length
      ? rows.reduce((n, r) => n + (r.closedAt.getTime() - r.openedAt.getTime()), 0) / rows.length
      : null,
    profitFactor: grossLoss > 0 ? r2(grossWin / grossLoss) : null,
  };
}

export type PeriodUnit = "day" | "week" | "month";

/** The UTC start of the period holding `t` (weeks start on Monday). */
export function periodStart(t: Date, unit: PeriodUnit): Date {
  const d = new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), t.getUTCDate()));
  if (unit === "week") d.setUTCDate(d.getUTCDate() - ((d.getUTCDay() + 6) % 7));
  if (unit === "month") d.setUTCDate(1);
  return d;
}

function previous(start: Date, unit: PeriodUnit): Date {
  const d = new Date(start);
  if (unit === "day") d.setUTCDate(d.getUTCDate() - 1);
  else if (unit === "week") d.setUTCDate(d.getUTCDate() - 7);
  else d.setUTCMonth(d.getUTCMonth() - 1);
  return d;
}

export interface PeriodRow {
  /** "2026-12-04", "2026-11-30" (the week's Monday) or "2026-12". */
  period: string;
  start: Date;
  realizedPnl: number;
  trades: number;
}

/** The last `n` periods up to the one holding `now`, newest first, empty ones included. */
export function periodReport(
  rows: LedgerRow[],
  unit: PeriodUnit,
  n: number,
  now: Date,
): PeriodRow[] {
  const out: PeriodRow[] = [];
  let start = periodStart(now, unit);
  for (let i = 0; i < n; i++) {
    const iso = start.toISOString();
    out.push({
      period: unit === "month" ? iso.slice(0, 7) : iso.slice(0, 10),
      start,
      realizedPnl: 0,
      trades: 0,
    });
    start = previous(start, unit);
  }
  for (const r of rows) {
    const key = periodStart(r.closedAt, unit).getTime();
    const row = out.find((p) => p.start.getTime() === key);
    if (!row) continue;
    row.realizedPnl = r2(row.realizedPnl + r.realizedPnl);
    row.trades++;
  }
  return out;
}

/** The first day a `periodReport` of these arguments covers (for the storage query). */
export function periodSince(unit: PeriodUnit, n: number, now: Date): Date {
  let start = periodStart(now, unit);
  for (let i = 1; i < n; i++) start = previous(start, unit);
  return start;
}

export interface PerformanceRow {
  symbol: string;
  trades: number;
  realizedPnl: number;
  winRate: number;
}

/** Per symbol, best first. */
export function performanceReport(rows: LedgerRow[]): PerformanceRow[] {
  const by = new Map<string, LedgerRow[]>();
  for (const r of rows) {
    const k = displaySymbol(r.symbol);
    by.set(k, [...(by.get(k) ?? []), r]);
  }
  return [...by.entries()]
    .map(([symbol, rs]) => ({
      symbol,
      trades: rs.length,
      realizedPnl: r2(rs.reduce((n, r) => n + r.realizedPnl, 0)),
      winRate: rs.filter((r) => r.realizedPnl > 0).length / rs.length,
    }))
    .sort((a, b) => b.realizedPnl - a.realizedPnl);
}
