// The accounts storage port. Operations that must hold under races (one use of a backup code,
// one use of a refresh token, a TOTP step that only moves forward) are single atomic calls.
import type { RingedToken } from "../vault/account-secrets";

export type Role = "user" | "admin";

export interface UserRecord {
  id: string;
  email: string | null;
  passwordHash: string | null;
  role: Role;
  telegramUserId: number | null;
  /** The vault-encrypted TOTP secret, pending until totpEnabledAt is set. */
  totpSecret: RingedToken | null;
  totpEnabledAt: Date | null;
  totpLastStep: number | null;
  tokensValidAfter: Date;
  createdAt: Date;
  /** When the owner opened the confirmation link; no alert or notice is mailed before. */
  emailConfirmedAt: Date | null;
  /** A new address waiting for its confirmation link; `email` stays in use until then. */
  pendingEmail: string | null;
}

export interface SessionRecord {
  id: string;
  userId: string;
  createdAt: Date;
  lastUsedAt: Date;
  ip: string | null;
  userAgent: string | null;
  twoFactorAt: Date | null;
  stepUpAt: Date | null;
  revokedAt: Date | null;
}

export type RefreshUse =
  | { status: "ok"; sessionId: string }
  | { status: "reused"; sessionId: string }
  | { status: "expired"; sessionId: string }
  | { status: "unknown" };

export interface SecurityEvent {
  userId?: string | null;
  kind: string;
  outcome: "ok" | "failed" | "refused" | "detected";
  ip?: string | null;
  /** Never a secret: ids, counts, reasons. */
  details?: Record<string, unknown>;
}

export interface AccountsRepo {
  findUserById(id: string): Promise<UserRecord | null>;
  findUserByEmail(email: string): Promise<UserRecord | null>;
  /**
   * Confirms `email` for the user: their unconfirmed address, or their pending new one, which
   * then replaces the old. False when it is neither, or another account took it meanwhile.
   */
  confirmEmail(userId: string, email: string): Promise<boolean>;
  /** Records (or, with null, drops) the address waiting for confirmation. */
  setPendingEmail(userId: string, email: string | null): Promise<void>;
  findUserByTelegramId(telegramUserId: number): Promise<UserRecord | null>;
  /** Returns null when the email or Telegram id is taken. */
  createUser(input: {
    email?: string;
    passwordHash?: string;
    telegramUserId?: number;
    role: Role;
  }): Promise<UserRecord | null>;
  setRole(userId: string, role: Role): Promise<void>;
  /**
   * Makes `role` follow the admin list: Telegram users in it become admins, admins not in it
   * become users. Returns who changed.
   */
  syncAdminRoles(
    adminTelegramIds: readonly number[],
  ): Promise<{ promoted: string[]; demoted: string[] }>;
  /** Ends a web account's Telegram link if it is still `telegramUserId`; false when it was not. */
  clearTelegramUser(userId: string, telegramUserId: number): Promise<boolean>;
  /** Sets the hash and moves tokens_valid_after to now. */
  setPassword(userId: string, passwordHash: string, email?: string): Promise<void>;
  setTokensValidAfter(userId: string, at: Date): Promise<void>;
  setPendingTotp(userId: string, secret: RingedToken): Promise<void>;
  /**
   * Counts one confirmation attempt against the pending secret, atomically: the new count, or
   * null when there is no pending secret younger than `ttlSeconds` with attempts left (any such
   * leftover is discarded).
   */
  claimPendingTotpAttempt(
    userId: string,
    maxAttempts: number,
    ttlSeconds: number,
  ): Promise<number | null>;
  /** Drops a pending (not yet enabled) secret. */
  discardPendingTotp(userId: string): Promise<void>;
  /** Activates a pending secret and stores the backup code hashes, in one transaction. */
  enableTotp(userId: string, step: number, backupCodeHashes: string[]): Promise<boolean>;
  disableTotp(userId: string): Promise<void>;
  /** Stores `step` only if it is newer than the stored one; false when another use won. */
  advanceTotpStep(userId: string, step: number): Promise<boolean>;
  replaceBackupCodes(userId: string, hashes: string[]): Promise<void>;
  /** Hashes by index; used codes as null. */
  backupCodeHashes(userId: string): Promise<Array<string | null>>;
  /** Marks the code used; false when it was already used (a concurrent use won). */
  useBackupCode(userId: string, idx: number): Promise<boolean>;
  remainingBackupCodes(userId: string): Promise<number>;
  /** Links the Telegram id; false when another account has it. */
  setTelegramUser(userId: string, telegramUserId: number): Promise<boolean>;
  /** Deletes an account that holds nothing but paper (a Telegram-only account being merged). */
  deleteEmptyTelegramAccount(userId: string): Promise<boolean>;

  createSession(input: {
    userId: string;
    ip: string | null;
    userAgent: string | null;
    twoFactor: boolean;
    /** Only for an account with nothing to check (no password, no 2FA): see startSession. */
    steppedUp: boolean;
  }): Promise<SessionRecord>;
  findSession(id: string): Promise<SessionRecord | null>;
  listSessions(userId: string): Promise<SessionRecord[]>;
  markStepUp(sessionId: string, twoFactor: boolean): Promise<void>;
  revokeSession(sessionId: string, reason: string): Promise<boolean>;
  revokeSessions(userId: string, reason: string, exceptSessionId?: string): Promise<number>;
  storeRefreshToken(hash: string, sessionId: string, expiresAt: Date): Promise<void>;
  /** Atomically marks the token used and reports what it was. */
  useRefreshToken(hash: string, now: Date): Promise<RefreshUse>;

  recordEvent(event: SecurityEvent): Promise<void>;
  /** When the Telegram id was last linked to the account, and the name it had then. */
  telegramLinkOf(
    userId: string,
    telegramUserId: number,
  ): Promise<{ name: string; linkedAt: Date } | null>;
}
