// Email confirmation: a single-use link (hashed in the token store, 24 h) proves the owner
// reads the address; only then do alerts and notices go there.
import { confirmEmailEmail } from "./email";
import { AccountError } from "./errors";
import { type AccountHelpers, type ClientInfo, EMAIL_CONFIRM_TTL_S } from "./shared";

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
      if (!payload || !(await repo.confirmEmail(payload.userId, payload.email))) {
        throw new AccountError("invalid_confirmation_token");
      }
      await repo.recordEvent({
        userId: payload.userId,
        kind: "email_confirmed",
        outcome: "ok",
        ip: client.ip,
      });
    },

    /** A new link to the signed-in user's unconfirmed address. */
    async resendConfirmation(userId: string): Promise<void> {
      const user = await h.userOf(userId);
      if (!user.email) throw new AccountError("invalid_email");
      if (user.emailConfirmedAt) return;
      await h.limit(`confirm:acct:${userId}`, { limit: 5, windowMs: 60 * 60_000 });
      await sendConfirmation(h, userId, user.email);
    },
  };
}
