// Adding an address to an account born in Telegram, or changing it: the new address is only
// recorded as pending and gets the single-use confirmation link; the current one (if any) stays
// in use, and is told, until the new one is confirmed. A step-up is required, as for every
// sensitive setting; a linked Telegram chat is told too.
import { emailChangingEmail, emailInUseEmail, maskEmail } from "./email";
import { sendConfirmation } from "./email-confirmation";
import { AccountError } from "./errors";
import { type AccountHelpers, type AuthContext, type ClientInfo, normaliseEmail } from "./shared";
import { addressRequestedNotice } from "./telegram-notices";

const CHANGES_PER_HOUR = { limit: 5, windowMs: 60 * 60_000 };

export function createEmailChange(h: AccountHelpers) {
  const { repo } = h;
  return {
    /**
     * Answers alike whether or not another account has the address (nothing tells which
     * addresses have accounts): that account's owner is told instead of a link being sent.
     */
    async changeEmail(
      auth: AuthContext,
      input: { email: unknown },
      client: ClientInfo,
    ): Promise<{ pendingEmail: string | null }> {
      h.requireStepUp(auth);
      const email = normaliseEmail(input.email);
      await h.limit(`email-change:acct:${auth.user.id}`, CHANGES_PER_HOUR);
      const user = await h.userOf(auth.user.id);
      if (email === user.email) {
        if (user.emailConfirmedAt) throw new AccountError("email_unchanged");
        // The address in use, never confirmed: a fresh link for it, any other change dropped.
        await repo.setPendingEmail(user.id, null);
        await sendConfirmation(h, user.id, email);
        return { pendingEmail: null };
      }
      const owner = await repo.findUserByEmail(email);
      await repo.setPendingEmail(user.id, email);
      // The owner is told only at an address they proved they read.
      if (owner) await h.notice(owner, (to) => emailInUseEmail({ to }));
      else await sendConfirmation(h, user.id, email);
      const when = new Date(h.now());
      await h.notice(user, (to) => emailChangingEmail({ to, newAddress: maskEmail(email), when }));
      // Step-up proves nothing on an account without password or 2FA: its chat is told.
      await h.telegramNotice(
        user,
        addressRequestedNotice({ newAddress: email, adding: user.email === null, when }),
      );
      await repo.recordEvent({
        userId: user.id,
        kind: user.email ? "email_change_requested" : "email_add_requested",
        outcome: "ok",
        ip: client.ip,
      });
      return { pendingEmail: email };
    },
  };
}
