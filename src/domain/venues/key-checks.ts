// Re-verification of stored exchange keys (S7.2) and the expiry warnings (issue 16): the key
// service's checks that decrypt a stored key, in its zeroing scope, to ask the venue again. They
// run where the exchange-key ring is (the signer); ./keys.ts holds everything else.
import { withDecryptedExchangeKeys } from "../vault/decrypt-scope";
import { warnExpiringKeys } from "./key-expiry";
import { venueLabel } from "./key-records";
import type { KeyServiceDeps } from "./keys";
import { VenueError } from "./types";

export function createKeyChecks(deps: KeyServiceDeps) {
  const { repo } = deps;
  return {
    /** Re-verifies the keys that expire within a week and warns their owners (key-expiry.ts). */
    warnExpiring: (now?: Date) => warnExpiringKeys(deps, now),

    /** S7.2: checks every active key again; disables and reports the ones the venue changed. */
    async reverifyAll(batch = 100) {
      const out = { checked: 0, disabled: 0, unreachable: 0 };
      let after = "0";
      for (;;) {
        const rows = await repo.activeAfter(after, batch);
        if (rows.length === 0) break;
        after = rows[rows.length - 1]!.id;
        for (const c of rows) {
          out.checked++;
          let reason: string | null = null;
          try {
            const report = await withDecryptedExchangeKeys(deps.keyRing, c.encrypted, (keys) =>
              deps.venues[c.venue].verifyScopes(keys),
            );
            const decision = deps.evaluate(report);
            if (decision.ok) {
              await repo.markVerified(c.id, decision.scopes, decision.warnings, report.expiresAt);
              continue;
            }
            reason = `it now allows ${decision.refused.map((r) => r.permission).join(", ")}`;
          } catch (err) {
            // One key's failure must never stop the check of the keys after it.
            if (
              err instanceof VenueError &&
              ["invalid_key", "permission_denied", "unsupported_credentials"].includes(err.code)
            ) {
              reason = "the venue no longer accepts it (revoked, expired, or bound to another IP)";
            } else {
              out.unreachable++;
              continue;
            }
          }
          if (await repo.disable(c.id, reason)) {
            out.disabled++;
            await deps.recordEvent({
              userId: c.userId,
              kind: "key_disabled",
              outcome: "detected",
              details: { venue: c.venue, credentialId: c.id, reason },
            });
            await deps
              .notify(
                c.userId,
                `⚠️ Your ${venueLabel(c.venue, c.testnet)} key "${c.label}" (${c.keyHint ?? "…"}) was disabled: ${reason}. ` +
                  "Warden will not trade with it. Fix it on the venue, then rotate it with /keys.",
              )
              // The key is disabled either way; a user who blocked the bot must not stop the run.
              .catch(() => {});
          }
        }
      }
      return out;
    },
  };
}
