// Symbols as users type them (`btc`, `BTCUSDT`, `BTC/USDT`, `BTC-PERP`) resolved to the venue's
// linear perpetual, and shown back as `BTC-PERP`, never as ccxt's `BTC/USDT:USDT`.
import type { VenueId } from "../venues/types";

const QUOTE_OF: Record<VenueId, string> = {
  hyperliquid: "USDC",
  binanceusdm: "USDT",
  bybit: "USDT",
  paper: "USDT",
};

/** The coin of any common spelling, upper-cased: "btc/usdt:usdt" → "BTC"; null if not a symbol. */
export function coinOf(input: string): string | null {
  const s = input.trim().toUpperCase();
  if (!/^[A-Z0-9][A-Z0-9/:._-]{0,29}$/.test(s)) return null;
  const head = s.replace(/-PERP$/, "").split(/[/:\-_.]/)[0] ?? "";
  const coin = head.length > 4 ? head.replace(/(USDT|USDC)$/, "") : head;
  return /^[A-Z0-9]{1,20}$/.test(coin) ? coin : null;
}

/** The venue's unified perpetual symbol for `input`, or null when it is not a symbol at all. */
export function perpetualOf(input: string, venue: VenueId): string | null {
  const coin = coinOf(input);
  if (!coin) return null;
  const quote = QUOTE_OF[venue];
  return `${coin}/${quote}:${quote}`;
}

/** "BTC/USDT:USDT" → "BTC-PERP". */
export function displaySymbol(symbol: string): string {
  const coin = coinOf(symbol);
  return coin ? `${coin}-PERP` : symbol;
}

/** The quote (settlement) currency of a unified symbol: "BTC/USDT:USDT" → "USDT". */
export function settleOf(symbol: string): string {
  return symbol.split(":")[1] ?? symbol.split("/")[1] ?? "USDT";
}
