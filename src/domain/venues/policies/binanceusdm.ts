// Binance USD-M Futures' scope policy (VENUES.md, S7.1) as an allow-list: every field of
// apiRestrictions is known here — the flags a key must have, the ones it must not, the ones that
// only inform — and a field Warden has never heard of refuses the key, naming it.
import type { Refusal, ScopeDecision, Warning } from "../scope-policy";
import type { ScopeReport } from "../types";
import {
  BINANCE_ACCOUNT_FIELDS,
  BINANCE_PORTFOLIO_MARGIN_FIX,
  binanceAssetModeRefusal,
} from "./binance-account";
import { expiresWarning, noIpBindingWarning } from "./warnings";

const EDIT = "Binance → API Management → Edit restrictions";

interface Flag {
  /** The field of GET /sapi/v1/account/apiRestrictions. */
  permission: string;
  /** The checkbox's label on Binance's API Management page. */
  label: string;
}

/** Must be true; `scope` is what Warden records as granted. */
export const BINANCE_REQUIRED: readonly (Flag & { scope: string })[] = [
  { permission: "enableReading", label: "Enable Reading", scope: "read" },
  { permission: "enableFutures", label: "Enable Futures", scope: "futures_trade" },
];

/** Must be false: each lets a key move funds out of the futures wallet or trade elsewhere. */
export const BINANCE_REFUSED: readonly Flag[] = [
  { permission: "enableWithdrawals", label: "Enable Withdrawals" },
  { permission: "enableInternalTransfer", label: "Enable Internal Transfer" },
  { permission: "permitsUniversalTransfer", label: "Permits Universal Transfer" },
  { permission: "enableSpotAndMarginTrading", label: "Enable Spot & Margin Trading" },
  { permission: "enableMargin", label: "Enable Margin Loan, Repay & Transfer" },
];

/**
 * Newer flags Binance added to apiRestrictions; older keys do not report them, so absent is as
 * good as false, but true refuses the key (each opens another way to trade or another account).
 */
export const BINANCE_REFUSED_IF_TRUE: readonly Flag[] = [
  { permission: "enableVanillaOptions", label: "Enable European Options" },
  { permission: "enablePortfolioMarginTrading", label: "Enable Portfolio Margin Trading" },
  { permission: "enableFixApiTrade", label: "Enable FIX API Trade" },
  { permission: "enableFixReadOnly", label: "Enable FIX API Read Only" },
];

/**
 * Fields that describe the key without granting anything. `tradingAuthorityExpirationTime` is
 * the expiry of the *spot and margin* trading permission (Binance docs, Get API Key Permission),
 * which Warden refuses anyway: it says nothing about futures.
 */
export const BINANCE_INFORMATIONAL: readonly string[] = [
  "ipRestrict",
  "createTime",
  "tradingAuthorityExpirationTime",
];

/**
 * Accepts a key with every required flag true and every refused flag false. Fails closed: a
 * refused flag Binance did not report at all is refused too, since nothing confirmed it is off.
 * A trading authority that has already expired is refused; a future one is a warning.
 */
export function evaluateBinanceScopes(
  report: ScopeReport,
  opts: { egressIps: readonly string[]; now?: Date },
): ScopeDecision {
  const p = report.permissions;
  const now = opts.now ?? new Date();
  const refused: Refusal[] = [];
  const warnings: Warning[] = [];

  for (const flag of BINANCE_REQUIRED) {
    if (p[flag.permission] !== true) {
      refused.push({ permission: flag.permission, fix: `${EDIT} → tick '${flag.label}'.` });
    }
  }
  const known = new Set([
    ...BINANCE_REQUIRED.map((f) => f.permission),
    ...BINANCE_REFUSED.map((f) => f.permission),
    ...BINANCE_REFUSED_IF_TRUE.map((f) => f.permission),
    ...BINANCE_INFORMATIONAL,
    ...BINANCE_ACCOUNT_FIELDS,
  ]);
  for (const name of Object.keys(p).sort()) {
    if (!known.has(name)) {
      refused.push({
        permission: name,
        fix: `Binance reports a permission Warden does not know ('${name}'), so it cannot tell whether the key is trade-only; ${EDIT} → leave only 'Enable Reading' and 'Enable Futures' ticked, or tell Warden's operators about '${name}'.`,
      });
    }
  }
  for (const flag of BINANCE_REFUSED_IF_TRUE) {
    if (p[flag.permission] !== undefined && p[flag.permission] !== false) {
      refused.push({
        permission: flag.permission,
        fix:
          flag.permission === "enablePortfolioMarginTrading"
            ? BINANCE_PORTFOLIO_MARGIN_FIX
            : `${EDIT} → untick '${flag.label}'.`,
      });
    }
  }
  const assetMode = binanceAssetModeRefusal(p.multiAssetsMargin);
  if (assetMode !== null) refused.push(assetMode);
  for (const flag of BINANCE_REFUSED) {
    if (p[flag.permission] !== false) {
      refused.push({
        permission: flag.permission,
        fix:
          p[flag.permission] === undefined
            ? `Binance did not say whether '${flag.label}' is off; ${EDIT} → make sure '${flag.label}' is unticked, then try again.`
            : `${EDIT} → untick '${flag.label}'.`,
      });
    }
  }

  if (!report.ipBound) {
    warnings.push(
      noIpBindingWarning(opts.egressIps, `${EDIT} → 'Restrict access to trusted IPs only'`),
    );
  }
  if (report.expiresAt !== null && report.expiresAt.getTime() > now.getTime()) {
    warnings.push(expiresWarning(report.expiresAt, "Binance then stops accepting it."));
  }

  return refused.length > 0
    ? { ok: false, refused, warnings }
    : { ok: true, scopes: BINANCE_REQUIRED.map((f) => f.scope), warnings };
}
