// Binance USD-M Futures' scope policy (VENUES.md, S7.1) as data: the apiRestrictions flags a key
// must have, the ones it must not, and where on Binance each is changed.
import type { Refusal, ScopeDecision, Warning } from "../scope-policy";
import type { ScopeReport } from "../types";
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
  if (report.expiresAt !== null && report.expiresAt.getTime() <= now.getTime()) {
    refused.push({
      permission: "tradingAuthorityExpirationTime",
      fix: `This key's futures trading authority expired on ${report.expiresAt.toISOString()}; ${EDIT} → renew it (or bind the key to IPs so it does not expire).`,
    });
  }

  if (!report.ipBound) {
    warnings.push(
      noIpBindingWarning(opts.egressIps, `${EDIT} → 'Restrict access to trusted IPs only'`),
    );
  }
  if (report.expiresAt !== null && report.expiresAt.getTime() > now.getTime()) {
    warnings.push(
      expiresWarning(
        report.expiresAt,
        "Binance then stops futures trading with it; renew the trading authority, or bind the key to IPs, before then.",
      ),
    );
  }

  return refused.length > 0
    ? { ok: false, refused, warnings }
    : { ok: true, scopes: BINANCE_REQUIRED.map((f) => f.scope), warnings };
}
