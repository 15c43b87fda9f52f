// Warden's account emails as pure data: the message shape, the outbox port that queues them,
// and one template per event. Anything a user controls is escaped in HTML and flattened in text.

export interface EmailMessage {
  to: string;
  subject: string;
  text: string;
  html?: string;
}

/**
 * A reference a queued message may carry so its sender hears how each delivery attempt went
 * (an alert's delivery log). Ids only: it travels in the job data next to the sealed message.
 */
export interface DeliveryRef {
  kind: "alert";
  id: string;
  audience: "user" | "admin";
  recipient: string | null;
}

/** Queues a message for delivery (a worker sends it later); resolves once it is queued. */
export interface EmailOutbox {
  send(message: EmailMessage, ref?: DeliveryRef): Promise<void>;
}

/** A recipient the mailer refuses to address: empty, several addresses, or header syntax. */
export class InvalidEmailAddress extends Error {
  readonly code = "EMAIL_ADDRESS_INVALID";
  constructor() {
    // Never echo the value: it is personal data and may end up in a log.
    super("not a single plain email address");
    this.name = "InvalidEmailAddress";
  }
}

// One mailbox, no display name, no list: a comma, angle bracket or whitespace here would let a
// stored value add recipients or headers.
const ADDRESS = /^[^\s@<>,;:"()[\]\\]+@[^\s@<>,;:"()[\]\\]+\.[^\s@<>,;:"()[\]\\]+$/u;

export function assertEmailAddress(address: string): string {
  if (address.length > 254 || !ADDRESS.test(address)) throw new InvalidEmailAddress();
  return address;
}

/** `alice@example.com` → `a***@example.com`: enough to tell mails apart in a log, no more. */
export function maskEmail(address: string): string {
  const at = address.lastIndexOf("@");
  if (at <= 0) return "***";
  return `${Array.from(address)[0]}***@${address.slice(at + 1)}`;
}

const EMAIL_IN_TEXT = /[^\s<>@"'(),;:[\]]+@[^\s<>@"'(),;:[\]]+/gu;

/** Masks every address inside free text, e.g. an SMTP reply that echoes the recipient. */
export function maskEmailsIn(text: string): string {
  return text.replace(EMAIL_IN_TEXT, (m) => maskEmail(m));
}

export function escapeHtml(value: string): string {
  return value
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

// Control characters and line breaks in a user agent could forge paragraphs in the text part.
const CONTROL = /[\p{Cc}\p{Cf}\u2028\u2029]+/gu;

/** A user-controlled value as one short line: controls removed, whitespace collapsed, capped. */
export function oneLine(value: string, max = 200): string {
  const flat = value.replace(CONTROL, " ").replace(/\s+/g, " ").trim();
  const chars = Array.from(flat);
  return chars.length > max ? `${chars.slice(0, max - 1).join("")}…` : flat;
}

/** `2026-03-01 14:05 UTC`: unambiguous for every reader, whatever their time zone. */
export function formatWhen(when: Date): string {
  return `${when.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

type Block = string | { lines: string[] } | { link: string };

function render(to: string, subject: string, blocks: Block[]): EmailMessage {
  const text = blocks
    .map((b) => (typeof b === "string" ? b : "lines" in b ? b.lines.join("\n") : b.link))
    .join("\n\n");
  const body = blocks
    .map((b) => {
      if (typeof b === "string") return `<p>${escapeHtml(b)}</p>`;
      if ("lines" in b) return `<p>${b.lines.map(escapeHtml).join("<br>")}</p>`;
      const href = escapeHtml(b.link);
      return `<p><a href="${href}">${href}</a></p>`;
    })
    .join("\n");
  const html = `<!doctype html>\n<html><body style="font-family: sans-serif; line-height: 1.5">\n${body}\n</body></html>\n`;
  return { to: assertEmailAddress(to), subject, text: `${text}\n`, html };
}

const SIGNATURE = "— Warden";
const IF_NOT_YOU = "If this was not you, reset your password now.";

export const EMAIL_SUBJECTS = {
  resetPassword: "Reset your Warden password",
  newLogin: "New sign-in to your Warden account",
  twoFactorEnabled: "Two-factor authentication is on",
  twoFactorDisabled: "Two-factor authentication is off",
  backupCodesRegenerated: "New backup codes for your Warden account",
  backupCodeUsed: "A backup code was used on your Warden account",
  confirmEmail: "Confirm your email address for Warden",
  accountExists: "Someone tried to create a Warden account with your address",
  emailChanged: "The email address of your Warden account is changing",
  emailInUse: "Someone asked to move a Warden account to your address",
  emailChangeDone: "The email address of your Warden account was changed",
  telegramLinked: "A Telegram account was linked to your Warden account",
} as const;

const minutes = (n: number) => `${n} minute${n === 1 ? "" : "s"}`;

export function resetPasswordEmail(input: {
  to: string;
  link: string;
  expiresMinutes: number;
}): EmailMessage {
  // The link is ours (built from PUBLIC_URL); refusing other schemes keeps javascript: and
  // data: out of an href even if a caller gets it wrong.
  if (!/^https?:\/\/[^\s]+$/.test(input.link)) throw new Error("reset link must be an http(s) URL");
  if (!Number.isInteger(input.expiresMinutes) || input.expiresMinutes < 1) {
    throw new Error("expiresMinutes must be a positive integer");
  }
  return render(input.to, EMAIL_SUBJECTS.resetPassword, [
    "Someone asked to reset the password of your Warden account. To choose a new password, open this link:",
    { link: input.link },
    `The link works once and only for the next ${minutes(input.expiresMinutes)}.`,
    "If you did not ask for this, ignore this email: your password stays as it is.",
    SIGNATURE,
  ]);
}

export function newLoginEmail(input: {
  to: string;
  when: Date;
  ip: string;
  userAgent: string;
}): EmailMessage {
  return render(input.to, EMAIL_SUBJECTS.newLogin, [
    "Your Warden account was just signed in to:",
    {
      lines: [
        `When: ${formatWhen(input.when)}`,
        `IP address: ${oneLine(input.ip, 64) || "unknown"}`,
        `Device: ${oneLine(input.userAgent) || "unknown"}`,
      ],
    },
    "If this was you, there is nothing to do.",
    "If it was not, change your password now and sign out your other sessions in Warden's security settings.",
    SIGNATURE,
  ]);
}

export type TwoFactorChange = "enabled" | "disabled" | "backup_codes_regenerated";

export function twoFactorChangedEmail(input: {
  to: string;
  change: TwoFactorChange;
  when: Date;
}): EmailMessage {
  const when = formatWhen(input.when);
  switch (input.change) {
    case "enabled":
      return render(input.to, EMAIL_SUBJECTS.twoFactorEnabled, [
        `Two-factor authentication was turned on for your Warden account at ${when}.`,
        "From now on, signing in needs a code from your authenticator app. Keep your backup codes somewhere safe: they are the way back in if you lose your phone.",
        IF_NOT_YOU,
        SIGNATURE,
      ]);
    case "disabled":
      return render(input.to, EMAIL_SUBJECTS.twoFactorDisabled, [
        `Two-factor authentication was turned off for your Warden account at ${when}.`,
        "Your account is now protected by your password alone. We recommend turning it back on in Warden's security settings.",
        `${IF_NOT_YOU} Then turn two-factor authentication back on.`,
        SIGNATURE,
      ]);
    case "backup_codes_regenerated":
      return render(input.to, EMAIL_SUBJECTS.backupCodesRegenerated, [
        `New backup codes were created for your Warden account at ${when}. Your old backup codes no longer work.`,
        "Keep the new codes somewhere safe, away from your phone.",
        IF_NOT_YOU,
        SIGNATURE,
      ]);
  }
}

export function backupCodeUsedEmail(input: {
  to: string;
  remaining: number;
  when: Date;
}): EmailMessage {
  const left =
    input.remaining <= 0
      ? "You have no backup codes left. Create new ones in Warden's security settings now."
      : `You have ${input.remaining} backup code${input.remaining === 1 ? "" : "s"} left.${
          input.remaining <= 3 ? " Create new ones soon in Warden's security settings." : ""
        }`;
  return render(input.to, EMAIL_SUBJECTS.backupCodeUsed, [
    `A backup code was used to sign in to your Warden account at ${formatWhen(input.when)}. Each code works only once.`,
    left,
    `${IF_NOT_YOU} Then create new backup codes: that voids the old ones.`,
    SIGNATURE,
  ]);
}

function assertLink(link: string): void {
  if (!/^https?:\/\/[^\s]+$/.test(link)) throw new Error("a link must be an http(s) URL");
}

/** The single-use confirmation link of a new (or changed) address. */
export function confirmEmailEmail(input: {
  to: string;
  link: string;
  expiresHours: number;
}): EmailMessage {
  assertLink(input.link);
  return render(input.to, EMAIL_SUBJECTS.confirmEmail, [
    "To confirm that this address belongs to your Warden account, open this link:",
    { link: input.link },
    `The link works once and only for the next ${input.expiresHours} hours. Until then Warden sends no alerts or notices to this address.`,
    "If you did not create a Warden account, ignore this email: nothing is sent here again.",
    SIGNATURE,
  ]);
}

/** Registration with an address that already has an account: its owner is told, nobody else. */
export function accountExistsEmail(input: { to: string; resetLink: string }): EmailMessage {
  assertLink(input.resetLink);
  return render(input.to, EMAIL_SUBJECTS.accountExists, [
    "Someone tried to create a Warden account with your address, which already has an account. No new account was made and yours is unchanged.",
    "If it was you: sign in with your password, or choose a new one here:",
    { link: input.resetLink },
    "If it was not you, there is nothing to do.",
    SIGNATURE,
  ]);
}

export function telegramLinkedEmail(input: {
  to: string;
  telegramName: string;
  telegramUserId: number;
  when: Date;
  ip: string | null;
  unlinkLink: string;
}): EmailMessage {
  if (!/^https?:\/\/[^\s]+$/.test(input.unlinkLink)) throw new Error("unlink link must be http(s)");
  const name = oneLine(input.telegramName, 64) || "(no name)";
  return render(input.to, EMAIL_SUBJECTS.telegramLinked, [
    `Telegram account ${name} (id ${input.telegramUserId}) was linked to your Warden account.`,
    {
      lines: [
        `When: ${formatWhen(input.when)}`,
        `IP address: ${input.ip ? oneLine(input.ip, 64) : "unknown (confirmed in Telegram)"}`,
      ],
    },
    "That Telegram account can now use Warden's bot on your account. If this was not you, unlink it now:",
    { link: input.unlinkLink },
    "Then reset your password: a reset also ends every Telegram link and every session.",
    SIGNATURE,
  ]);
}

/** To the address in use when a new one is asked for: it stays in use until that is confirmed. */
export function emailChangingEmail(input: {
  to: string;
  newAddress: string;
  when: Date;
}): EmailMessage {
  return render(input.to, EMAIL_SUBJECTS.emailChanged, [
    `At ${formatWhen(input.when)} someone signed in to your Warden account asked to use ${oneLine(input.newAddress, 254)} as its email address instead of this one.`,
    "This address stays in use until the new one is confirmed through the link sent there. Then Warden's mail goes to the new address only.",
    "If this was not you, reset your password now: a reset cancels the change and ends every session.",
    SIGNATURE,
  ]);
}

/** An address that already has an account, asked for by another one: its owner is told. */
export function emailInUseEmail(input: { to: string }): EmailMessage {
  return render(input.to, EMAIL_SUBJECTS.emailInUse, [
    "Someone asked to use your address for another Warden account. Your address already belongs to an account, so nothing changed.",
    "If it was you, sign in to the account that has this address instead. If it was not you, there is nothing to do.",
    SIGNATURE,
  ]);
}

/** To the address that was in use, once the new one is confirmed: the move is done. */
export function emailChangedEmail(input: {
  to: string;
  newAddress: string;
  when: Date;
}): EmailMessage {
  return render(input.to, EMAIL_SUBJECTS.emailChangeDone, [
    `At ${formatWhen(input.when)} the email address of your Warden account was changed to ${oneLine(input.newAddress, 254)}. Warden's mail no longer comes to this address, and every session of the account was signed out.`,
    "If this was not you, someone else controls your account: revoke your exchange API keys at the exchange now and contact the Warden administrator.",
    SIGNATURE,
  ]);
}
