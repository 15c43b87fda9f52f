// Account deletion (issue 15): the account's identity and every way into it go — email, Telegram
// id (the link), password, 2FA, sessions, exchange keys, settings — in one transaction, while the
// evidence stays: the user row remains, anonymised, so anomalies, alert_deliveries,
// security_events, trades and the audit log keep their rows and what they point at.
import type { MikroORM } from "@mikro-orm/postgresql";
import { inTransaction } from "./audit-log";

export interface DeletedAccount {
  userId: string;
  /** Sessions that were still open (their sockets are to be closed). */
  sessionsEnded: number;
  keysRevoked: number;
}

/**
 * Anonymises the user row and removes what only served the person. Null when there is no such
 * account, or it was deleted already. `via` says who did it (recorded in the security event).
 */
export async function anonymiseAccount(
  orm: MikroORM,
  userId: string,
  via: string,
): Promise<DeletedAccount | null> {
  if (!/^\d{1,19}$/.test(userId)) return null;
  return inTransaction(orm, async (sql) => {
    const [user] = await sql(
      "select id::text as id from users where id = ? and deleted_at is null for update",
      [userId],
    );
    if (!user) return null;
    const sessions = await sql(
      `update sessions set revoked_at = now(), revoked_reason = 'account_deleted'
       where user_id = ? and revoked_at is null returning id`,
      [userId],
    );
    await sql("delete from sessions where user_id = ?", [userId]);
    // The keys' ciphertexts go; the rows stay (trades name the key they were made with).
    const keys = await sql(
      `update exchange_credentials set api_key = null, secret = null, private_key = null,
         wallet_address = null, key_hint = null, label = '',
         revoked_at = coalesce(revoked_at, now())
       where user_id = ? returning (revoked_at = now()) as now_revoked`,
      [userId],
    );
    for (const table of [
      "backup_codes",
      "account_ips",
      "alert_preferences",
      "notification_settings",
      "daily_summary_settings",
      "liquidation_warning_settings",
    ]) {
      await sql(`delete from ${table} where user_id = ?`, [userId]);
    }
    await sql(
      `update users set email = null, email_confirmed_at = null, pending_email = null,
         password_hash = null,
         telegram_user_id = null, totp_secret = null, totp_key_version = null,
         totp_enabled_at = null, totp_last_step = null, totp_pending_at = null,
         totp_pending_attempts = 0, role = 'user', tokens_valid_after = now(),
         deleted_at = now(), updated_at = now()
       where id = ?`,
      [userId],
    );
    await sql(
      "insert into security_events (user_id, kind, outcome, details) values (?, 'account_deleted', 'ok', ?::jsonb)",
      [userId, JSON.stringify({ via, sessionsEnded: sessions.length })],
    );
    return {
      userId,
      sessionsEnded: sessions.length,
      keysRevoked: keys.filter((k) => k.now_revoked === true).length,
    };
  });
}
