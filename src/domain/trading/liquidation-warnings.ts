// Liquidation warnings: when an open trade's mark comes within the user's distance of its
// liquidation price, they are told once; the warning re-arms when the mark moves back out, so a
// position hovering near the line is not announced on every run.
import type { Position } from "../venues/types";
import { liquidationEstimate } from "./pre-trade-rules";
import type { Notifier } from "./reconcile";
import { coinOf, displaySymbol } from "./symbols";
import { price } from "./trade-notices";
import type { TradeRecord } from "./types";

/** Distance (% of the mark) at which a user is warned unless they chose another. */
export const DEFAULT_LIQUIDATION_WARNING_PCT = 5;
export const MIN_LIQUIDATION_WARNING_PCT = 0.1;
export const MAX_LIQUIDATION_WARNING_PCT = 50;

export interface LiquidationWarningStore {
  /** The user's warning distance in % of the mark (the default until they choose). */
  distanceOf(userId: string): Promise<number>;
  setDistance(userId: string, pct: number): Promise<void>;
  /** Marks the trade as warned; true only for the call that marked it. */
  markWarned(tradeId: string): Promise<boolean>;
  /** The mark left the zone: the next crossing warns again. */
  clearWarned(tradeId: string): Promise<void>;
}

/** A distance as the bot and API accept it: a number of percent in the allowed range. */
export function parseWarningDistance(input: string): number | null {
  const m = /^(\d{1,2}(?:\.\d{1,2})?)\s*%?$/.exec(input.trim());
  if (!m) return null;
  const n = Number(m[1]);
  return n >= MIN_LIQUIDATION_WARNING_PCT && n <= MAX_LIQUIDATION_WARNING_PCT ? n : null;
}

/** How far the mark is from the liquidation price, in % of the mark. */
export function liquidationDistancePct(mark: number, liquidation: number): number {
  return (Math.abs(mark - liquidation) / mark) * 100;
}

/** "Liquidation warning: #12 BTC-PERP long — mark 61,200 is 2.0 % from liquidation at 60,000". */
export function liquidationWarningNotice(
  t: TradeRecord,
  mark: number,
  liquidation: number,
  threshold: number,
): string {
  const d = liquidationDistancePct(mark, liquidation);
  return `Liquidation warning: #${t.id} ${displaySymbol(t.symbol)} ${t.side} — mark ${price(mark)} is ${d.toFixed(1)} % from liquidation at ${price(Number(liquidation.toPrecision(8)))} (you are warned within ${threshold} %)`;
}

/** The liquidation price the venue reports, or the same estimate /positions shows. */
function liquidationOf(t: TradeRecord, p: Position): number | null {
  if (p.liquidationPrice !== undefined && p.liquidationPrice !== null && p.liquidationPrice > 0)
    return p.liquidationPrice;
  const lev = p.leverage ?? t.leverage ?? 1;
  return lev > 1 ? liquidationEstimate(t.side, p.entryPrice, lev, 0.005) : null;
}

/**
 * Compares each open trade's position with its liquidation price and warns the trades that
 * crossed into the user's distance; returns the ids warned by this run.
 */
export async function warnNearLiquidation(
  deps: { store: LiquidationWarningStore; notifier: Notifier },
  trades: TradeRecord[],
  positions: Position[],
): Promise<string[]> {
  const warned: string[] = [];
  const distances = new Map<string, number>();
  for (const t of trades) {
    const p = positions.find((x) => coinOf(x.symbol) === coinOf(t.symbol) && x.side === t.side);
    if (!p || p.markPrice === null || !(p.markPrice > 0)) continue;
    const liq = liquidationOf(t, p);
    if (liq === null) continue;
    let threshold = distances.get(t.userId);
    if (threshold === undefined) {
      threshold = await deps.store.distanceOf(t.userId);
      distances.set(t.userId, threshold);
    }
    if (liquidationDistancePct(p.markPrice, liq) > threshold) {
      await deps.store.clearWarned(t.id);
      continue;
    }
    if (!(await deps.store.markWarned(t.id))) continue;
    await deps.notifier.notify(
      t.userId,
      "liquidation_warning",
      liquidationWarningNotice(t, p.markPrice, liq, threshold),
    );
    warned.push(t.id);
  }
  return warned;
}
