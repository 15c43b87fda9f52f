// Why Binance closed a position, told by the orders of its closing fills (GET
// /fapi/v1/userTrades gives each fill's orderId):
// - a stop-loss / take-profit trigger: since 2025-12-09 conditional orders live in the Algo
//   Service, and GET /fapi/v1/allAlgoOrders gives each triggered one's `actualOrderId` (the
//   matching-engine order it placed) and its `orderType` (STOP_MARKET / TAKE_PROFIT_MARKET);
// - a liquidation: Binance's own close orders carry clientOrderId "autoclose-…" and type
//   LIQUIDATION (GET /fapi/v1/order; USDⓈ-M Futures → User Data Streams → Order Update);
// - anything else (the exchange's app, another tool): closed at the venue by hand.
import type { VenueClose } from "../../domain/venues/types";
import { record } from "./ccxt-keyed";

export interface ReasonClient {
  fapiPrivateGetAllAlgoOrders(params?: object): Promise<unknown>;
  fapiPrivateGetOrder(params?: object): Promise<unknown>;
}

const TRIGGER: Record<string, VenueClose["reason"]> = {
  STOP_MARKET: "stop_loss",
  STOP: "stop_loss",
  TAKE_PROFIT_MARKET: "take_profit",
  TAKE_PROFIT: "take_profit",
};

/** Trigger orders are looked for from a little before the trade's recorded opening. */
const LEEWAY_MS = 60_000;

/**
 * The reason of a close whose closing fills belong to `orderIds`. A lookup the venue refuses
 * (an order it no longer keeps, a rate limit) does not fail the close: the reason is then
 * "venue" (not told) rather than a guess.
 */
export async function binanceCloseReason(
  ex: ReasonClient,
  marketId: string,
  since: Date,
  orderIds: string[],
): Promise<VenueClose["reason"]> {
  let untold = false;
  try {
    const algo = await ex.fapiPrivateGetAllAlgoOrders({
      symbol: marketId,
      startTime: since.getTime() - LEEWAY_MS,
    });
    for (const row of Array.isArray(algo) ? algo : []) {
      const o = record(row);
      const actual = o.actualOrderId;
      if (actual === undefined || actual === null || !orderIds.includes(String(actual))) continue;
      const reason = TRIGGER[String(o.orderType)];
      if (reason) return reason;
    }
  } catch {
    untold = true;
  }
  for (const orderId of orderIds) {
    let o: Record<string, unknown>;
    try {
      o = record(await ex.fapiPrivateGetOrder({ symbol: marketId, orderId }));
    } catch {
      untold = true;
      continue;
    }
    const client = String(o.clientOrderId ?? "");
    if (client.startsWith("autoclose-") || o.type === "LIQUIDATION" || o.origType === "LIQUIDATION")
      return "liquidation";
  }
  return untold ? "venue" : "closed_at_venue";
}
