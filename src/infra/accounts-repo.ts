// AccountsRepo on PostgreSQL. Every operation that must hold under a race is one statement
// (a guarded UPDATE … RETURNING or an upsert), so no two requests can both win.
import type {
  AccountsRepo,
  RefreshUse,
  Role,
  SessionRecord,
  UserRecord,
} from "../domain/accounts/repo";
import type { Sql } from "./vault-store";

type Row = Record<string, unknown>;

// The ORM's pg connection hands timestamps over as strings; the domain works with Dates.
const date = (v: unknown): Date => (v instanceof Date ? v : new Date(String(v)));
const maybeDate = (v: unknown): Date | null => (v === null || v === undefined ? null : date(v));

const USER_COLUMNS = `id::text as id, email, password_hash, role, telegram_user_id::text as telegram_user_id,
  totp_secret, totp_key_version, totp_key_ring, totp_enabled_at, totp_last_step::text as totp_last_step,
  tokens_valid_after, created_at, email_confirmed_at, pending_email`;

function toUser(r: Row): UserRecord {
  return {
    id: r.id as string,
    email: (r.email as string | null) ?? null,
    passwordHash: (r.password_hash as string | null) ?? null,
    role: r.role as Role,
    telegramUserId: r.telegram_user_id === null ? null : Number(r.telegram_user_id),
    totpSecret:
      r.totp_secret === null
        ? null
        : {
            token: r.totp_secret as string,
            version: Number(r.totp_key_version),
            ring: r.totp_key_ring === "account" ? "account" : "master",
          },
    totpEnabledAt: maybeDate(r.totp_enabled_at),
    totpLastStep: r.totp_last_step === null ? null : Number(r.totp_last_step),
    tokensValidAfter: date(r.tokens_valid_after),
    createdAt: date(r.created_at),
    emailConfirmedAt: maybeDate(r.email_confirmed_at),
    pendingEmail: (r.pending_email as string | null) ?? null,
  };
}

const SESSION_COLUMNS = `id::text as id, user_id::text as user_id, created_at, last_used_at, host(ip) as ip,
  user_agent, two_factor_at, step_up_at, revoked_at`;

function toSession(r: Row): SessionRecord {
  return {
    id: r.id as string,
    userId: r.user_id as string,
    createdAt: date(r.created_at),
    lastUsedAt: date(r.last_used_at),
    ip: (r.ip as string | null) ?? null,
    userAgent: (r.user_agent as string | null) ?? null,
    twoFactorAt: maybeDate(r.two_factor_at),
    stepUpAt: maybeDate(r.step_up_at),
    revokedAt: maybeDate(r.revoked_at),
  };
}

const one = <T>(rows: Row[], map: (r: Row) => T): T | null => (rows[0] ? map(rows[0]) : null);

