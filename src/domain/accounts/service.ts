// The account use cases, shared by the HTTP API and the bot: registration, sign-in with 2FA,
// sessions and refresh rotation, password change and reset, TOTP and backup codes, step-up,
// WebSocket tickets and Telegram linking (S2–S6).
import { createHash } from "node:crypto";
import type { Lockout, RateLimiter } from "../shared/rate-limiter";
import type { KeyRing } from "../vault/key-ring";
import { findMatchingCode, generateBackupCodes, hashBackupCodes } from "./backup-codes";
import {
  assertEmailAddress,
  backupCodeUsedEmail,
  type EmailOutbox,
  maskEmail,
  newLoginEmail,
  resetPasswordEmail,
  twoFactorChangedEmail,
} from "./email";
import { AccountError } from "./errors";
import {
  assertPasswordPolicy,
  type BreachCheckDeps,
  checkNotBreached,
  dummyVerify,
  hashPassword,
  type PasswordDeps,
  verifyPassword,
} from "./password";
import type { OneTimeTokenStore } from "./ports";
import type { AccountsRepo, Role, SessionRecord, UserRecord } from "./repo";
import { type VerifiedInitData, verifyInitData } from "./telegram-init-data";
import { issuedBeforeCutoff, randomToken, sha256Hex } from "./tokens";
import {
  decryptTotpSecret,
  encryptTotpSecret,
  generateTotpSecret,
  otpauthUri,
  verifyTotp,
} from "./totp";

/** The access-token issuer (JWT adapter in src/infra). */
export interface AccessTokenIssuer {
  sign(claims: {
    sub: string;
    sid?: string;
    role?: string;
  }): Promise<{ token: string; expiresIn: number }>;
  verify(
    token: string,
    opts?: { tokensValidAfter?: Date },
  ): Promise<{ sub: string; sid?: string; iat: number }>;
}

export interface AccountDeps {
  repo: AccountsRepo;
  password: PasswordDeps;
  breach: BreachCheckDeps;
  tokens: OneTimeTokenStore;
  accessTokens: AccessTokenIssuer;
  keyRing: KeyRing;
  outbox: EmailOutbox;
  limiter: RateLimiter;
  lockout: Lockout;
  publicUrl: string;
  adminTelegramIds: readonly number[];
  botToken?: string;
  now?: () => number;
}

export interface ClientInfo {
  ip: string | null;
  userAgent?: string | null;
}

export interface SignedIn {
  accessToken: string;
  expiresIn: number;
  /** Goes only into the HttpOnly cookie. */
  refreshToken: string;
  sessionId: string;
}

export interface AuthContext {
  user: UserRecord;
  session: SessionRecord;
}

export const STEP_UP_WINDOW_MS = 5 * 60_000;
export const RESET_TOKEN_TTL_S = 30 * 60;
export const WS_TICKET_TTL_S = 30;
export const LOGIN_CHALLENGE_TTL_S = 5 * 60;
export const LINK_CODE_TTL_S = 10 * 60;
const REFRESH_TTL_MS = 14 * 24 * 3600_000;
const SESSION_MAX_AGE_MS = 30 * 24 * 3600_000;
const BOT_ADMIN_2FA_MS = 12 * 3600_000;

// S3.2 limits. Account keys use a hash of the normalised email, existing or not, so a lockout
// reveals nothing about which emails have accounts.
const LIMITS = {
  loginPerIp: { limit: 30, windowMs: 10 * 60_000 },
  secondFactorPerIp: { limit: 30, windowMs: 10 * 60_000 },
  // Counted atomically before each check, so a burst of parallel guesses cannot slip past the
  // lockout (which only learns of failures afterwards).
  loginPerAccount: { limit: 50, windowMs: 15 * 60_000 },
  secondFactorPerAccount: { limit: 15, windowMs: 15 * 60_000 },
  resetPerIp: { limit: 10, windowMs: 60 * 60_000 },
  resetPerAccount: { limit: 3, windowMs: 60 * 60_000 },
  registerPerIp: { limit: 10, windowMs: 60 * 60_000 },
  challengeAttempts: { limit: 5, windowMs: LOGIN_CHALLENGE_TTL_S * 1000 },
};
const LOCKOUT = { threshold: 5, baseMs: 60_000, maxMs: 60 * 60_000 };

