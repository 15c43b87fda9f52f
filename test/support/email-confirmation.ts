// Reads the confirmation link a registration mailed (through the test SMTP relay) and returns
// its token, as the owner of the address would find it.
import type { TestSmtpServer } from "./smtp/server";

export const CONFIRM_LINK = /\/confirm-email#token=([A-Za-z0-9_%-]+)/;

/** The token of the newest confirmation mail to `email` (waits for it to arrive). */
export async function confirmationToken(
  smtp: TestSmtpServer,
  email: string,
  timeoutMs = 15_000,
): Promise<string> {
  const isConfirmation = (m: { to: string[]; text: string }) =>
    m.to.includes(email) && CONFIRM_LINK.test(m.text);
  const existing = smtp.messages.filter(isConfirmation).at(-1);
  const mail = existing ?? (await smtp.waitForMessage(isConfirmation, timeoutMs));
  return decodeURIComponent(CONFIRM_LINK.exec(mail.text)![1]!);
}