export function createAccountsRepo(sql: Sql): AccountsRepo {
  return {
    async findUserById(id) {
      if (!/^\d{1,19}$/.test(id)) return null;
      return one(await sql(`select ${USER_COLUMNS} from users where id = ?`, [id]), toUser);
    },
    async confirmEmail(userId, email) {
      // Only the address the link was made for, and only once.
      const rows = await sql(
        `update users set email_confirmed_at = now()
         where id = ? and email = ? and email_confirmed_at is null and pending_email is null
         returning id`,
        [userId, email],
      );
      if (rows.length === 1) return true;
      // A pending new address replaces the old one; the unique index refuses one taken since.
      const taken = await sql("select 1 from users where email = ? and id <> ?", [email, userId]);
      if (taken.length > 0) return false;
      try {
        const moved = await sql(
          `update users set email = pending_email, email_confirmed_at = now(),
             pending_email = null, updated_at = now()
           where id = ? and pending_email = ? returning id`,
          [userId, email],
        );
        return moved.length === 1;
      } catch (err) {
        if ((err as { code?: string }).code === "23505") return false;
        throw err;
      }
    },
    async setPendingEmail(userId, email) {
      await sql("update users set pending_email = ?, updated_at = now() where id = ?", [
        email,
        userId,
      ]);
    },
    async findUserByEmail(email) {
      return one(await sql(`select ${USER_COLUMNS} from users where email = ?`, [email]), toUser);
    },
    async findUserByTelegramId(tg) {
      return one(
        await sql(`select ${USER_COLUMNS} from users where telegram_user_id = ?`, [tg]),
        toUser,
      );
    },
    async createUser(input) {
      const rows = await sql(
        `insert into users (email, password_hash, telegram_user_id, role) values (?, ?, ?, ?)
         on conflict do nothing returning ${USER_COLUMNS}`,
        [input.email ?? null, input.passwordHash ?? null, input.telegramUserId ?? null, input.role],
      );
      return one(rows, toUser);
    },
    async syncAdminRoles(ids) {
      const list = ids.map(String);
      const promoted = await sql(
        `update users set role = 'admin', updated_at = now()
         where role <> 'admin'
           and telegram_user_id::text in (select jsonb_array_elements_text(?::jsonb))
         returning id::text as id`,
        [JSON.stringify(list)],
      );
      const demoted = await sql(
        `update users set role = 'user', updated_at = now()
         where role = 'admin' and (telegram_user_id is null
           or telegram_user_id::text not in (select jsonb_array_elements_text(?::jsonb)))
         returning id::text as id`,
        [JSON.stringify(list)],
      );
      return {
        promoted: promoted.map((r) => String(r.id)),
        demoted: demoted.map((r) => String(r.id)),
      };
    },
    async setRole(userId, role) {
      await sql("update users set role = ?, updated_at = now() where id = ?", [role, userId]);
    },
    async setPassword(userId, passwordHash) {
      // Access tokens issued before this second stop working (S5.2 tokens_valid_after). JWT iat
      // has whole seconds, so the cut-off does too, or the token issued right after the change
      // would be refused; other sessions are revoked outright anyway.
      await sql(
        "update users set password_hash = ?, tokens_valid_after = date_trunc('second', now()), updated_at = now() where id = ?",
        [passwordHash, userId],
      );
    },
    async setTokensValidAfter(userId, at) {
      await sql("update users set tokens_valid_after = ?, updated_at = now() where id = ?", [
        at,
        userId,
      ]);
    },
    async setPendingTotp(userId, secret) {
      await sql(
        `update users set totp_secret = ?, totp_key_version = ?, totp_key_ring = ?,
           totp_last_step = null, totp_pending_at = now(), totp_pending_attempts = 0,
           updated_at = now()
         where id = ? and totp_enabled_at is null`,
        [secret.token, secret.version, secret.ring, userId],
      );
    },
    async claimPendingTotpAttempt(userId, maxAttempts, ttlSeconds) {
      const rows = await sql(
        `update users set totp_pending_attempts = totp_pending_attempts + 1
         where id = ? and totp_enabled_at is null and totp_secret is not null
           and totp_pending_at > now() - make_interval(secs => ?)
           and totp_pending_attempts < ?
         returning totp_pending_attempts`,
        [userId, ttlSeconds, maxAttempts],
      );
      if (rows.length === 1) return Number(rows[0]!.totp_pending_attempts);
      await sql(
        `update users set totp_secret = null, totp_key_version = null, totp_pending_at = null,
           totp_pending_attempts = 0, updated_at = now()
         where id = ? and totp_enabled_at is null`,
        [userId],
      );
      return null;
    },
    async discardPendingTotp(userId) {
      await sql(
        `update users set totp_secret = null, totp_key_version = null, totp_pending_at = null,
           totp_pending_attempts = 0, updated_at = now()
         where id = ? and totp_enabled_at is null`,
        [userId],
      );
    },
    async enableTotp(userId, step, hashes) {
      const rows = await sql(
        `with u as (
           update users set totp_enabled_at = now(), totp_last_step = ?, updated_at = now()
           where id = ? and totp_secret is not null and totp_enabled_at is null returning id
         ), codes as (
           insert into backup_codes (user_id, idx, hash)
           select u.id, c.idx, c.hash from u, json_to_recordset(?::json) as c(idx int, hash text)
           on conflict (user_id, idx) do update set hash = excluded.hash, used_at = null
         )
         select id from u`,
        [step, userId, JSON.stringify(hashes.map((hash, idx) => ({ idx, hash })))],
      );
      return rows.length === 1;
    },
    async disableTotp(userId) {
      await sql(
        `with d as (delete from backup_codes where user_id = ?)
         update users set totp_secret = null, totp_key_version = null, totp_enabled_at = null,
           totp_last_step = null, updated_at = now() where id = ?`,
        [userId, userId],
      );
    },
    async advanceTotpStep(userId, step) {
      const rows = await sql(
        `update users set totp_last_step = ? where id = ?
         and (totp_last_step is null or totp_last_step < ?) returning id`,
        [step, userId, step],
      );
      return rows.length === 1;
    },
    async replaceBackupCodes(userId, hashes) {
      await sql(
        `insert into backup_codes (user_id, idx, hash)
         select ?::bigint, c.idx, c.hash from json_to_recordset(?::json) as c(idx int, hash text)
         on conflict (user_id, idx) do update set hash = excluded.hash, used_at = null`,
        [userId, JSON.stringify(hashes.map((hash, idx) => ({ idx, hash })))],
      );
      await sql("delete from backup_codes where user_id = ? and idx >= ?", [userId, hashes.length]);
    },
    async backupCodeHashes(userId) {
      const rows = await sql(
        "select idx, hash, used_at from backup_codes where user_id = ? order by idx",
        [userId],
      );
      const out: Array<string | null> = [];
      for (const r of rows) out[Number(r.idx)] = r.used_at === null ? (r.hash as string) : null;
      return Array.from(out, (h) => h ?? null);
    },
    async useBackupCode(userId, idx) {
      const rows = await sql(
        "update backup_codes set used_at = now() where user_id = ? and idx = ? and used_at is null returning idx",
        [userId, idx],
      );
      return rows.length === 1;
    },
    async remainingBackupCodes(userId) {
      const rows = await sql(
        "select count(*)::int as n from backup_codes where user_id = ? and used_at is null",
        [userId],
      );
      return Number(rows[0]?.n ?? 0);
    },
    async clearTelegramUser(userId, tg) {
      const rows = await sql(
        `update users set telegram_user_id = null, updated_at = now()
         where id = ? and telegram_user_id = ? and password_hash is not null returning id`,
        [userId, tg],
      );
      return rows.length === 1;
    },
    async setTelegramUser(userId, tg) {
      const rows = await sql(
        `update users set telegram_user_id = ?, updated_at = now() where id = ?
         and telegram_user_id is null and not exists (select 1 from users where telegram_user_id = ? and id <> ?) returning id`,
        [tg, userId, tg, userId],
      ).catch((err: { code?: string }) => {
        if (err.code === "23505") return [];
        throw err;
      });
      return rows.length === 1;
    },
    async deleteEmptyTelegramAccount(userId) {
      const rows = await sql(
        `delete from users u where u.id = ? and u.email is null
         and u.role = 'user' and u.totp_enabled_at is null
         and not exists (select 1 from exchange_credentials c where c.user_id = u.id and c.venue <> 'paper')
         and not exists (select 1 from trades t where t.user_id = u.id)
         returning id`,
        [userId],
      );
      return rows.length === 1;
    },

    async createSession(input) {
      const rows = await sql(
        `insert into sessions (user_id, ip, user_agent, two_factor_at, step_up_at)
         values (?, ?::inet, ?, case when ? then now() end, case when ? then now() end)
         returning ${SESSION_COLUMNS}`,
        [input.userId, input.ip, input.userAgent, input.twoFactor, input.steppedUp],
      );
      return toSession(rows[0]!);
    },
    async findSession(id) {
      if (!/^[0-9a-f-]{36}$/i.test(id)) return null;
      return one(
        await sql(`select ${SESSION_COLUMNS} from sessions where id = ?`, [id]),
        toSession,
      );
    },
    async listSessions(userId) {
      const rows = await sql(
        `select ${SESSION_COLUMNS} from sessions where user_id = ? and revoked_at is null order by created_at desc`,
        [userId],
      );
      return rows.map(toSession);
    },
    async markStepUp(sessionId, twoFactor) {
      await sql(
        `update sessions set step_up_at = now(),
           two_factor_at = case when ? then now() else two_factor_at end where id = ?`,
        [twoFactor, sessionId],
      );
    },
    async revokeSession(sessionId, reason) {
      const rows = await sql(
        "update sessions set revoked_at = now(), revoked_reason = ? where id = ? and revoked_at is null returning id",
        [reason, sessionId],
      );
      return rows.length === 1;
    },
    async revokeSessions(userId, reason, except) {
      const rows = await sql(
        `update sessions set revoked_at = now(), revoked_reason = ?
         where user_id = ? and revoked_at is null and id::text <> ? returning id`,
        [reason, userId, except ?? ""],
      );
      return rows.length;
    },
    async storeRefreshToken(hash, sessionId, expiresAt) {
      await sql("insert into refresh_tokens (hash, session_id, expires_at) values (?, ?, ?)", [
        hash,
        sessionId,
        expiresAt,
      ]);
      await sql("update sessions set last_used_at = now() where id = ?", [sessionId]);
    },
    async useRefreshToken(hash, now): Promise<RefreshUse> {
      const won = await sql(
        `update refresh_tokens set used_at = ? where hash = ? and used_at is null
         returning session_id::text as session_id, expires_at`,
        [now, hash],
      );
      if (won[0]) {
        const sessionId = won[0].session_id as string;
        return date(won[0].expires_at) <= now
          ? { status: "expired", sessionId }
          : { status: "ok", sessionId };
      }
      const seen = await sql(
        "select session_id::text as session_id from refresh_tokens where hash = ?",
        [hash],
      );
      return seen[0]
        ? { status: "reused", sessionId: seen[0].session_id as string }
        : { status: "unknown" };
    },

    async telegramLinkOf(userId, telegramUserId) {
      const [row] = await sql(
        `select details ->> 'telegramName' as name, occurred_at from security_events
         where user_id = ? and kind = 'telegram_linked'
           and details ->> 'telegramUserId' = ?::text
         order by occurred_at desc, id desc limit 1`,
        [userId, String(telegramUserId)],
      );
      if (!row) return null;
      const at = row.occurred_at;
      return {
        name: (row.name as string | null) ?? "",
        linkedAt: at instanceof Date ? at : new Date(String(at)),
      };
    },
    async recordEvent(e) {
      await sql(
        "insert into security_events (user_id, kind, outcome, ip, details) values (?, ?, ?, ?::inet, ?::jsonb)",
        [e.userId ?? null, e.kind, e.outcome, e.ip ?? null, JSON.stringify(e.details ?? {})],
      );
    },
  };
}
