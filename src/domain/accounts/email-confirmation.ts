// Email confirmation: a single-use link (hashed in the token store, 24 h) proves the owner
// reads the address; only then do alerts and notices go there.
import { confirmEmailEmail, emailChangedEmail, maskEmail } from "./email";
import { AccountError } from "./errors";
import type { UserRecord } from "./repo";
import {
  type AccountHelpers,
  type ClientInfo,
  EMAIL_CONFIRM_TTL_S,
  keyOf,
  normaliseEmail,
} from "./shared";

const KIND = "email_confirm";

/** Issues a fresh link for `email` (earlier ones stop working) and mails it there. */
export async function sendConfirmation(
  h: AccountHelpers,
  userId: string,
  email: string,
): Promise<void> {
  const token = await h.deps.tokens.issue(KIND, { userId, email }, EMAIL_CONFIRM_TTL_S, userId);
  const link = `${h.deps.publicUrl}/confirm-email#token=${encodeURIComponent(token)}`;
  await h.mail(
    userId,
    confirmEmailEmail({ to: email, link, expiresHours: EMAIL_CONFIRM_TTL_S / 3600 }),
  );
}

export function createEmailConfirmation(h: AccountHelpers) {
  const { deps, repo } = h;

  /**
   * The account's sign-in address moved (S5.1): reset links mailed to the old one stop working,
   * every session ends (the link was opened outside them; the user signs in with the new
   * address), and the old address is told if it was ever proven to be the owner's.
   */
  async function addressMoved(before: UserRecord, email: string, client: ClientInfo) {
    await deps.tokens.voidSubject("reset", before.id);
    const ended = await repo.revokeSessions(before.id, "email_changed");
    await h.sessionsEnded(before.id, null);
    await repo.recordEvent({
      userId: before.id,
      kind: "email_changed",
      outcome: "ok",
      ip: client.ip,
      details: { sessionsEnded: ended },
    });
    await h.notice(before, (to) =>
      emailChangedEmail({ to, newAddress: maskEmail(email), when: new Date(h.now()) }),
    );
  }

  return {
    /** Works once; an expired, used, replaced or unknown link is `invalid_confirmation_token`. */
    async confirmEmail(input: { token: unknown }, client: ClientInfo): Promise<void> {
      if (typeof input.token !== "string" || input.token.length > 200) {
        throw new AccountError("invalid_confirmation_token");
      }
      const payload = (await deps.tokens.consume(KIND, input.token)) as {
        userId: string;
        email: string;
      } | null;
      if (!payload) throw new AccountError("invalid_confirmation_token");
      const before = await repo.findUserById(payload.userId);
      if (!before || !(await repo.confirmEmail(payload.userId, payload.email))) {
        throw new AccountError("invalid_confirmation_token");
      }
      await repo.recordEvent({
        userId: payload.userId,
        kind: "email_confirmed",
        outcome: "ok",
        ip: client.ip,
      });
      if (before.email !== null && before.email !== payload.email) {
        await addressMoved(before, payload.email, client);
      }
    },

    /**
     * A new link to an unconfirmed address (the owner cannot sign in yet). The same answer
     * whether or not the address has an account or is confirmed already.
     */
    async resendConfirmation(input: { email: unknown }, client: ClientInfo): Promise<void> {
      await h.limit(`confirm:ip:${client.ip}`, { limit: 10, windowMs: 60 * 60_000 });
      let email: string;
      try {
        email = normaliseEmail(input.email);
      } catch {
        return;
      }
      await h.limit(`confirm:acct:${keyOf(email)}`, { limit: 5, windowMs: 60 * 60_000 });
      const user = await repo.findUserByEmail(email);
      if (!user || user.emailConfirmedAt) return;
      await sendConfirmation(h, user.id, email);
    },
  };
}
