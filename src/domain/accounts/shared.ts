// What the account use cases share: their dependencies, the limits, and small helpers (rate
// limits, lockouts, new password hashes, starting a session, queuing a mail, the second factor).
import { createHash } from "node:crypto";
import type { Lockout, RateLimiter } from "../shared/rate-limiter";
import type { AccountKeys } from "../vault/account-secrets";
import { findMatchingCode } from "./backup-codes";
import { assertEmailAddress, backupCodeUsedEmail, type EmailOutbox } from "./email";
import { AccountError } from "./errors";
import {
  assertPasswordPolicy,
  type BreachCheckDeps,
  checkNotBreached,
  hashPassword,
  type PasswordDeps,
} from "./password";
import type { DeferredAccountWork, OneTimeTokenStore, SessionEndListener } from "./ports";
import type { AccountsRepo, SessionRecord, UserRecord } from "./repo";
import { randomToken, sha256Hex } from "./tokens";
import { decryptTotpSecret, verifyTotp } from "./totp";

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
  /** TOTP secrets are sealed with these (the account ring; never MASTER_KEYS for new ones). */
  accountKeys: AccountKeys;
  outbox: EmailOutbox;
  limiter: RateLimiter;
  lockout: Lockout;
  publicUrl: string;
  adminTelegramIds: readonly number[];
  botToken?: string;
  /**
   * Where reset requests are queued. Required: a reset request does no per-email work before it
   * answers (S5.1), so there is no in-request fallback that would make a known email slower.
   */
  deferred: DeferredAccountWork;
  /** Closes the sockets of ended sessions on every API process. */
  sessionEnds?: SessionEndListener;
  /** Queues a plain-text notice to a Telegram chat (the alerts queue's notice job). */
  telegramNotice?: (chatId: number, text: string) => Promise<void>;
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
export const EMAIL_CONFIRM_TTL_S = 24 * 3600;
export const WS_TICKET_TTL_S = 30;
export const LOGIN_CHALLENGE_TTL_S = 5 * 60;
export const LINK_CODE_TTL_S = 10 * 60;
export const REFRESH_TTL_MS = 14 * 24 * 3600_000;
export const SESSION_MAX_AGE_MS = 30 * 24 * 3600_000;
export const BOT_ADMIN_2FA_MS = 12 * 3600_000;

