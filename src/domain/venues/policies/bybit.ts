// Bybit V5's scope policy (VENUES.md, S7.1) as data: read-write, Contract Orders + Positions, and
// no other permission category, each refusal naming the permission and where Bybit changes it.
import type { Refusal, ScopeDecision, Warning } from "../scope-policy";
import type { ScopeReport } from "../types";
import { bybitAccountRefusal } from "./bybit-account";
import { expiresWarning, noIpBindingWarning } from "./warnings";

const EDIT = "Bybit → API Management → Edit";

/**
 * What the Bybit adapter puts in ScopeReport.permissions: query-api's `readOnly` next to each
 * category of its `permissions` object, e.g. { readOnly: 0, ContractTrade: ["Order", …], … }.
 */
export type BybitPermissions = { readOnly?: unknown; uta?: unknown } & Record<string, unknown>;

/** ContractTrade must contain these; `scope` is what Warden records as granted. */
export const BYBIT_REQUIRED_CONTRACT: readonly { item: string; label: string }[] = [
  { item: "Order", label: "Orders" },
  { item: "Position", label: "Positions" },
];

/**
 * Categories Warden tolerates besides ContractTrade. Bybit adds Derivatives (DerivativesTrade)
 * to every unified-account key by itself; the user cannot remove it.
 */
export const BYBIT_TOLERATED: readonly string[] = ["Derivatives"];

/** Categories Warden knows and refuses, with the section they sit in on Bybit's key form. */
export const BYBIT_REFUSED: Readonly<Record<string, { section: string; why: string }>> = {
  Wallet: { section: "Assets / Wallet", why: "it moves funds (transfers, withdrawals)" },
  Spot: { section: "Spot", why: "Warden trades contracts only" },
  FiatP2P: { section: "Fiat / P2P", why: "it pays out funds" },
  FiatBitPay: { section: "Fiat / Bybit Pay", why: "it pays out funds" },
  FiatBybitPay: { section: "Fiat / Bybit Pay", why: "it pays out funds" },
  FiatConvertBroker: { section: "Fiat / Convert", why: "it pays out funds" },
  BitCard: { section: "Bybit Card", why: "it spends funds" },
};

/** Bybit's labels for Wallet items (query-api names them differently from the form). */
const WALLET_LABELS: Readonly<Record<string, string>> = {
  AccountTransfer: "Account Transfer",
  SubMemberTransfer: "Subaccount Transfer",
  SubMemberTransferList: "Subaccount Transfer",
  Withdraw: "Withdrawal",
};

function items(value: unknown): string[] {
  if (Array.isArray(value)) return value.map(String);
  if (value === undefined || value === null || value === "") return [];
  // Not the documented array: fail closed and name the category itself.
  return [""];
}

function refusalFor(category: string, item: string): Refusal {
  const permission = item === "" ? category : `${category}.${item}`;
  const known = BYBIT_REFUSED[category];
  if (known === undefined) {
    return {
      permission,
      fix: `${EDIT} → untick everything under '${category}' (Warden does not know this permission and accepts only Contract → Orders and Positions).`,
    };
  }
  const label = category === "Wallet" ? (WALLET_LABELS[item] ?? item) : item;
  return {
    permission,
    fix: `${EDIT} → under '${known.section}' untick '${label || category}' (${known.why}).`,
  };
}

/**
 * Accepts a read-write key whose ContractTrade has Order and Position and whose every other
 * category is empty (Derivatives excepted). Unknown categories with a value are refused. An
 * expired key is refused; one with an expiry date gets a warning, as does one bound to no IP.
 */
export function evaluateBybitScopes(
  report: ScopeReport,
  opts: { egressIps: readonly string[]; now?: Date },
): ScopeDecision {
  const p = report.permissions as BybitPermissions;
  const now = opts.now ?? new Date();
  const refused: Refusal[] = [];
  const warnings: Warning[] = [];

  if (p.readOnly !== 0 && p.readOnly !== "0") {
    refused.push({
      permission: "readOnly",
      fix: `${EDIT} → API Key Permissions → choose 'Read-Write' (a read-only key cannot trade).`,
    });
  }
  const contract = items(p.ContractTrade);
  for (const { item, label } of BYBIT_REQUIRED_CONTRACT) {
    if (!contract.includes(item)) {
      refused.push({
        permission: `ContractTrade.${item}`,
        fix: `${EDIT} → under 'Contract' tick '${label}'.`,
      });
    }
  }
  for (const [category, value] of Object.entries(p)) {
    if (category === "readOnly" || category === "uta" || category === "ContractTrade") continue;
    if (BYBIT_TOLERATED.includes(category)) continue;
    for (const item of items(value)) refused.push(refusalFor(category, item));
  }
  const account = bybitAccountRefusal(p.uta);
  if (account !== null) refused.push(account);
  if (report.expiresAt !== null && report.expiresAt.getTime() <= now.getTime()) {
    refused.push({
      permission: "expiredAt",
      fix: `Bybit says this key expired on ${report.expiresAt.toISOString()}; create a new key in Bybit → API Management and bind it to Warden's IPs so it does not expire.`,
    });
  }

  if (!report.ipBound) {
    warnings.push(
      noIpBindingWarning(opts.egressIps, `${EDIT} → IP restriction → 'Only IPs with permissions'`),
    );
  }
  if (report.expiresAt !== null && report.expiresAt.getTime() > now.getTime()) {
    warnings.push(
      expiresWarning(
        report.expiresAt,
        "Bybit expires keys that are not bound to an IP; bind it to Warden's IPs to keep it working.",
      ),
    );
  }

  return refused.length > 0
    ? { ok: false, refused, warnings }
    : { ok: true, scopes: ["read", "futures_trade"], warnings };
}
