// Registration: a new account from an email and a password (S2).
import { AccountError } from "./errors";
import { type AccountHelpers, type ClientInfo, ipKeyOf, LIMITS, normaliseEmail } from "./shared";

export function createRegistration(h: AccountHelpers) {
  const { repo } = h;
  return {
    async register(input: { email: unknown; password: unknown }, client: ClientInfo) {
      await h.limit(`register:ip:${ipKeyOf(client.ip)}`, LIMITS.registerPerIp);
      const email = normaliseEmail(input.email);
      if (typeof input.password !== "string") throw new AccountError("password_too_short");
      const passwordHash = await h.newPasswordHash(input.password);
      const user = await repo.createUser({ email, passwordHash, role: "user" });
      if (!user) throw new AccountError("email_taken");
      await repo.recordEvent({ userId: user.id, kind: "register", outcome: "ok", ip: client.ip });
      return { id: user.id, email };
    },
  };
}