// S3.2 limits. Account keys use a hash of the normalised email, existing or not, so a lockout
// reveals nothing about which emails have accounts.
export const LIMITS = {
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
export const LOCKOUT = { threshold: 5, baseMs: 60_000, maxMs: 60 * 60_000 };

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

/**
 * The part of an address a per-IP limit counts: an IPv4 address as it is (IPv4-mapped IPv6
 * too), an IPv6 address by its /64 (one subscriber's prefix: rotating through it gains nothing).
 */
export function ipKeyOf(ip: string | null): string {
  if (ip === null) return "none";
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (!ip.includes(":")) return ip;
  const [head = "", tail] = ip.toLowerCase().split("%")[0]!.split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === undefined || tail === "" ? [] : tail.split(":");
  const groups =
    tail === undefined
      ? left
      : [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => (g === "" ? "0" : g).replace(/^0+(?=.)/, ""))
    .join(":")}::/64`;
}

export const keyOf = (s: string) => createHash("sha256").update(s).digest("hex").slice(0, 32);

/** The helpers every use-case module is built with. */
export function createAccountHelpers(deps: AccountDeps) {
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
    return (await checkedPasswordHash(password)).hash;
  }

  /** Like newPasswordHash, also saying whether the breach check was skipped (fail mode open). */
  async function checkedPasswordHash(
    password: string,
  ): Promise<{ hash: string; breachCheckSkipped: boolean }> {
    assertPasswordPolicy(password);
    const breach = await checkNotBreached(deps.breach, password);
    return {
      hash: await hashPassword(deps.password, password),
      breachCheckSkipped: breach === "unchecked",
    };
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
      // Step-up is earned, never born: it comes only from a password (+ code) check in this
      // session. An account with neither (Telegram-only, no 2FA) has nothing more to prove.
      steppedUp: user.passwordHash === null && user.totpEnabledAt === null,
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

  /** Alerts and notices go only to a confirmed address. */
  async function notice(
    user: UserRecord,
    make: (to: string) => Parameters<EmailOutbox["send"]>[0],
  ) {
    if (user.email && user.emailConfirmedAt) await mail(user.id, make(user.email));
  }

  /**
   * Tells the Telegram chat linked to the account (when there is one) what just happened to it;
   * a queue outage is recorded, never allowed to undo what already happened.
   */
  async function telegramNotice(user: UserRecord, text: string) {
    if (user.telegramUserId === null || !deps.telegramNotice) return;
    try {
      await deps.telegramNotice(user.telegramUserId, text);
    } catch {
      await repo
        .recordEvent({ userId: user.id, kind: "telegram_notice_not_queued", outcome: "failed" })
        .catch(() => {});
    }
  }

  /**
   * Drops an address change asked for but not confirmed yet, and voids its link (sign-out
   * everywhere, a revoked session, a password reset: whoever asked for it may be the thief).
   */
  async function cancelPendingEmail(user: UserRecord) {
    await repo.setPendingEmail(user.id, null);
    await deps.tokens.voidSubject("email_confirm", user.id);
  }

  async function userOf(userId: string): Promise<UserRecord> {
    const user = await repo.findUserById(userId);
    if (!user) throw new AccountError("invalid_token");
    return user;
  }

  /** S4.5: sensitive actions need a step-up from the last five minutes. */
  function requireStepUp(auth: AuthContext) {
    // Never stepped up in this session: 403; stepped up too long ago: 401 (confirm again).
    if (!auth.session.stepUpAt) throw new AccountError("step_up_required");
    if (now() - auth.session.stepUpAt.getTime() > STEP_UP_WINDOW_MS)
      throw new AccountError("reauth_required");
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
      const secret = decryptTotpSecret(deps.accountKeys, user.totpSecret);
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
      await notice(user, (to) => backupCodeUsedEmail({ to, remaining, when: new Date(now()) }));
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

  /**
   * Ends the Telegram link of a web account (password reset, sign-out everywhere, unlink):
   * the Telegram user must link again with a fresh code. An account without a password (born
   * in Telegram, with or without an address) keeps its id: Telegram is its way in.
   */
  async function endTelegramLink(user: UserRecord, reason: string, client: ClientInfo) {
    if (user.telegramUserId === null || user.passwordHash === null) return false;
    const ended = await repo.clearTelegramUser(user.id, user.telegramUserId);
    if (ended) {
      await repo.recordEvent({
        userId: user.id,
        kind: "telegram_unlinked",
        outcome: "ok",
        ip: client.ip,
        details: { reason, telegramUserId: user.telegramUserId },
      });
    }
    return ended;
  }

  /** Ended sessions take their live sockets along; an outage is logged as an event, not thrown. */
  async function sessionsEnded(userId: string, sessionId: string | null) {
    if (!deps.sessionEnds) return;
    try {
      await deps.sessionEnds.sessionsEnded(userId, sessionId);
    } catch {
      await repo
        .recordEvent({ userId, kind: "socket_close_not_sent", outcome: "failed" })
        .catch(() => {});
    }
  }

  return {
    deps,
    repo,
    sessionsEnded,
    now,
    limit,
    assertNotLocked,
    newPasswordHash,
    checkedPasswordHash,
    startSession,
    mail,
    notice,
    telegramNotice,
    cancelPendingEmail,
    userOf,
    requireStepUp,
    checkSecondFactor,
    endTelegramLink,
  };
}

export type AccountHelpers = ReturnType<typeof createAccountHelpers>;
