// Binance account settings Warden cannot trade under, refused at /connect naming the setting to
// change. Multi-Assets Mode margins USDⓈ-M positions with every asset of the futures wallet
// (BTC, BNB… at their USD value less a haircut), while Warden's margin checks and the figures it
// shows count the USDT wallet only, so its checks would not be the venue's. A Portfolio Margin
// account trades through Binance's Portfolio Margin API (papi), not the USDⓈ-M Futures API Warden
// uses, and needs the key's 'Enable Portfolio Margin Trading' permission.
import type { Refusal } from "../scope-policy";

export const BINANCE_MULTI_ASSETS_FIX =
  "This Binance futures account is in Multi-Assets Mode; Warden checks margin in USDT and works with Single-Asset Mode only. In Binance → Futures → Preferences → Asset Mode choose 'Single-Asset Mode', then connect the key again.";

export const BINANCE_PORTFOLIO_MARGIN_FIX =
  "Binance → API Management → Edit restrictions → untick 'Enable Portfolio Margin Trading'. A Portfolio Margin account trades futures through Binance's Portfolio Margin API, which Warden does not use, so if this account is in Portfolio Margin mode, switch it back to a classic futures account in Binance's Portfolio Margin settings first, then connect the key again.";

/**
 * The field the adapter adds to the key's report: GET /fapi/v1/multiAssetsMargin's
 * `multiAssetsMargin` (true Multi-Assets Mode, false Single-Asset Mode; anything else: Binance
 * did not say, refused as unknown). Absent when nothing asked (a report built without it).
 */
export const BINANCE_ACCOUNT_FIELDS: readonly string[] = ["multiAssetsMargin"];

/** A refusal when the account is not in Single-Asset Mode. */
export function binanceAssetModeRefusal(multiAssetsMargin: unknown): Refusal | null {
  if (multiAssetsMargin === undefined || multiAssetsMargin === false) return null;
  return { permission: "multiAssetsMargin", fix: BINANCE_MULTI_ASSETS_FIX };
}
