// Every user-facing bot text in one place: short, actionable, never echoing input.
import { BOT_COMMANDS } from "./commands";

export const WELCOME = [
  "Welcome to Warden 🛡",
  "",
  "A non-custodial trading assistant for Binance USD-M, Bybit and Hyperliquid futures.",
  "You connect trade-only API keys; Warden never holds funds and refuses any key that can withdraw.",
  "",
  "Send /help to see what you can do.",
].join("\n");

export function helpText(): string {
  return [
    "Commands:",
    ...BOT_COMMANDS.map((c) => `/${c.command} — ${c.description}`),
    "",
    "Send /help <command> for details and examples, e.g. /help open.",
  ].join("\n");
}

export function unknownCommand(command: string): string {
  const shown = command.length > 32 ? `${command.slice(0, 32)}…` : command;
  return `Unknown command ${shown}.\n\n${helpText()}`;
}

export const NOT_A_COMMAND = "I answer commands. Send /help for the list.";

export function slowDown(seconds: number): string {
  return `Too many requests. Please wait ${seconds} s and try again.`;
}

export const LINKED = "✅ This Telegram account is now linked to your Warden account.";
export const UNLINKED =
  "This Telegram account is no longer linked to your Warden web account. Link again with a fresh code from /link or the web settings.";
export const NOT_LINKED = "This Telegram account is not linked to a Warden web account.";

export function unlinkQuestion(maskedEmail: string): string {
  return [
    `Unlink this Telegram account from the Warden account ${maskedEmail}?`,
    "This chat will then no longer act on that account.",
  ].join("\n");
}

export function linkCodeMessage(code: string): string {
  return [
    "To link this Telegram account to your Warden web account, enter this code in the web",
    "settings within 10 minutes. It works once.",
    "",
    code,
  ].join("\n");
}

export const TOTP_SCAN =
  "Scan this QR code with your authenticator app (Google Authenticator, 1Password, Aegis…).";

export function totpSecretMessage(secret: string): string {
  return [
    "Or enter this key by hand:",
    `<code>${secret}</code>`,
    "",
    "Then send me the 6-digit code your app shows. I delete the QR code and the key once you are done.",
  ].join("\n");
}

export const SEND_CODE =
  "Send the current 6-digit code from your authenticator app (or a backup code).";
export const TOTP_NOT_ENABLED = "Two-factor authentication is off. Send /2fa to turn it on.";
export const TOTP_ALREADY_ON =
  "Two-factor authentication is on. /2fa codes makes new backup codes; /2fa off turns it off.";
export const TOTP_OFF = "Two-factor authentication is now off.";
export const ADMIN_CANNOT_DISABLE = "Admin accounts cannot turn off two-factor authentication.";
export const SAVED_BUTTON = "I saved them";
export const CODES_REMOVED = "Backup codes removed from this chat. Keep your copy somewhere safe.";

export function backupCodesMessage(codes: string[]): string {
  return [
    "✅ Two-factor authentication is on. These are your 10 backup codes; each works once if you",
    "lose your phone. Save them now: I will not show them again.",
    "",
    ...codes.map((c) => `<code>${c}</code>`),
    "",
    "Press the button when you have saved them and I delete this message.",
  ].join("\n");
}

export const ADMIN_NEEDS_2FA =
  "Admin commands need two-factor authentication. Send /2fa to turn it on first.";
export const ADMIN_SEND_CODE =
  "Send your current 6-digit code to unlock admin commands for 12 hours.";

export function adminUnlocked(until: Date): string {
  return `Admin commands unlocked until ${until.toISOString().slice(0, 16).replace("T", " ")} UTC.`;
}

export const PAPER_READY =
  "🧪 You also have a paper account with 10,000 USDT to practise with: no exchange, no risk. /keys shows it.";

export function linkQuestion(maskedEmail: string): string {
  return [
    `Link this Telegram account to the Warden account ${maskedEmail}?`,
    "Everything you do in this chat will then act on that account. Only say yes if it is yours.",
  ].join("\n");
}

export const DELETED_SECRET =
  "I deleted your message: it looked like a key or a secret. To add a key, send /connect first.";

/** A database or Redis briefly away (a restart, a failover): nothing to fix on the user's side. */
export const BRIEFLY_UNAVAILABLE =
  "⏳ Warden is briefly unavailable and could not finish that. Please try again in a minute; if you were trading, check /positions first.";
export const SOMETHING_WENT_WRONG =
  "⚠️ Something went wrong on our side and it has been reported. Please try again; if you were trading, check /positions first.";
