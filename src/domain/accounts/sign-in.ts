// Signing in: the password step, the second-factor step, and the Mini App's initData (S3, S6.2).
import { newLoginEmail } from "./email";
import { AccountError } from "./errors";
import { dummyVerify, verifyPassword } from "./password";
import type { UserRecord } from "./repo";
import {
  type AccountHelpers,
  type ClientInfo,
  ipKeyOf,
  keyOf,
  LIMITS,
  LOCKOUT,
  LOGIN_CHALLENGE_TTL_S,
  normaliseEmail,
  type SignedIn,
} from "./shared";
import { type VerifiedInitData, verifyInitData } from "./telegram-init-data";
import { sha256Hex } from "./tokens";

export function createSignIn(
  h: AccountHelpers,
  telegram: {
    ensureTelegramAccount(telegramUserId: number): Promise<{ user: UserRecord; created: boolean }>;
  },
) {
  const { deps, repo, now } = h;

  async function notifyLogin(user: UserRecord, client: ClientInfo) {
    if (!user.email || !user.emailConfirmedAt) return; // notices go to confirmed addresses only
    // The sign-in stands even when the notice cannot be queued; the outage shows in /readyz.
    try {
      await deps.outbox.send(
        newLoginEmail({
          to: user.email,
          when: new Date(now()),
          ip: client.ip ?? "unknown",
          userAgent: client.userAgent ?? "unknown",
        }),
      );
    } catch {
      await repo.recordEvent({
        userId: user.id,
        kind: "login_notice",
        outcome: "failed",
        ip: client.ip,
      });
    }
  }

  return {
    /** Password step. Returns tokens, or a challenge when 2FA is enrolled. */
    async login(
      input: { email: unknown; password: unknown },
      client: ClientInfo,
    ): Promise<SignedIn | { challenge: string }> {
      await h.limit(`login:ip:${ipKeyOf(client.ip)}`, LIMITS.loginPerIp);
      let email: string;
      try {
        email = normaliseEmail(input.email);
      } catch {
        throw new AccountError("invalid_credentials");
      }
      const lockKey = `login:${keyOf(email)}`;
      await h.assertNotLocked(lockKey);
      await h.limit(`login:acct:${keyOf(email)}`, LIMITS.loginPerAccount);
      const password = typeof input.password === "string" ? input.password : "";
      const user = await repo.findUserByEmail(email);
      // S3.1: an unknown user costs the same bcrypt work and gets the same answer.
      const ok = user?.passwordHash
        ? await verifyPassword(deps.password, password, user.passwordHash)
        : await dummyVerify(deps.password, password);
      if (!user || !ok) {
        const lockedMs = await deps.lockout.fail(
          lockKey,
          LOCKOUT.threshold,
          LOCKOUT.baseMs,
          LOCKOUT.maxMs,
        );
        await repo.recordEvent({
          userId: user?.id ?? null,
          kind: "login",
          outcome: "failed",
          ip: client.ip,
          details: { locked: lockedMs > 0 },
        });
        if (lockedMs > 0)
          await repo.recordEvent({
            userId: user?.id ?? null,
            kind: "lockout",
            outcome: "detected",
            ip: client.ip,
            details: { seconds: Math.ceil(lockedMs / 1000) },
          });
        throw new AccountError("invalid_credentials");
      }
      await deps.lockout.clear(lockKey);
      // A web account signs in once its address is confirmed. Said only after the password
      // matched, so it tells nothing to someone who does not know the password.
      if (user.email && !user.emailConfirmedAt) {
        await repo.recordEvent({
          userId: user.id,
          kind: "login",
          outcome: "failed",
          ip: client.ip,
          details: { reason: "email_not_confirmed" },
        });
        throw new AccountError("email_not_confirmed");
      }
      if (user.totpEnabledAt) {
        const challenge = await deps.tokens.issue(
          "login2fa",
          { userId: user.id },
          LOGIN_CHALLENGE_TTL_S,
        );
        await repo.recordEvent({
          userId: user.id,
          kind: "login_password",
          outcome: "ok",
          ip: client.ip,
        });
        return { challenge };
      }
      const signed = await h.startSession(user, client, false);
      await repo.recordEvent({ userId: user.id, kind: "login", outcome: "ok", ip: client.ip });
      await notifyLogin(user, client);
      return signed;
    },

    /** Second step: the challenge from login and a TOTP or backup code. */
    async loginSecondFactor(
      input: { challenge: unknown; code: unknown },
      client: ClientInfo,
    ): Promise<SignedIn> {
      await h.limit(`2fa:ip:${ipKeyOf(client.ip)}`, LIMITS.secondFactorPerIp);
      if (typeof input.challenge !== "string" || typeof input.code !== "string") {
        throw new AccountError("invalid_challenge");
      }
      const challengeKey = `challenge:${sha256Hex(input.challenge).slice(0, 32)}`;
      await h.limit(challengeKey, LIMITS.challengeAttempts);
      const payload = (await deps.tokens.peek("login2fa", input.challenge)) as {
        userId: string;
      } | null;
      if (!payload) throw new AccountError("invalid_challenge");
      const user = await h.userOf(payload.userId);
      await h.checkSecondFactor(user, input.code, client);
      // The challenge works once: a second finisher with the same challenge loses here.
      if ((await deps.tokens.consume("login2fa", input.challenge)) === null) {
        throw new AccountError("invalid_challenge");
      }
      const signed = await h.startSession(user, client, true);
      await repo.recordEvent({
        userId: user.id,
        kind: "login",
        outcome: "ok",
        ip: client.ip,
        details: { twoFactor: true },
      });
      await notifyLogin(user, client);
      return signed;
    },

    /** S6.2: the Mini App signs in with initData; 2FA still applies. */
    async signInWithInitData(
      initData: unknown,
      client: ClientInfo,
    ): Promise<SignedIn | { challenge: string }> {
      if (!deps.botToken || typeof initData !== "string") throw new AccountError("invalid_token");
      let verified: VerifiedInitData;
      try {
        verified = verifyInitData(initData, deps.botToken, { now: now() });
      } catch {
        await repo.recordEvent({ kind: "telegram_init_data", outcome: "refused", ip: client.ip });
        throw new AccountError("invalid_token");
      }
      const { user } = await telegram.ensureTelegramAccount(verified.user.id);
      if (user.totpEnabledAt) {
        return {
          challenge: await deps.tokens.issue(
            "login2fa",
            { userId: user.id },
            LOGIN_CHALLENGE_TTL_S,
          ),
        };
      }
      const signed = await h.startSession(user, client, false);
      await repo.recordEvent({
        userId: user.id,
        kind: "login",
        outcome: "ok",
        ip: client.ip,
        details: { via: "telegram_init_data" },
      });
      return signed;
    },
  };
}
