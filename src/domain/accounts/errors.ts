// The coded errors of the accounts feature: each face (HTTP, bot) maps a code to its own reply,
// and messages are short enough to show a user as they are.

export type AccountErrorCode =
  | "password_too_short"
  | "password_too_long"
  | "password_breached"
  | "breach_check_unavailable"
  | "invalid_totp"
  | "totp_replayed"
  | "invalid_backup_code"
  | "invalid_token"
  | "token_expired"
  | "invalid_email"
  | "email_taken"
  | "invalid_credentials"
  | "rate_limited"
  | "reauth_required"
  | "step_up_required"
  | "invalid_challenge"
  | "invalid_reset_token"
  | "totp_not_enabled"
  | "totp_already_enabled"
  | "totp_not_pending"
  | "admin_requires_2fa"
  | "admin_cannot_disable_2fa"
  | "invalid_link_code"
  | "telegram_already_linked"
  | "account_already_linked"
  | "telegram_not_linked"
  | "session_not_found"
  | "password_not_set"
  | "invalid_confirmation_token"
  | "email_not_confirmed"
  | "email_unchanged";

export const ACCOUNT_ERROR_MESSAGES: Readonly<Record<AccountErrorCode, string>> = {
  password_too_short: "Password must be at least 8 characters.",
  password_too_long: "Password must be at most 128 characters.",
  password_breached: "This password appears in a known data breach. Please choose a different one.",
  breach_check_unavailable:
    "We could not check this password against known breaches right now. Please try again shortly.",
  invalid_totp:
    "That code is not valid. Enter the current 6-digit code from your authenticator app.",
  totp_replayed: "That code was already used. Wait for the next code and try again.",
  invalid_backup_code: "That backup code is not valid or was already used.",
  invalid_token: "Your session is not valid. Please sign in again.",
  token_expired: "Your session has expired. Please sign in again.",
  invalid_email: "Enter a valid email address.",
  email_taken: "An account with this email already exists. Sign in or reset your password.",
  invalid_credentials: "Wrong email or password.",
  rate_limited: "Too many attempts. Please wait and try again.",
  reauth_required: "Confirm it is you: enter your password and current 2FA code again.",
  step_up_required:
    "This needs a step-up: confirm it is you with your password (and 2FA code) first.",
  invalid_challenge: "This sign-in step has expired. Please sign in again.",
  invalid_reset_token: "This reset link is invalid, expired or already used. Request a new one.",
  totp_not_enabled: "Two-factor authentication is not enabled on this account.",
  totp_already_enabled: "Two-factor authentication is already enabled.",
  totp_not_pending: "Start two-factor enrolment first.",
  admin_requires_2fa: "Admins must enable two-factor authentication and verify a code first.",
  admin_cannot_disable_2fa: "Admin accounts cannot turn off two-factor authentication.",
  invalid_link_code: "This link code is invalid, expired or already used. Create a new one.",
  telegram_already_linked:
    "This Telegram account is already linked to another Warden account. Unlink it there first.",
  account_already_linked:
    "This Warden account is already linked to a Telegram account. Contact support to move it.",
  telegram_not_linked: "This Telegram account is not linked to a Warden web account.",
  session_not_found: "No such session.",
  password_not_set: "This account signs in through Telegram and has no password yet.",
  invalid_confirmation_token:
    "This confirmation link is invalid, expired or already used. Sign in and ask for a new one.",
  email_not_confirmed:
    "Confirm your email address first: open the link we mailed you (ask for a new one below).",
  email_unchanged: "This is already your confirmed email address.",
};

export class AccountError extends Error {
  constructor(
    readonly code: AccountErrorCode,
    message: string = ACCOUNT_ERROR_MESSAGES[code],
    /** For rate_limited: when the caller may try again. */
    readonly retryAfterSeconds?: number,
    /** For password_breached: how often the password appears in known breaches. */
    readonly breachCount?: number,
  ) {
    super(message);
    this.name = "AccountError";
  }
}
