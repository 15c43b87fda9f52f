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
  | "token_expired";

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
};

export class AccountError extends Error {
  constructor(
    readonly code: AccountErrorCode,
    message: string = ACCOUNT_ERROR_MESSAGES[code],
  ) {
    super(message);
    this.name = "AccountError";
  }
}
