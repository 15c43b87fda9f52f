// Account deletion (issue 15): the account's identity and every way into it go — email, Telegram
// id (the link), password, 2FA, sessions, exchange keys, settings — in one transaction, while the
// evidence stays: the user row remains, anonymised, so anomalies, alert_deliveries,
// security_events, trades and the audit log keep their rows and what they point at.
import type { MikroORM } from "@mikro-orm/postgresql";
import type { OneTimeTokenStore } from "../domain/accounts/ports";
import { inTransaction } from "./audit-log";

/**
 * The account still has open trades: deleting it would revoke the keys that manage them and
 * leave positions at the venue nobody here watches. The user closes them first.
 */
export class AccountHasOpenTrades extends Error {
  constructor(
    readonly openTrades: number,
    /** Opens whose order may be at the venue while their outcome is still being recovered. */
    readonly pendingOpens = 0,
  ) {
    super(
      `the account has ${openTrades} open trade(s)${pendingOpens > 0 ? ` and ${pendingOpens} order(s) still being placed` : ""}: close them first`,
    );
    this.name = "AccountHasOpenTrades";
  }
}

/** The one-time tokens issued to an account (by user id) that could still be used after it went. */
const ACCOUNT_TOKEN_KINDS = ["reset", "link:web", "email_confirm"] as const;

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
  opts: { tokens?: OneTimeTokenStore } = {},
): Promise<DeletedAccount | null> {
  if (!/^\d{1,19}$/.test(userId)) return null;
  const deleted = await inTransaction(orm, async (sql) => {
    const [user] = await sql(
      "select id::text as id from users where id = ? and deleted_at is null for update",
      [userId],
    );
    if (!user) return null;
    // An open intent is an order that may be filled at the venue with no trade recorded yet:
    // deleting the keys now would leave that position unwatched, as an open trade would.
    const [open] = await sql(
      `select (select count(*) from trades where user_id = ? and status = 'open')::int as trades,
              (select count(*) from open_intents where user_id = ?)::int as intents`,
      [userId, userId],
    );
    const trades = Number(open?.trades ?? 0);
    const intents = Number(open?.intents ?? 0);
    if (trades + intents > 0) throw new AccountHasOpenTrades(trades, intents);
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
      "trading_settings",
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
  // A reset, link or confirmation token issued before must not reach a row without an address
  // or password (it would only fail the users table's checks).
  if (deleted && opts.tokens) {
    for (const kind of ACCOUNT_TOKEN_KINDS) await opts.tokens.voidSubject(kind, userId);
  }
  return deleted;
}
