// The ordered list of migrations. Listing them explicitly (rather than globbing a folder)
// keeps the same behaviour under tsx, vitest and any bundler.
import type { MigrationObject } from "@mikro-orm/core";
import { Migration20261124090000Foundation } from "./20261124090000-foundation";
import { Migration20261124100000ExchangeCredentials } from "./20261124100000-exchange-credentials";
import { Migration20261124110000Accounts } from "./20261124110000-accounts";
import { Migration20261124120000Venues } from "./20261124120000-venues";
import { Migration20261124130000TradeAuditLog } from "./20261124130000-trade-audit-log";
import { Migration20261124140000Trades } from "./20261124140000-trades";
import { Migration20261124150000TradeSlots } from "./20261124150000-trade-slots";
import { Migration20261124160000AuditSubjectChains } from "./20261124160000-audit-subject-chains";
import { Migration20261125090000Anomalies } from "./20261125090000-anomalies";
import { Migration20261125100000TradingPauses } from "./20261125100000-trading-pauses";
import { Migration20261204120000EmailConfirmation } from "./20261204120000-email-confirmation";
import { Migration20261204120000EvidenceOutlivesUsers } from "./20261204120000-evidence-outlives-users";
import { Migration20261204120000TradingCockpit } from "./20261204120000-trading-cockpit";
import { Migration20261204120100TotpPending } from "./20261204120100-totp-pending";
import { Migration20261204140000NotificationSettings } from "./20261204140000-notification-settings";
import { Migration20261204140100CredentialsTestnet } from "./20261204140100-credentials-testnet";
import { Migration20261204160000EmailChange } from "./20261204160000-email-change";
import { Migration20261204161000AnomalySuppression } from "./20261204161000-anomaly-suppression";
import { Migration20261204161100AccountDeletion } from "./20261204161100-account-deletion";
import { Migration20261204163000CredentialsMarginModeExpiry } from "./20261204163000-credentials-margin-mode-expiry";
import { Migration20261204165000TradeNotices } from "./20261204165000-trade-notices";
import { Migration20261204166000OpenIntents } from "./20261204166000-open-intents";
import { Migration20261204168000CloseReasonAtVenue } from "./20261204168000-close-reason-at-venue";
import { Migration20261204169000OpenIntentClaims } from "./20261204169000-open-intent-claims";
import { Migration20261204172000CredentialsHotRotation } from "./20261204172000-credentials-hot-rotation";
import { Migration20261204175000AuditRowHashUnindexed } from "./20261204175000-audit-row-hash-unindexed";
import { Migration20261205010000AccountKeyRing } from "./20261205010000-account-key-ring";
import { Migration20261205020000ChangeRequests } from "./20261205020000-change-requests";
import { Migration20261205030000SignerIntake } from "./20261205030000-signer-intake";
import { Migration20261205040000AlertCopiesFinal } from "./20261205040000-alert-copies-final";
import { Migration20261205063000SignerDbRole } from "./20261205063000-signer-db-role";
import { Migration20261205064000IntakeExactlyOnce } from "./20261205064000-intake-exactly-once";
import { Migration20261205065000ChangeClaimToken } from "./20261205065000-change-claim-token";
import { Migration20261205066000RotateExactlyOnce } from "./20261205066000-rotate-exactly-once";
import { Migration20261205067000CredentialRowGuard } from "./20261205067000-credential-row-guard";

export const migrationsList: MigrationObject[] = [
  { name: "20261124090000-foundation", class: Migration20261124090000Foundation },
  {
    name: "20261124100000-exchange-credentials",
    class: Migration20261124100000ExchangeCredentials,
  },
  { name: "20261124110000-accounts", class: Migration20261124110000Accounts },
  { name: "20261124120000-venues", class: Migration20261124120000Venues },
  { name: "20261124130000-trade-audit-log", class: Migration20261124130000TradeAuditLog },
  { name: "20261124140000-trades", class: Migration20261124140000Trades },
  { name: "20261124150000-trade-slots", class: Migration20261124150000TradeSlots },
  { name: "20261125090000-anomalies", class: Migration20261125090000Anomalies },
  {
    name: "20261124160000-audit-subject-chains",
    class: Migration20261124160000AuditSubjectChains,
  },
  { name: "20261125100000-trading-pauses", class: Migration20261125100000TradingPauses },
  { name: "20261204120000-email-confirmation", class: Migration20261204120000EmailConfirmation },
  { name: "20261204120000-trading-cockpit", class: Migration20261204120000TradingCockpit },
  {
    name: "20261204120000-evidence-outlives-users",
    class: Migration20261204120000EvidenceOutlivesUsers,
  },
  { name: "20261204120100-totp-pending", class: Migration20261204120100TotpPending },
  {
    name: "20261204140000-notification-settings",
    class: Migration20261204140000NotificationSettings,
  },
  { name: "20261204140100-credentials-testnet", class: Migration20261204140100CredentialsTestnet },
  { name: "20261204160000-email-change", class: Migration20261204160000EmailChange },
  {
    name: "20261204161000-anomaly-suppression",
    class: Migration20261204161000AnomalySuppression,
  },
  { name: "20261204161100-account-deletion", class: Migration20261204161100AccountDeletion },
  {
    name: "20261204163000-credentials-margin-mode-expiry",
    class: Migration20261204163000CredentialsMarginModeExpiry,
  },
  { name: "20261204165000-trade-notices", class: Migration20261204165000TradeNotices },
  { name: "20261204166000-open-intents", class: Migration20261204166000OpenIntents },
  {
    name: "20261204168000-close-reason-at-venue",
    class: Migration20261204168000CloseReasonAtVenue,
  },
  {
    name: "20261204169000-open-intent-claims",
    class: Migration20261204169000OpenIntentClaims,
  },
  {
    name: "20261204172000-credentials-hot-rotation",
    class: Migration20261204172000CredentialsHotRotation,
  },
  {
    name: "20261204175000-audit-row-hash-unindexed",
    class: Migration20261204175000AuditRowHashUnindexed,
  },
  { name: "20261205020000-change-requests", class: Migration20261205020000ChangeRequests },
  {
    name: "20261205010000-account-key-ring",
    class: Migration20261205010000AccountKeyRing,
  },
  { name: "20261205030000-signer-intake", class: Migration20261205030000SignerIntake },
  { name: "20261205040000-alert-copies-final", class: Migration20261205040000AlertCopiesFinal },
  { name: "20261205063000-signer-db-role", class: Migration20261205063000SignerDbRole },
  { name: "20261205064000-intake-exactly-once", class: Migration20261205064000IntakeExactlyOnce },
  { name: "20261205065000-change-claim-token", class: Migration20261205065000ChangeClaimToken },
  { name: "20261205066000-rotate-exactly-once", class: Migration20261205066000RotateExactlyOnce },
  { name: "20261205067000-credential-row-guard", class: Migration20261205067000CredentialRowGuard },
];