const EMAIL_PATTERN = /^[^\s@]{1,64}@[^\s@]+\.[^\s@]{2,}$/u;

export function normaliseEmail(input: unknown): string {
  if (typeof input !== "string") throw new AccountError("invalid_email");
  const email = input.normalize("NFC").trim().toLowerCase();
  if (email.length > 254 || !EMAIL_PATTERN.test(email)) throw new AccountError("invalid_email");
  // The mail templates accept only plain single addresses; refuse anything else up front.
  try {
    return assertEmailAddress(email);
  } catch {
    throw new AccountError("invalid_email");
  }
}

const keyOf = (s: string) => createHash("sha256").update(s).digest("hex").slice(0, 32);

export function createAccountService(deps: AccountDeps) {
  const now = deps.now ?? Date.now;
  const { repo } = deps;

  async function limit(key: string, l: { limit: number; windowMs: number }) {
    const r = await deps.limiter.hit(key, l.limit, l.windowMs);
    if (!r.allowed) {
      throw new AccountError("rate_limited", undefined, Math.ceil(r.retryAfterMs / 1000));
    }
  }

  async function assertNotLocked(key: string) {
    const ms = await deps.lockout.lockedFor(key);
    if (ms > 0) throw new AccountError("rate_limited", undefined, Math.ceil(ms / 1000));
  }

  async function newPasswordHash(password: string): Promise<string> {
    assertPasswordPolicy(password);
    await checkNotBreached(deps.breach, password);
    return hashPassword(deps.password, password);
  }

  async function startSession(
    user: UserRecord,
    client: ClientInfo,
    twoFactor: boolean,
  ): Promise<SignedIn> {
    const session = await repo.createSession({
      userId: user.id,
      ip: client.ip,
      userAgent: client.userAgent?.slice(0, 512) ?? null,
      twoFactor,
    });
    const refreshToken = randomToken(32);
    await repo.storeRefreshToken(
      sha256Hex(refreshToken),
      session.id,
      new Date(now() + REFRESH_TTL_MS),
    );
    const access = await deps.accessTokens.sign({ sub: user.id, sid: session.id, role: user.role });
    return {
      accessToken: access.token,
      expiresIn: access.expiresIn,
      refreshToken,
      sessionId: session.id,
    };
  }

  /** Queues a mail; a queue outage is recorded, never allowed to undo what already happened. */
  async function mail(userId: string, message: Parameters<EmailOutbox["send"]>[0]) {
    try {
      await deps.outbox.send(message);
    } catch {
      await repo
        .recordEvent({ userId, kind: "mail_not_queued", outcome: "failed" })
        .catch(() => {});
    }
  }

  async function notifyLogin(user: UserRecord, client: ClientInfo) {
    if (!user.email) return;
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

  /** Checks a TOTP code or a backup code and consumes it; throws a coded error otherwise. */
  async function checkSecondFactor(
    user: UserRecord,
    code: string,
    client: ClientInfo,
  ): Promise<"totp" | "backup_code"> {
    if (!user.totpEnabledAt || !user.totpSecret) throw new AccountError("totp_not_enabled");
    const lockKey = `2fa:${user.id}`;
    await assertNotLocked(lockKey);
    await limit(`2fa:acct:${user.id}`, LIMITS.secondFactorPerAccount);
    const trimmed = typeof code === "string" ? code.replace(/[\s-]/g, "") : "";
    if (trimmed === "") throw new AccountError("invalid_totp");
    if (/^\d{6}$/.test(trimmed)) {
      const secret = decryptTotpSecret(deps.keyRing, user.totpSecret);
      const result = await verifyTotp({
        secret,
        code: trimmed,
        lastUsedStep: user.totpLastStep,
        now: now(),
      });
      if (result.ok && (await repo.advanceTotpStep(user.id, result.step))) {
        await deps.lockout.clear(lockKey);
        return "totp";
      }
      await deps.lockout.fail(lockKey, LOCKOUT.threshold, LOCKOUT.baseMs, LOCKOUT.maxMs);
      await repo.recordEvent({
        userId: user.id,
        kind: "totp",
        outcome: "failed",
        ip: client.ip,
        details: { reason: result.ok ? "replayed" : result.reason },
      });
      throw new AccountError(
        result.ok || result.reason === "replayed" ? "totp_replayed" : "invalid_totp",
      );
    }
    const hashes = await repo.backupCodeHashes(user.id);
    const idx = await findMatchingCode(deps.password, hashes, typeof code === "string" ? code : "");
    if (idx >= 0 && (await repo.useBackupCode(user.id, idx))) {
      await deps.lockout.clear(lockKey);
      const remaining = await repo.remainingBackupCodes(user.id);
      await repo.recordEvent({
        userId: user.id,
        kind: "backup_code_used",
        outcome: "ok",
        ip: client.ip,
        details: { remaining },
      });
      if (user.email)
        await mail(
          user.id,
          backupCodeUsedEmail({ to: user.email, remaining, when: new Date(now()) }),
        );
      return "backup_code";
    }
    await deps.lockout.fail(lockKey, LOCKOUT.threshold, LOCKOUT.baseMs, LOCKOUT.maxMs);
    await repo.recordEvent({
      userId: user.id,
      kind: "backup_code",
      outcome: "failed",
      ip: client.ip,
    });
    throw new AccountError("invalid_backup_code");
  }

  async function userOf(userId: string): Promise<UserRecord> {
    const user = await repo.findUserById(userId);
    if (!user) throw new AccountError("invalid_token");
    return user;
  }

  const service = {
    async register(input: { email: unknown; password: unknown }, client: ClientInfo) {
      await limit(`register:ip:${client.ip}`, LIMITS.registerPerIp);
      const email = normaliseEmail(input.email);
      if (typeof input.password !== "string") throw new AccountError("password_too_short");
      const passwordHash = await newPasswordHash(input.password);
      const user = await repo.createUser({ email, passwordHash, role: "user" });
      if (!user) throw new AccountError("email_taken");
      await repo.recordEvent({ userId: user.id, kind: "register", outcome: "ok", ip: client.ip });
      return { id: user.id, email };
    },

    /** Password step. Returns tokens, or a challenge when 2FA is enrolled. */
    async login(
      input: { email: unknown; password: unknown },
      client: ClientInfo,
    ): Promise<SignedIn | { challenge: string }> {
      await limit(`login:ip:${client.ip}`, LIMITS.loginPerIp);
      let email: string;
      try {
        email = normaliseEmail(input.email);
      } catch {
        throw new AccountError("invalid_credentials");
      }
      const lockKey = `login:${keyOf(email)}`;
      await assertNotLocked(lockKey);
      await limit(`login:acct:${keyOf(email)}`, LIMITS.loginPerAccount);
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
      const signed = await startSession(user, client, false);
      await repo.recordEvent({ userId: user.id, kind: "login", outcome: "ok", ip: client.ip });
      await notifyLogin(user, client);
      return signed;
    },

    /** Second step: the challenge from login and a TOTP or backup code. */
    async loginSecondFactor(
      input: { challenge: unknown; code: unknown },
      client: ClientInfo,
    ): Promise<SignedIn> {
      await limit(`2fa:ip:${client.ip}`, LIMITS.secondFactorPerIp);
      if (typeof input.challenge !== "string" || typeof input.code !== "string") {
        throw new AccountError("invalid_challenge");
      }
      const challengeKey = `challenge:${sha256Hex(input.challenge).slice(0, 32)}`;
      await limit(challengeKey, LIMITS.challengeAttempts);
      const payload = (await deps.tokens.peek("login2fa", input.challenge)) as {
        userId: string;
      } | null;
      if (!payload) throw new AccountError("invalid_challenge");
      const user = await userOf(payload.userId);
      await checkSecondFactor(user, input.code, client);
      // The challenge works once: a second finisher with the same challenge loses here.
      if ((await deps.tokens.consume("login2fa", input.challenge)) === null) {
        throw new AccountError("invalid_challenge");
      }
      const signed = await startSession(user, client, true);
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

    /** Verifies an access token and its session; throws invalid_token otherwise. */
    async authenticate(accessToken: string): Promise<AuthContext> {
      const claims = await deps.accessTokens.verify(accessToken);
      const user = await userOf(claims.sub);
      // One signature check per request; the user's cut-off is applied to the verified claims.
      if (issuedBeforeCutoff(claims.iat, user.tokensValidAfter))
        throw new AccountError("invalid_token");
      if (!claims.sid) throw new AccountError("invalid_token");
      const session = await repo.findSession(claims.sid);
      if (!session || session.revokedAt || session.userId !== user.id)
        throw new AccountError("invalid_token");
      return { user, session };
    },

    async refresh(refreshToken: string | undefined, client: ClientInfo): Promise<SignedIn> {
      if (!refreshToken || refreshToken.length > 256) throw new AccountError("invalid_token");
      const use = await repo.useRefreshToken(sha256Hex(refreshToken), new Date(now()));
      if (use.status === "unknown") throw new AccountError("invalid_token");
      const session = await repo.findSession(use.sessionId);
      if (use.status === "reused") {
        // S5.3: a used token coming back means it was stolen or replayed: kill the family.
        await repo.revokeSession(use.sessionId, "refresh_token_reuse");
        await repo.recordEvent({
          userId: session?.userId ?? null,
          kind: "refresh_reuse",
          outcome: "detected",
          ip: client.ip,
          details: { sessionId: use.sessionId },
        });
        throw new AccountError("invalid_token");
      }
      if (use.status === "expired" || !session || session.revokedAt)
        throw new AccountError("invalid_token");
      if (now() - session.createdAt.getTime() > SESSION_MAX_AGE_MS) {
        await repo.revokeSession(session.id, "expired");
        throw new AccountError("token_expired");
      }
      const user = await userOf(session.userId);
      const next = randomToken(32);
      await repo.storeRefreshToken(sha256Hex(next), session.id, new Date(now() + REFRESH_TTL_MS));
      const access = await deps.accessTokens.sign({
        sub: user.id,
        sid: session.id,
        role: user.role,
      });
      return {
        accessToken: access.token,
        expiresIn: access.expiresIn,
        refreshToken: next,
        sessionId: session.id,
      };
    },

    async logout(auth: AuthContext | null, refreshToken: string | undefined, client: ClientInfo) {
      let sessionId = auth?.session.id;
      if (!sessionId && refreshToken) {
        const use = await repo.useRefreshToken(sha256Hex(refreshToken), new Date(now()));
        if (use.status !== "unknown") sessionId = use.sessionId;
      }
      if (sessionId) {
        await repo.revokeSession(sessionId, "logout");
        await repo.recordEvent({
          userId: auth?.user.id ?? null,
          kind: "logout",
          outcome: "ok",
          ip: client.ip,
        });
      }
    },

    /** S4.5: sensitive actions need a step-up from the last five minutes. */
    requireStepUp(auth: AuthContext) {
      const at = auth.session.stepUpAt?.getTime() ?? 0;
      if (now() - at > STEP_UP_WINDOW_MS) throw new AccountError("reauth_required");
    },

    /** Password (when the account has one) plus the current 2FA code (when enrolled). */
    async stepUp(
      auth: AuthContext,
      input: { password?: unknown; code?: unknown },
      client: ClientInfo,
    ) {
      const { user } = auth;
      await assertNotLocked(`stepup:${user.id}`);
      if (user.passwordHash) {
        const ok =
          typeof input.password === "string" &&
          (await verifyPassword(deps.password, input.password, user.passwordHash));
        if (!ok) {
          await deps.lockout.fail(
            `stepup:${user.id}`,
            LOCKOUT.threshold,
            LOCKOUT.baseMs,
            LOCKOUT.maxMs,
          );
          await repo.recordEvent({
            userId: user.id,
            kind: "step_up",
            outcome: "failed",
            ip: client.ip,
          });
          throw new AccountError("invalid_credentials", "Wrong password.");
        }
      }
      if (user.totpEnabledAt)
        await checkSecondFactor(user, typeof input.code === "string" ? input.code : "", client);
      await repo.markStepUp(auth.session.id, Boolean(user.totpEnabledAt));
      await repo.recordEvent({ userId: user.id, kind: "step_up", outcome: "ok", ip: client.ip });
    },

    /** S2.4: needs the current password; revokes every other session and outstanding resets. */
    async changePassword(
      auth: AuthContext,
      input: { currentPassword: unknown; newPassword: unknown },
      client: ClientInfo,
    ) {
      const { user } = auth;
      if (!user.passwordHash) throw new AccountError("password_not_set");
      service.requireStepUp(auth);
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
      await repo.setPassword(user.id, await newPasswordHash(input.newPassword));
      // Every session ends, this one too: the caller continues in a fresh session, so no token
      // issued before the change (even within the same second) stays usable.
      await repo.revokeSessions(user.id, "password_changed");
      await deps.tokens.voidSubject("reset", user.id);
      await repo.recordEvent({
        userId: user.id,
        kind: "password_change",
        outcome: "ok",
        ip: client.ip,
      });
      return startSession(user, client, Boolean(auth.session.twoFactorAt));
    },

    /** S5.1: the same answer whether or not the email has an account. */
    async requestPasswordReset(input: { email: unknown }, client: ClientInfo) {
      await limit(`reset:ip:${client.ip}`, LIMITS.resetPerIp);
      let email: string;
      try {
        email = normaliseEmail(input.email);
      } catch {
        return;
      }
      await limit(`reset:acct:${keyOf(email)}`, LIMITS.resetPerAccount);
      const user = await repo.findUserByEmail(email);
      // The token is made either way, so both paths do the same work up to the send.
      const token = await deps.tokens.issue(
        "reset",
        { userId: user?.id ?? null },
        RESET_TOKEN_TTL_S,
        user ? user.id : `none:${keyOf(email)}`,
      );
      if (!user) return;
      const link = `${deps.publicUrl}/reset-password#token=${encodeURIComponent(token)}`;
      await mail(
        user.id,
        resetPasswordEmail({ to: email, link, expiresMinutes: RESET_TOKEN_TTL_S / 60 }),
      );
      await repo.recordEvent({
        userId: user.id,
        kind: "password_reset_requested",
        outcome: "ok",
        ip: client.ip,
      });
    },

    /** Never signs in and never skips 2FA: every session is revoked, the user signs in again. */
    async confirmPasswordReset(input: { token: unknown; password: unknown }, client: ClientInfo) {
      if (typeof input.password !== "string") throw new AccountError("password_too_short");
      if (typeof input.token !== "string") throw new AccountError("invalid_reset_token");
      const peeked = (await deps.tokens.peek("reset", input.token)) as {
        userId: string | null;
      } | null;
      if (!peeked?.userId) throw new AccountError("invalid_reset_token");
      // Check the new password before using the link up, so a refused choice keeps the link.
      const passwordHash = await newPasswordHash(input.password);
      const payload = (await deps.tokens.consume("reset", input.token)) as {
        userId: string | null;
      } | null;
      if (!payload?.userId) throw new AccountError("invalid_reset_token");
      const user = await userOf(payload.userId);
      await repo.setPassword(user.id, passwordHash);
      await repo.revokeSessions(user.id, "password_reset");
      await repo.recordEvent({
        userId: user.id,
        kind: "password_reset",
        outcome: "ok",
        ip: client.ip,
      });
    },

    async startTotpEnrolment(auth: AuthContext) {
      if (auth.user.totpEnabledAt) throw new AccountError("totp_already_enabled");
      service.requireStepUp(auth);
      return enrolStart(auth.user);
    },

    /** Activates 2FA after a valid code; returns the 10 backup codes, shown once. */
    async confirmTotpEnrolment(auth: AuthContext, input: { code: unknown }, client: ClientInfo) {
      const result = await enrolConfirm(auth.user.id, input.code, client);
      await repo.markStepUp(auth.session.id, true);
      return result;
    },

    async disableTotp(auth: AuthContext, input: { code: unknown }, client: ClientInfo) {
      if (auth.user.role === "admin") throw new AccountError("admin_cannot_disable_2fa");
      if (!auth.user.totpEnabledAt) throw new AccountError("totp_not_enabled");
      service.requireStepUp(auth);
      await disable(auth.user.id, input.code, client);
    },

    /** Needs a current code (re-authentication); the old set stops working. */
    async regenerateBackupCodes(auth: AuthContext, input: { code: unknown }, client: ClientInfo) {
      if (!auth.user.totpEnabledAt) throw new AccountError("totp_not_enabled");
      service.requireStepUp(auth);
      return regenerate(auth.user.id, input.code, client);
    },

    // The bot's versions: the Telegram identity is the session, and the code is the step-up.
    botStartTotpEnrolment: (user: UserRecord) => enrolStart(user),
    botConfirmTotpEnrolment: (user: UserRecord, code: string) =>
      enrolConfirm(user.id, code, { ip: null }),
    botDisableTotp: (user: UserRecord, code: string) => disable(user.id, code, { ip: null }),
    botRegenerateBackupCodes: (user: UserRecord, code: string) =>
      regenerate(user.id, code, { ip: null }),

    async listSessions(auth: AuthContext) {
      return (await repo.listSessions(auth.user.id)).map((s) => ({
        id: s.id,
        createdAt: s.createdAt.toISOString(),
        lastUsedAt: s.lastUsedAt.toISOString(),
        ip: s.ip,
        userAgent: s.userAgent,
        current: s.id === auth.session.id,
      }));
    },

    async revokeSession(auth: AuthContext, sessionId: string, client: ClientInfo) {
      const s = /^[0-9a-f-]{36}$/.test(sessionId) ? await repo.findSession(sessionId) : null;
      if (!s || s.userId !== auth.user.id || s.revokedAt)
        throw new AccountError("session_not_found");
      await repo.revokeSession(s.id, "revoked_by_user");
      await repo.recordEvent({
        userId: auth.user.id,
        kind: "session_revoked",
        outcome: "ok",
        ip: client.ip,
      });
    },

    async revokeAllSessions(auth: AuthContext, client: ClientInfo) {
      const n = await repo.revokeSessions(auth.user.id, "revoked_by_user");
      await repo.recordEvent({
        userId: auth.user.id,
        kind: "sessions_revoked",
        outcome: "ok",
        ip: client.ip,
        details: { count: n },
      });
      return n;
    },

    async issueWsTicket(auth: AuthContext) {
      // Bound to the user; the WebSocket hub consumes it once (GETDEL) as the first message.
      const ticket = await deps.tokens.issue(
        "ws",
        { userId: Number(auth.user.id) },
        WS_TICKET_TTL_S,
      );
      return { ticket, expiresIn: WS_TICKET_TTL_S };
    },

    /** S4.4: admin powers need TOTP enrolled and verified in this session. */
    requireAdmin(auth: AuthContext) {
      if (auth.user.role !== "admin") throw new AccountError("invalid_token");
      if (!auth.user.totpEnabledAt || !auth.session.twoFactorAt)
        throw new AccountError("admin_requires_2fa");
    },

    // ---- Telegram --------------------------------------------------------------------------

    /** /start: the account of this Telegram user, created on first contact (S6.1). */
    async ensureTelegramAccount(
      telegramUserId: number,
    ): Promise<{ user: UserRecord; created: boolean }> {
      const existing = await repo.findUserByTelegramId(telegramUserId);
      const role: Role = deps.adminTelegramIds.includes(telegramUserId) ? "admin" : "user";
      if (existing) {
        if (existing.role !== role && role === "admin") await repo.setRole(existing.id, role);
        return {
          user: { ...existing, role: role === "admin" ? role : existing.role },
          created: false,
        };
      }
      const user = await repo.createUser({ telegramUserId, role });
      if (user) {
        await repo.recordEvent({
          userId: user.id,
          kind: "telegram_account_created",
          outcome: "ok",
        });
        return { user, created: true };
      }
      const raced = await repo.findUserByTelegramId(telegramUserId);
      if (!raced) throw new Error("telegram account vanished during creation");
      return { user: raced, created: false };
    },

    async findByTelegramId(telegramUserId: number) {
      return repo.findUserByTelegramId(telegramUserId);
    },

    /** Web settings → bot: a one-time code the user sends to the bot (`/start CODE`). */
    async issueTelegramLinkCode(auth: AuthContext) {
      // Linking hands the account to whoever sends the code to the bot: a sensitive action.
      service.requireStepUp(auth);
      const code = await deps.tokens.issue(
        "link:web",
        { userId: auth.user.id },
        LINK_CODE_TTL_S,
        auth.user.id,
      );
      return { code, expiresIn: LINK_CODE_TTL_S };
    },

    /** Bot → web: a one-time code shown by `/link`, entered in the web settings. */
    async issueBotLinkCode(telegramUserId: number) {
      return deps.tokens.issue(
        "link:bot",
        { telegramUserId },
        LINK_CODE_TTL_S,
        String(telegramUserId),
      );
    },

    /** Links `telegramUserId` to the web account the code names. */
    /**
     * Uses up a web link code and names the account it belongs to, so the bot can ask the user
     * to confirm before anything is linked (a tapped link alone must not hand over the chat).
     */
    async claimWebLinkCode(code: string): Promise<{ userId: string; maskedEmail: string }> {
      const payload = (await deps.tokens.consume("link:web", code)) as { userId: string } | null;
      if (!payload) throw new AccountError("invalid_link_code");
      const user = await userOf(payload.userId);
      return { userId: user.id, maskedEmail: user.email ? maskEmail(user.email) : "(no email)" };
    },

    confirmTelegramLink: (userId: string, telegramUserId: number) =>
      linkTelegram(userId, telegramUserId),

    async linkTelegramWithBotCode(auth: AuthContext, code: unknown) {
      service.requireStepUp(auth);
      if (typeof code !== "string") throw new AccountError("invalid_link_code");
      const payload = (await deps.tokens.consume("link:bot", code)) as {
        telegramUserId: number;
      } | null;
      if (!payload) throw new AccountError("invalid_link_code");
      return linkTelegram(auth.user.id, payload.telegramUserId);
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
      const { user } = await service.ensureTelegramAccount(verified.user.id);
      if (user.totpEnabledAt) {
        return {
          challenge: await deps.tokens.issue(
            "login2fa",
            { userId: user.id },
            LOGIN_CHALLENGE_TTL_S,
          ),
        };
      }
      const signed = await startSession(user, client, false);
      await repo.recordEvent({
        userId: user.id,
        kind: "login",
        outcome: "ok",
        ip: client.ip,
        details: { via: "telegram_init_data" },
      });
      return signed;
    },

    /** The bot's step-up and admin gate: a current code from the authenticator. */
    async verifyCodeForBot(user: UserRecord, code: string): Promise<"totp" | "backup_code"> {
      const fresh = await userOf(user.id);
      return checkSecondFactor(fresh, code, { ip: null });
    },

    botAdmin2faWindowMs: BOT_ADMIN_2FA_MS,
  };

  async function enrolStart(user: UserRecord) {
    if (user.totpEnabledAt) throw new AccountError("totp_already_enabled");
    const secret = generateTotpSecret();
    await repo.setPendingTotp(user.id, encryptTotpSecret(deps.keyRing, secret));
    const account = user.email ?? `telegram:${user.telegramUserId}`;
    return { secret, otpauthUri: otpauthUri({ secret, account }) };
  }

  async function enrolConfirm(userId: string, code: unknown, client: ClientInfo) {
    const user = await userOf(userId);
    if (user.totpEnabledAt) throw new AccountError("totp_already_enabled");
    if (!user.totpSecret) throw new AccountError("totp_not_pending");
    const secret = decryptTotpSecret(deps.keyRing, user.totpSecret);
    const result = await verifyTotp({
      secret,
      code: typeof code === "string" ? code : "",
      lastUsedStep: null,
      now: now(),
    });
    if (!result.ok) {
      await repo.recordEvent({
        userId: user.id,
        kind: "totp_enrol",
        outcome: "failed",
        ip: client.ip,
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
    if (user.email) {
      await mail(user.id, twoFactorChangedEmail({ to: user.email, change, when: new Date(now()) }));
    }
  }

  async function disable(userId: string, code: unknown, client: ClientInfo) {
    const user = await userOf(userId);
    if (user.role === "admin") throw new AccountError("admin_cannot_disable_2fa");
    if (!user.totpEnabledAt) throw new AccountError("totp_not_enabled");
    await checkSecondFactor(user, typeof code === "string" ? code : "", client);
    await repo.disableTotp(user.id);
    await twoFactorChanged(user, "disabled", client);
  }

  async function regenerate(userId: string, code: unknown, client: ClientInfo) {
    const user = await userOf(userId);
    if (!user.totpEnabledAt) throw new AccountError("totp_not_enabled");
    await checkSecondFactor(user, typeof code === "string" ? code : "", client);
    const codes = generateBackupCodes();
    await repo.replaceBackupCodes(user.id, await hashBackupCodes(deps.password, codes));
    await twoFactorChanged(user, "backup_codes_regenerated", client);
    return { backupCodes: codes };
  }

  async function linkTelegram(userId: string, telegramUserId: number) {
    const target = await userOf(userId);
    if (target.telegramUserId === telegramUserId) return { user: target, alreadyLinked: true };
    // An existing link is never replaced silently (a stolen session must not re-point it).
    if (target.telegramUserId !== null) throw new AccountError("account_already_linked");
    const holder = await repo.findUserByTelegramId(telegramUserId);
    if (holder && holder.id !== target.id) {
      // A Telegram-only account made by /start that holds nothing yet gives way to the link.
      if (holder.email !== null || !(await repo.deleteEmptyTelegramAccount(holder.id))) {
        throw new AccountError("telegram_already_linked");
      }
    }
    if (!(await repo.setTelegramUser(target.id, telegramUserId)))
      throw new AccountError("telegram_already_linked");
    await repo.recordEvent({ userId: target.id, kind: "telegram_linked", outcome: "ok" });
    return { user: { ...target, telegramUserId }, alreadyLinked: false };
  }

  return service;
}

export type AccountService = ReturnType<typeof createAccountService>;
