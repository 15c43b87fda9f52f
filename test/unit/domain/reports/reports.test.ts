// The P&L reports over a seeded ledger, against figures computed by hand (issue 17).
import { describe, expect, it } from "vitest";
import {
  type LedgerRow,
  performanceReport,
  periodReport,
  profitReport,
} from "../../../../src/domain/reports";

const row = (id: string, symbol: string, pnl: number, closed: string, hours = 2): LedgerRow => ({
  id,
  symbol,
  side: "long",
  size: 1,
  entryPrice: 100,
  exitPrice: 100 + pnl,
  fees: 0.5,
  funding: 0,
  realizedPnl: pnl,
  openedAt: new Date(Date.parse(closed) - hours * 3_600_000),
  closedAt: new Date(closed),
});

const ledger = [
  row("1", "BTC/USDT:USDT", 120, "2026-11-27T10:00:00Z"),
  row("2", "ETH/USDT:USDT", -40, "2026-11-30T23:59:00Z", 4),
  row("3", "BTC/USDT:USDT", -30, "2026-12-01T00:00:00Z"),
  row("4", "SOL/USDT:USDT", 15.5, "2026-12-03T12:00:00Z"),
  row("5", "BTC/USDT:USDT", 10, "2026-12-03T13:00:00Z"),
];

describe("reports", () => {
  it("when /profit is computed, then trades, win rate, P&L, best/worst, duration and profit factor match the hand figures", () => {
    const r = profitReport(ledger);
    expect(r).toMatchObject({ trades: 5, wins: 3, losses: 2, winRate: 0.6, realizedPnl: 75.5 });
    expect(r.best).toEqual({ id: "1", symbol: "BTC-PERP", pnl: 120 });
    expect(r.worst).toEqual({ id: "2", symbol: "ETH-PERP", pnl: -40 });
    // (2+4+2+2+2) h / 5 = 2.4 h; (120+15.5+10)/(40+30) = 2.0785714…
    expect(r.averageDurationMs).toBe(2.4 * 3_600_000);
    expect(r.profitFactor).toBeCloseTo(145.5 / 70, 8);
  });

  it("when /daily 7 is computed on 2026-12-04, then each UTC day holds its trades, empty days included", () => {
    const days = periodReport(ledger, "day", 7, new Date("2026-12-04T09:00:00Z"));
    expect(days.map((d) => [d.period, d.realizedPnl, d.trades])).toEqual([
      ["2026-12-04", 0, 0],
      ["2026-12-03", 25.5, 2],
      ["2026-12-02", 0, 0],
      ["2026-12-01", -30, 1],
      ["2026-11-30", -40, 1],
      ["2026-11-29", 0, 0],
      ["2026-11-28", 0, 0],
    ]);
  });

  it("when /weekly and /monthly are computed, then weeks start on Monday and months on the 1st", () => {
    const weeks = periodReport(ledger, "week", 2, new Date("2026-12-04T09:00:00Z"));
    expect(weeks.map((d) => [d.period, d.realizedPnl, d.trades])).toEqual([
      ["2026-11-30", -44.5, 4],
      ["2026-11-23", 120, 1],
    ]);
    const months = periodReport(ledger, "month", 2, new Date("2026-12-04T09:00:00Z"));
    expect(months.map((d) => [d.period, d.realizedPnl, d.trades])).toEqual([
      ["2026-12", -4.5, 3],
      ["2026-11", 80, 2],
    ]);
  });

  it("when /performance is computed, then each symbol's P&L, count and win rate match, best first", () => {
    expect(performanceReport(ledger)).toEqual([
      { symbol: "BTC-PERP", trades: 3, realizedPnl: 100, winRate: 2 / 3 },
      { symbol: "SOL-PERP", trades: 1, realizedPnl: 15.5, winRate: 1 },
      { symbol: "ETH-PERP", trades: 1, realizedPnl: -40, winRate: 0 },
    ]);
  });
});
