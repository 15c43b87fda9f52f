// Keys that expire (issue 16): Bybit keys without an IP binding (query-api `expiredAt`, else
// `deadlineDay`) and Hyperliquid agent wallets (extraAgents `validUntil`) stop working on a date
// their venue reports; Binance reports none for futures (`tradingAuthorityExpirationTime` is
// the spot/margin permission's, see policies/binanceusdm.ts). A week ahead, each such key is
// re-verified with its venue — which may have extended it — and its owner is warned once per
// key and expiry, through the same notice a disabled key gets.
import { withDecryptedExchangeKeys } from "../vault/decrypt-scope";
import type { ExchangeKeyRing } from "../vault/key-ring";
import { type CredentialRecord, type CredentialsRepo, venueLabel } from "./key-records";
import type { ScopeDecision } from "./scope-policy";
import { type ScopeReport, type Venue, VenueError, type VenueId } from "./types";

export const EXPIRY_WARNING_DAYS = 7;
const DAY_MS = 86_400_000;
/** Keys looked at per run; the rest wait for the next run (the job is daily). */
const BATCH = 500;

export interface KeyExpiryDeps {
  repo: Pick<CredentialsRepo, "expiringBefore" | "markVerified" | "claimExpiryWarning">;
  keyRing: ExchangeKeyRing;
  venues: Record<VenueId, Venue>;
  evaluate: (report: ScopeReport) => ScopeDecision;
  notify: (userId: string, text: string) => Promise<void>;
  recordEvent: (e: {
    userId: string;
    kind: string;
    outcome: "detected";
    details: Record<string, unknown>;
  }) => Promise<void>;
}

const ADVICE: Record<VenueId, string> = {
  bybit:
    "On Bybit, bind the key to Warden's IPs (that removes the expiry) or create a new key, then rotate it with /keys.",
  hyperliquid:
    "On app.hyperliquid.xyz → API, authorize a new API wallet, then rotate the key with /keys.",
  binanceusdm: "Create a new key on Binance, then rotate it with /keys.",
  paper: "",
};

export function expiryWarning(c: CredentialRecord, expiresAt: Date, now: Date): string {
  const days = Math.max(0, Math.ceil((expiresAt.getTime() - now.getTime()) / DAY_MS));
  return (
    `⏳ Your ${venueLabel(c.venue, c.testnet)} key "${c.label}" (${c.keyHint ?? "…"}) expires on ` +
    `${expiresAt.toISOString().slice(0, 16).replace("T", " ")} UTC (in ${days} day${days === 1 ? "" : "s"}); ` +
    `Warden re-checked it with the venue just now. After that date Warden cannot trade or close with it. ${ADVICE[c.venue]}`
  );
}

/**
 * Re-verifies every active key expiring within the week and warns its owner once per expiry.
 * A key the venue no longer accepts, or whose scopes changed, is left to the re-verification
 * job, which disables it with its own notice.
 */
export async function warnExpiringKeys(deps: KeyExpiryDeps, now = new Date()) {
  const out = { checked: 0, warned: 0, extended: 0, unreachable: 0 };
  const horizon = new Date(now.getTime() + EXPIRY_WARNING_DAYS * DAY_MS);
  for (const c of await deps.repo.expiringBefore(horizon, BATCH)) {
    out.checked++;
    let expiresAt = c.expiresAt;
    try {
      const report = await withDecryptedExchangeKeys(deps.keyRing, c.encrypted, (keys) =>
        deps.venues[c.venue].verifyScopes(keys),
      );
      const decision = deps.evaluate(report);
      if (!decision.ok) continue;
      await deps.repo.markVerified(c.id, decision.scopes, decision.warnings, report.expiresAt);
      expiresAt = report.expiresAt;
    } catch (err) {
      // A venue that does not answer today: the stored expiry still stands, so warn on it.
      if (!(err instanceof VenueError) || !err.retryable) continue;
      out.unreachable++;
    }
    if (expiresAt === null || expiresAt.getTime() > horizon.getTime()) {
      out.extended++;
      continue;
    }
    if (!(await deps.repo.claimExpiryWarning(c.id, expiresAt))) continue;
    out.warned++;
    await deps.recordEvent({
      userId: c.userId,
      kind: "key_expiring",
      outcome: "detected",
      details: { venue: c.venue, credentialId: c.id, expiresAt: expiresAt.toISOString() },
    });
    // The mark is set: a user who blocked the bot must not stop the run or be warned twice.
    await deps.notify(c.userId, expiryWarning(c, expiresAt, now)).catch(() => {});
  }
  return out;
}
