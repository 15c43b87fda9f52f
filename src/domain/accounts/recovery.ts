// Passwords after registration: change (signed in) and reset by mailed link (S2.4, S5.1).
import { resetPasswordEmail } from "./email";
import { AccountError } from "./errors";
import { verifyPassword } from "./password";
import type { ResetRequest } from "./ports";
import {
  type AccountHelpers,
  type AuthContext,
  type ClientInfo,
  ipKeyOf,
  keyOf,
  LIMITS,
  normaliseEmail,
  RESET_TOKEN_TTL_S,
} from "./shared";
import { passwordSetNotice } from "./telegram-notices";

export function createRecovery(h: AccountHelpers) {
  const { deps, repo } = h;

  async function processResetRequest(request: ResetRequest) {
    const email = normaliseEmail(request.email);
    const user = await repo.findUserByEmail(email);
    if (!user) return;
    const token = await deps.tokens.issue("reset", { userId: user.id }, RESET_TOKEN_TTL_S, user.id);
    const link = `${deps.publicUrl}/reset-password#token=${encodeURIComponent(token)}`;
    await h.mail(
      user.id,
      resetPasswordEmail({ to: email, link, expiresMinutes: RESET_TOKEN_TTL_S / 60 }),
    );
    await repo.recordEvent({
      userId: user.id,
      kind: "password_reset_requested",
      outcome: "ok",
      ip: request.ip,
    });
  }

  return {
    /** S2.4: needs the current password; revokes every other session and outstanding resets. */
    async changePassword(
      auth: AuthContext,
      input: { currentPassword: unknown; newPassword: unknown },
      client: ClientInfo,
    ) {
      const { user } = auth;
      if (!user.passwordHash) throw new AccountError("password_not_set");
      h.requireStepUp(auth);
      const ok =
        typeof input.currentPassword === "string" &&
        (await verifyPassword(deps.password, input.currentPassword, user.passwordHash));
      if (!ok) {
        await repo.recordEvent({
          userId: user.id,
          kind: "password_change",
          outcome: "failed",
          ip: client.ip,
        });
        throw new AccountError("invalid_credentials", "Your current password is wrong.");
      }
      if (typeof input.newPassword !== "string") throw new AccountError("password_too_short");
      await repo.setPassword(user.id, await h.newPasswordHash(input.newPassword));
      // Every session ends, this one too: the caller continues in a fresh session, so no token
      // issued before the change (even within the same second) stays usable.
      await repo.revokeSessions(user.id, "password_changed");
      await h.sessionsEnded(user.id, null);
      await deps.tokens.voidSubject("reset", user.id);
      await repo.recordEvent({
        userId: user.id,
        kind: "password_change",
        outcome: "ok",
        ip: client.ip,
      });
      return h.startSession(user, client, Boolean(auth.session.twoFactorAt));
    },

    /**
     * S5.1: the same answer, in the same time, whether or not the email has an account: after
     * the limits, the request is queued and a worker does the lookup, the token and the mail.
     */
    async requestPasswordReset(input: { email: unknown }, client: ClientInfo) {
      await h.limit(`reset:ip:${ipKeyOf(client.ip)}`, LIMITS.resetPerIp);
      let email: string;
      try {
        email = normaliseEmail(input.email);
      } catch {
        return;
      }
      await h.limit(`reset:acct:${keyOf(email)}`, LIMITS.resetPerAccount);
      await deps.deferred.resetRequest({ email, ip: client.ip });
    },

    /** The queued half of a reset request (the worker's job). */
    processResetRequest,

    /** Never signs in and never skips 2FA: every session is revoked, the user signs in again. */
    async confirmPasswordReset(input: { token: unknown; password: unknown }, client: ClientInfo) {
      if (typeof input.password !== "string") throw new AccountError("password_too_short");
      if (typeof input.token !== "string") throw new AccountError("invalid_reset_token");
      const peeked = (await deps.tokens.peek("reset", input.token)) as {
        userId: string | null;
      } | null;
      if (!peeked?.userId) throw new AccountError("invalid_reset_token");
      // Check the new password before using the link up, so a refused choice keeps the link.
      const passwordHash = await h.newPasswordHash(input.password);
      const payload = (await deps.tokens.consume("reset", input.token)) as {
        userId: string | null;
      } | null;
      if (!payload?.userId) throw new AccountError("invalid_reset_token");
      const user = await h.userOf(payload.userId);
      await repo.setPassword(user.id, passwordHash);
      await repo.revokeSessions(user.id, "password_reset");
      // An address change asked for from a stolen session dies with the sessions.
      await h.cancelPendingEmail(user);
      await h.sessionsEnded(user.id, null);
      // An account born in Telegram getting its first password: its chat is told.
      if (user.passwordHash === null) {
        await h.telegramNotice(
          user,
          passwordSetNotice({ email: user.email, when: new Date(h.now()) }),
        );
      }
      // Whoever linked a Telegram account while holding the old password loses it too.
      await h.endTelegramLink(user, "password_reset", client);
      await deps.tokens.voidSubject("link:web", user.id);
      await repo.recordEvent({
        userId: user.id,
        kind: "password_reset",
        outcome: "ok",
        ip: client.ip,
      });
    },
  };
}
