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

/** The settlement coin `input` names itself ("BTC/USDC", "BTCUSDC", "BTC/USDC:USDC"), if any. */
export function quoteNamed(input: string): string | null {
  const s = input.trim().toUpperCase();
  const settle = /:(USDT|USDC)$/.exec(s)?.[1];
  if (settle !== undefined) return settle;
  return /^[A-Z0-9]+?[/\-_.]?(USDT|USDC)$/.exec(s)?.[1] ?? null;
}

/**
 * Markets a venue lists that Warden does not trade there, with the reason the user reads.
 * Bybit's USDC perpetuals (ids like BTCPERP, unified BTC/USDC:USDC) settle in USDC and fall
 * under Bybit's USDC-contract permission, which Warden's key policy does not grant.
 */
export function untradableReason(input: string, venue: VenueId): string | null {
  if (venue !== "bybit") return null;
  const s = input.trim().toUpperCase();
  const usdcPerp = /^[A-Z0-9]{1,20}PERP$/.test(s);
  if (quoteNamed(s) !== "USDC" && !usdcPerp) return null;
  const coin = usdcPerp ? s.replace(/PERP$/, "") : coinOf(s);
  return `Bybit's USDC perpetuals (${coin}/USDC:USDC) settle in USDC and need Bybit's USDC-contract permission, which Warden does not use; Warden trades Bybit's USDT perpetuals. Use ${coin}-PERP (${coin}/USDT:USDT).`;
}
