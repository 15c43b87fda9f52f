// Registration: a new account from an email and a password (S2). The answer is the same for a
// new and an already-registered address (nothing tells an outsider which addresses have
// accounts): the new address gets its confirmation link, an existing one's owner a notice.
import { accountExistsEmail } from "./email";
import { sendConfirmation } from "./email-confirmation";
import { AccountError } from "./errors";
import { type AccountHelpers, type ClientInfo, ipKeyOf, LIMITS, normaliseEmail } from "./shared";

export function createRegistration(h: AccountHelpers) {
  const { repo, deps } = h;
  return {
    /** Resolves alike for new and known addresses; `breachCheckSkipped` depends on HIBP only. */
    async register(
      input: { email: unknown; password: unknown },
      client: ClientInfo,
    ): Promise<{ breachCheckSkipped: boolean }> {
      await h.limit(`register:ip:${ipKeyOf(client.ip)}`, LIMITS.registerPerIp);
      const email = normaliseEmail(input.email);
      if (typeof input.password !== "string") throw new AccountError("password_too_short");
      // The password is checked and hashed either way, so both paths take the same time.
      const { hash, breachCheckSkipped } = await h.checkedPasswordHash(input.password);
      const user = await repo.createUser({ email, passwordHash: hash, role: "user" });
      if (!user) {
        const owner = await repo.findUserByEmail(email);
        if (owner) {
          await h.mail(
            owner.id,
            accountExistsEmail({ to: email, resetLink: `${deps.publicUrl}/reset-password` }),
          );
          await repo.recordEvent({
            userId: owner.id,
            kind: "register",
            outcome: "failed",
            ip: client.ip,
            details: { reason: "email_taken" },
          });
        }
        return { breachCheckSkipped };
      }
      await repo.recordEvent({ userId: user.id, kind: "register", outcome: "ok", ip: client.ip });
      await sendConfirmation(h, user.id, email);
      return { breachCheckSkipped };
    },
  };
}
