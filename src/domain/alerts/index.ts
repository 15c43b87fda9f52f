// Alerts (S8.3): kinds, per-user channels, 30-minute dedup, fan-out to the user and admins.
export {
  type AlertDedup,
  type AlertPreferences,
  type AlertSenders,
  type AlertStore,
  AlertsError,
  type Audience,
  alertEvent,
  CHANNELS,
  type Channel,
  type CopyRef,
  type CopyState,
  DEFAULT_PREFERENCES,
  type DeliveryAttempt,
  type DispatchDeps,
  type DispatchResult,
  dispatchAlert,
  type Recipient,
  recipientKey,
  silencesAny,
  updatePreferences,
  userChannels,
} from "./alerts";
export {
  type AdminView,
  type AnomalyRecord,
  adminAlertText,
  BUTTON_ME,
  BUTTON_NOT_ME,
  describeFinding,
  openAttempts,
  RULE_TITLES,
  userAlertText,
} from "./messages";
export { RESEND_AFTER_MS, RESEND_WITHIN_MS, type ResendReport, resendLostCopies } from "./resend";
export { type NotMeDeps, reportItWasMe, reportNotMe } from "./verdicts";
