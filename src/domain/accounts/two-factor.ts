// Two-factor authentication: TOTP enrolment, disabling, backup codes, and the bot's versions
// where the Telegram identity is the session and the code is the step-up (S3.3, S8.2).
import { generateBackupCodes, hashBackupCodes } from "./backup-codes";
import { twoFactorChangedEmail } from "./email";
import { AccountError } from "./errors";
import type { UserRecord } from "./repo";
import {
  type AccountHelpers,
  type AuthContext,
  BOT_ADMIN_2FA_MS,
  type ClientInfo,
  ipKeyOf,
  LIMITS,
} from "./shared";
import {
  decryptTotpSecret,
  encryptTotpSecret,
  generateTotpSecret,
  otpauthUri,
  verifyTotp,
} from "./totp";

/** Wrong codes one pending secret allows, and how long it lives. */
export const ENROL_ATTEMPTS = 5;
export const ENROL_TTL_S = 10 * 60;

export function createTwoFactor(h: AccountHelpers) {
  const { deps, repo, now } = h;

  async function enrolStart(user: UserRecord) {
    if (user.totpEnabledAt) throw new AccountError("totp_already_enabled");
    const secret = generateTotpSecret();
    await repo.setPendingTotp(user.id, encryptTotpSecret(deps.accountKeys, secret));
    const account = user.email ?? `telegram:${user.telegramUserId}`;
    return { secret, otpauthUri: otpauthUri({ secret, account }) };
  }

  async function enrolConfirm(userId: string, code: unknown, client: ClientInfo) {
    // Limited like the TOTP sign-in step: per IP and per account, before any work.
    if (client.ip !== null)
      await h.limit(`enrol:ip:${ipKeyOf(client.ip)}`, LIMITS.secondFactorPerIp);
    await h.limit(`enrol:acct:${userId}`, LIMITS.secondFactorPerAccount);
    const user = await h.userOf(userId);
    if (user.totpEnabledAt) throw new AccountError("totp_already_enabled");
    if (!user.totpSecret) throw new AccountError("totp_not_pending");
    // Each pending secret allows ENROL_ATTEMPTS codes within ENROL_TTL_S, counted before the
    // check so parallel guesses cannot slip past; an expired or spent secret is discarded.
    const attempt = await repo.claimPendingTotpAttempt(user.id, ENROL_ATTEMPTS, ENROL_TTL_S);
    if (attempt === null) {
      await repo.recordEvent({
        userId: user.id,
        kind: "totp_enrol",
        outcome: "refused",
        ip: client.ip,
        details: { reason: "pending_secret_gone" },
      });
      throw new AccountError("totp_not_pending");
    }
    const secret = decryptTotpSecret(deps.accountKeys, user.totpSecret);
    const result = await verifyTotp({
      secret,
      code: typeof code === "string" ? code : "",
      lastUsedStep: null,
      now: now(),
    });
    if (!result.ok) {
      const spent = attempt >= ENROL_ATTEMPTS;
      if (spent) await repo.discardPendingTotp(user.id);
      await repo.recordEvent({
        userId: user.id,
        kind: "totp_enrol",
        outcome: "failed",
        ip: client.ip,
        details: { attempt, discarded: spent },
      });
      throw new AccountError("invalid_totp");
    }
    const codes = generateBackupCodes();
    if (
      !(await repo.enableTotp(user.id, result.step, await hashBackupCodes(deps.password, codes)))
    ) {
      throw new AccountError("totp_already_enabled");
    }
    await twoFactorChanged(user, "enabled", client);
    return { backupCodes: codes };
  }

  /** Records a 2FA change and tells the account's owner by email (S8.2). */
  async function twoFactorChanged(
    user: UserRecord,
    change: "enabled" | "disabled" | "backup_codes_regenerated",
    client: ClientInfo,
  ) {
    const kind = change === "backup_codes_regenerated" ? change : `totp_${change}`;
    await repo.recordEvent({ userId: user.id, kind, outcome: "ok", ip: client.ip });
    await h.notice(user, (to) => twoFactorChangedEmail({ to, change, when: new Date(now()) }));
  }

  async function disable(userId: string, code: unknown, client: ClientInfo) {
    const user = await h.userOf(userId);
    if (user.role === "admin") throw new AccountError("admin_cannot_disable_2fa");
    if (!user.totpEnabledAt) throw new AccountError("totp_not_enabled");
    await h.checkSecondFactor(user, typeof code === "string" ? code : "", client);
    await repo.disableTotp(user.id);
    await twoFactorChanged(user, "disabled", client);
  }

  async function regenerate(userId: string, code: unknown, client: ClientInfo) {
    const user = await h.userOf(userId);
    if (!user.totpEnabledAt) throw new AccountError("totp_not_enabled");
    await h.checkSecondFactor(user, typeof code === "string" ? code : "", client);
    const codes = generateBackupCodes();
    await repo.replaceBackupCodes(user.id, await hashBackupCodes(deps.password, codes));
    await twoFactorChanged(user, "backup_codes_regenerated", client);
    return { backupCodes: codes };
  }

  return {
    async startTotpEnrolment(auth: AuthContext) {
      if (auth.user.totpEnabledAt) throw new AccountError("totp_already_enabled");
      h.requireStepUp(auth);
      return enrolStart(auth.user);
    },

    /**
     * Activates 2FA after a valid code; returns the 10 backup codes, shown once. It does not
     * step the session up: step-up comes only from a password + code check.
     */
    async confirmTotpEnrolment(auth: AuthContext, input: { code: unknown }, client: ClientInfo) {
      return enrolConfirm(auth.user.id, input.code, client);
    },

    async disableTotp(auth: AuthContext, input: { code: unknown }, client: ClientInfo) {
      if (auth.user.role === "admin") throw new AccountError("admin_cannot_disable_2fa");
      if (!auth.user.totpEnabledAt) throw new AccountError("totp_not_enabled");
      h.requireStepUp(auth);
      await disable(auth.user.id, input.code, client);
    },

    /** Needs a current code (re-authentication); the old set stops working. */
    async regenerateBackupCodes(auth: AuthContext, input: { code: unknown }, client: ClientInfo) {
      if (!auth.user.totpEnabledAt) throw new AccountError("totp_not_enabled");
      h.requireStepUp(auth);
      return regenerate(auth.user.id, input.code, client);
    },

    // The bot's versions: the Telegram identity is the session, and the code is the step-up.
    botStartTotpEnrolment: (user: UserRecord) => enrolStart(user),
    botConfirmTotpEnrolment: (user: UserRecord, code: string) =>
      enrolConfirm(user.id, code, { ip: null }),
    botDisableTotp: (user: UserRecord, code: string) => disable(user.id, code, { ip: null }),
    botRegenerateBackupCodes: (user: UserRecord, code: string) =>
      regenerate(user.id, code, { ip: null }),

    /** The bot's step-up and admin gate: a current code from the authenticator. */
    async verifyCodeForBot(user: UserRecord, code: string): Promise<"totp" | "backup_code"> {
      const fresh = await h.userOf(user.id);
      return h.checkSecondFactor(fresh, code, { ip: null });
    },

    botAdmin2faWindowMs: BOT_ADMIN_2FA_MS,
  };
}
