// What the Telegram chat linked to an account is told when its way in changes from the web: an
// address added or changed, a first password set. An account born in Telegram has no password
// or 2FA to step up with, so its chat is the one place a silent takeover can be noticed.
import { formatWhen, maskEmail } from "./email";

export function addressRequestedNotice(input: {
  newAddress: string;
  adding: boolean;
  when: Date;
}): string {
  const what = input.adding
    ? `add the email address ${maskEmail(input.newAddress)} to it`
    : `change its email address to ${maskEmail(input.newAddress)}`;
  return [
    `Warden: at ${formatWhen(input.when)} someone signed in to your account asked to ${what}.`,
    "If this was not you, open Warden's settings now and choose “Sign out everywhere”: that ends every session and cancels the change.",
  ].join("\n\n");
}

export function passwordSetNotice(input: { email: string | null; when: Date }): string {
  return [
    `Warden: at ${formatWhen(input.when)} a password was set on your account through a reset link${
      input.email ? ` sent to ${maskEmail(input.email)}` : ""
    }. It can now be signed in to with that address and password.`,
    "If this was not you, someone else holds that address and can control your account: revoke your exchange API keys at the exchange now and contact the Warden administrator.",
  ].join("\n\n");
}
