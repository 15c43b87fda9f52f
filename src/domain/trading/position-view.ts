// An open trade as the cockpit shows it (settings page, API): Warden's trade joined with the
// venue's position, with unrealised P&L (amount and %), liquidation price and age. The same
// figures as the bot's /positions.
import { VENUE_NAMES } from "../venues/key-records";
import type { Position, VenueId } from "../venues/types";
import { liquidationEstimate } from "./pre-trade-rules";
import { coinOf, displaySymbol, settleOf } from "./symbols";
import type { TradeRecord } from "./types";

export interface PositionView {
  id: string;
  credentialId: string;
  venue: VenueId;
  /** "Binance USD-M". */
  venueName: string;
  testnet: boolean;
  /** "BTC-PERP". */
  symbol: string;
  currency: string;
  side: "long" | "short";
  size: number;
  entryPrice: number;
  markPrice: number | null;
  unrealizedPnl: number | null;
  unrealizedPnlPercent: number | null;
  stopLoss: number | null;
  takeProfit: number | null;
  liquidationPrice: number | null;
  leverage: number;
  openedAt: string;
  ageMs: number;
}

/** The venue's position for a trade: same key, same coin. */
export function positionOf(
  t: TradeRecord,
  accounts: Array<{ credentialId: string; positions?: Position[] }>,
): Position | undefined {
  return accounts
    .find((a) => a.credentialId === t.credentialId)
    ?.positions?.find((p) => coinOf(p.symbol) === coinOf(t.symbol));
}

export function positionView(t: TradeRecord, p: Position | undefined, nowMs: number): PositionView {
  const entry = p?.entryPrice ?? t.entryPrice ?? 0;
  const size = p?.size ?? t.size;
  const mark = p?.markPrice ?? null;
  const pnl =
    p?.unrealizedPnl ??
    (mark === null ? null : (mark - entry) * size * (t.side === "long" ? 1 : -1));
  const leverage = p?.leverage ?? t.leverage ?? 1;
  const liq =
    p?.liquidationPrice ??
    (leverage > 1 ? liquidationEstimate(t.side, entry, leverage, 0.005) : null);
  return {
    id: t.id,
    credentialId: t.credentialId,
    venue: t.venue,
    venueName: VENUE_NAMES[t.venue],
    testnet: t.testnet === true,
    symbol: displaySymbol(t.symbol),
    currency: settleOf(t.symbol),
    side: t.side,
    size,
    entryPrice: entry,
    markPrice: mark,
    unrealizedPnl: pnl,
    unrealizedPnlPercent: pnl !== null && entry > 0 ? (pnl / (entry * size)) * 100 : null,
    stopLoss: p?.stopLoss !== undefined ? p.stopLoss : t.stopLoss,
    takeProfit: p?.takeProfit !== undefined ? p.takeProfit : t.takeProfit,
    liquidationPrice: liq === null ? null : Number(liq.toPrecision(8)),
    leverage,
    openedAt: t.openedAt.toISOString(),
    ageMs: Math.max(0, nowMs - t.openedAt.getTime()),
  };
}
