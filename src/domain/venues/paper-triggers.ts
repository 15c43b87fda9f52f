// The paper venue's stops: a stop-loss, take-profit or liquidation price that the current price
// has crossed closes the position at that price, as a venue's trigger order would. Run by a
// worker job every few seconds and after every price override; the closes it makes are then
// picked up by reconciliation like any venue-side close.
import { liquidationEstimate } from "../trading/pre-trade-rules";
import {
  currentPaperPrice,
  PAPER_MAINTENANCE_MARGIN_RATE,
  type PaperCloseReason,
  type PaperPosition,
  type PaperPriceFeed,
  type PaperStore,
} from "./paper";

export interface FiredTrigger {
  account: string;
  symbol: string;
  reason: PaperCloseReason;
  price: number;
}

/** Which trigger `price` has crossed, and the price it fills at; null when none. */
export function crossed(
  p: PaperPosition,
  price: number,
): { reason: PaperCloseReason; at: number } | null {
  const long = p.side === "long";
  const liq = liquidationEstimate(p.side, p.entryPrice, p.leverage, PAPER_MAINTENANCE_MARGIN_RATE);
  // A liquidation comes first: a stop beyond the liquidation price would never fill.
  if (p.leverage > 1 && (long ? price <= liq : price >= liq)) {
    const stopFirst = p.stopLoss !== null && (long ? p.stopLoss > liq : p.stopLoss < liq);
    if (!stopFirst) return { reason: "liquidation", at: liq };
  }
  if (p.stopLoss !== null && (long ? price <= p.stopLoss : price >= p.stopLoss)) {
    return { reason: "stop_loss", at: p.stopLoss };
  }
  if (p.takeProfit !== null && (long ? price >= p.takeProfit : price <= p.takeProfit)) {
    return { reason: "take_profit", at: p.takeProfit };
  }
  return null;
}

export async function firePaperTriggers(
  store: PaperStore,
  now: () => number = Date.now,
  livePrice?: PaperPriceFeed,
): Promise<FiredTrigger[]> {
  const fired: FiredTrigger[] = [];
  const prices = new Map<string, number>();
  for (const p of await store.allPositions()) {
    let price = prices.get(p.symbol);
    if (price === undefined) {
      price = await currentPaperPrice(store, p.symbol, now(), livePrice);
      prices.set(p.symbol, price);
    }
    const hit = crossed(p, price);
    if (!hit) continue;
    // closePosition deletes the row in its statement: a concurrent run or a manual close that
    // got there first leaves nothing to close, so nothing is closed twice.
    const closed = await store.closePosition(p.account, p.symbol, hit.at, hit.reason);
    if (closed)
      fired.push({ account: p.account, symbol: p.symbol, reason: hit.reason, price: hit.at });
  }
  return fired;
}
