// The pre-trade rules as pure functions, and their error and types: what the bot and the API
// import to show a quote or a refusal. Reading the market and the margin (`quoteOrder`) is in
// ./pre-trade.ts, the signer's side, as it opens the venue key.

import type { CredentialRecord } from "../venues/key-records";
import type { MarketInfo, Side, VenueId } from "../venues/types";
import { amount, money } from "./format";
import { decimalsOf, type SizeSpec } from "./sizing";
import { displaySymbol } from "./symbols";

export type PreTradeRule =
  | "symbol"
  | "lot_step"
  | "min_size"
  | "max_size"
  | "min_notional"
  | "margin"
  | "stop_loss"
  | "take_profit"
  | "leverage"
  | "max_notional";

export class PreTradeError extends Error {
  constructor(
    readonly rule: PreTradeRule,
    message: string,
  ) {
    super(message);
    this.name = "PreTradeError";
  }
}

export { amount, money };

export interface OrderRequest {
  credentialId?: string;
  symbol: string;
  side: Side;
  size: SizeSpec;
  leverage?: number;
  stopLoss?: number;
  takeProfit?: number;
}

export interface OrderQuote {
  credentialId: string;
  venue: VenueId;
  symbol: string;
  display: string;
  currency: string;
  side: Side;
  size: number;
  markPrice: number;
  notional: number;
  margin: number;
  fee: number;
  leverage: number;
  liquidationPrice: number;
  stopLoss: number | null;
  takeProfit: number | null;
  freeMargin: number;
}

/** Isolated-margin estimate: the price at which the margin less maintenance is gone. */
export function liquidationEstimate(
  side: Side,
  entry: number,
  leverage: number,
  maintenanceMarginRate: number,
): number {
  const f = 1 / leverage - maintenanceMarginRate;
  return side === "long" ? entry * (1 - f) : entry * (1 + f);
}

/** Every rule, in the order a user would fix them; throws the first that fails. */
export function checkOrder(
  m: MarketInfo,
  o: {
    side: Side;
    size: number;
    leverage: number;
    stopLoss: number | null;
    takeProfit: number | null;
  },
  account: { freeMargin: number; currency: string; maxOrderNotional: number | null },
): Omit<OrderQuote, "credentialId" | "venue" | "freeMargin"> {
  const cur = account.currency;
  const name = displaySymbol(m.symbol);
  if (!m.active) throw new PreTradeError("symbol", `${name} is not trading right now.`);
  const d = decimalsOf(m.lotStep);
  const steps = o.size / m.lotStep;
  if (Math.abs(steps - Math.round(steps)) > 1e-6) {
    throw new PreTradeError(
      "lot_step",
      `Size ${amount(o.size)} is not a multiple of ${name}'s lot step ${m.lotStep.toFixed(d)}.`,
    );
  }
  if (o.size < m.minSize) {
    throw new PreTradeError(
      "min_size",
      `Size ${amount(o.size)} is below ${name}'s minimum of ${amount(m.minSize)}.`,
    );
  }
  if (m.maxSize !== null && o.size > m.maxSize) {
    throw new PreTradeError(
      "max_size",
      `Size ${amount(o.size)} is above ${name}'s maximum of ${amount(m.maxSize)}.`,
    );
  }
  const notional = o.size * m.markPrice;
  if (notional < m.minNotional) {
    throw new PreTradeError(
      "min_notional",
      `Order value ${money(notional)} ${cur} is below ${name}'s minimum of ${money(m.minNotional)} ${cur}.`,
    );
  }
  if (!Number.isInteger(o.leverage) || o.leverage < 1 || o.leverage > m.maxLeverage) {
    throw new PreTradeError(
      "leverage",
      `Leverage ${o.leverage}x is outside ${name}'s bracket of 1–${m.maxLeverage}x.`,
    );
  }
  if (account.maxOrderNotional !== null && notional > account.maxOrderNotional) {
    throw new PreTradeError(
      "max_notional",
      `Order value ${money(notional)} ${cur} is above your limit of ${money(account.maxOrderNotional)} ${cur} per order (/limits).`,
    );
  }
  const fee = notional * m.takerFeeRate;
  const margin = notional / o.leverage + fee;
  if (margin > account.freeMargin) {
    throw new PreTradeError(
      "margin",
      `Needs ${money(margin)} ${cur} margin (incl. ${money(fee)} fee), ${money(account.freeMargin)} free.`,
    );
  }
  const below = o.side === "long";
  if (o.stopLoss !== null && (below ? o.stopLoss >= m.markPrice : o.stopLoss <= m.markPrice)) {
    throw new PreTradeError(
      "stop_loss",
      `Stop-loss ${amount(o.stopLoss)} must be ${below ? "below" : "above"} the mark ${amount(m.markPrice)} for a ${o.side}.`,
    );
  }
  if (
    o.takeProfit !== null &&
    (below ? o.takeProfit <= m.markPrice : o.takeProfit >= m.markPrice)
  ) {
    throw new PreTradeError(
      "take_profit",
      `Take-profit ${amount(o.takeProfit)} must be ${below ? "above" : "below"} the mark ${amount(m.markPrice)} for a ${o.side}.`,
    );
  }
  return {
    symbol: m.symbol,
    display: name,
    currency: cur,
    side: o.side,
    size: o.size,
    markPrice: m.markPrice,
    notional,
    margin,
    fee,
    leverage: o.leverage,
    liquidationPrice: liquidationEstimate(o.side, m.markPrice, o.leverage, m.maintenanceMarginRate),
    stopLoss: o.stopLoss,
    takeProfit: o.takeProfit,
  };
}

export interface TradingSettings {
  maxOrderNotional: number | null;
  confirmBelowNotional: number | null;
}

export interface TradingSettingsStore {
  get(userId: string): Promise<TradingSettings>;
  set(userId: string, settings: TradingSettings): Promise<void>;
}

/** The order as shown before Confirm. */
export function quoteText(q: OrderQuote): string {
  const c = q.currency;
  if (Number.isNaN(q.markPrice)) {
    return [
      `${q.side === "long" ? "🟢" : "🔴"} ${q.side.toUpperCase()} ${amount(q.size)} ${q.display} (key #${q.credentialId}) · ${q.leverage}x`,
      `SL ${q.stopLoss === null ? "—" : amount(q.stopLoss)} · TP ${q.takeProfit === null ? "—" : amount(q.takeProfit)}`,
      "(This venue's market rules are checked by the venue itself.)",
    ].join("\n");
  }
  return [
    `${q.side === "long" ? "🟢" : "🔴"} ${q.side.toUpperCase()} ${amount(q.size)} ${q.display} (key #${q.credentialId})`,
    `Mark ${amount(q.markPrice)} · notional ${money(q.notional)} ${c}`,
    `Margin ${money(q.margin)} ${c} of ${money(q.freeMargin)} free (fee ≈ ${money(q.fee)}) · ${q.leverage}x`,
    `Est. liquidation ${amount(Number(q.liquidationPrice.toPrecision(8)))}`,
    `SL ${q.stopLoss === null ? "—" : amount(q.stopLoss)} · TP ${q.takeProfit === null ? "—" : amount(q.takeProfit)}`,
  ].join("\n");
}

/** The usable key the order goes through: the one named, or the newest. */
export async function orderCredential(
  credentials: CredentialRecord[],
  credentialId?: string,
): Promise<CredentialRecord | null> {
  const usable = credentials.filter((c) => !c.revokedAt && !c.disabledAt);
  return credentialId
    ? (usable.find((c) => c.id === credentialId) ?? null)
    : (usable.at(-1) ?? null);
}
