// What the cockpit reads and writes beyond the trading store: open trades per key, the keys to
// reconcile, the paper account → key map, per-user trading settings, and the P&L ledger.
import type { LedgerRow, LedgerStore } from "../domain/reports";
import type { TradingSettings, TradingSettingsStore } from "../domain/trading/pre-trade-rules";
import type { TradeRecord } from "../domain/trading/types";
// A trade row is read the one way the trading store reads it (testnet label included).
import { COLUMNS as TRADE_COLUMNS, toTrade } from "./trading-store";
import type { Sql } from "./vault-store";

const n = (v: unknown) => (v === null || v === undefined ? null : Number(v));
const d = (v: unknown) => (v instanceof Date ? v : new Date(String(v)));

export function createCockpitStore(sql: Sql) {
  const settings: TradingSettingsStore = {
    async get(userId) {
      const rows = await sql(
        "select max_order_notional, confirm_below_notional from trading_settings where user_id = ?",
        [userId],
      );
      return {
        maxOrderNotional: n(rows[0]?.max_order_notional),
        confirmBelowNotional: n(rows[0]?.confirm_below_notional),
      };
    },
    async set(userId, s: TradingSettings) {
      await sql(
        `insert into trading_settings (user_id, max_order_notional, confirm_below_notional)
         values (?, ?, ?) on conflict (user_id) do update set
           max_order_notional = excluded.max_order_notional,
           confirm_below_notional = excluded.confirm_below_notional, updated_at = now()`,
        [userId, s.maxOrderNotional, s.confirmBelowNotional],
      );
    },
  };
  const ledger: LedgerStore = {
    async closedTrades(userId, since) {
      const rows = await sql(
        `select ${TRADE_COLUMNS}, coalesce(fees, 0) as fees, coalesce(funding, 0) as funding, realized_pnl
         from trades where user_id = ? and status = 'closed' and realized_pnl is not null
           and (?::timestamptz is null or closed_at >= ?::timestamptz)
         order by closed_at, id`,
        [userId, since, since],
      );
      return rows.map(
        (r): LedgerRow => ({
          id: r.id as string,
          symbol: r.symbol as string,
          side: r.side as LedgerRow["side"],
          size: Number(r.size),
          entryPrice: n(r.entry_price),
          exitPrice: n(r.exit_price),
          fees: Number(r.fees),
          funding: Number(r.funding),
          realizedPnl: Number(r.realized_pnl),
          openedAt: d(r.opened_at),
          closedAt: d(r.closed_at),
        }),
      );
    },
  };
  return {
    settings,
    ledger,
    async openTradesOf(credentialId: string): Promise<TradeRecord[]> {
      return (
        await sql(
          `select ${TRADE_COLUMNS} from trades where credential_id = ? and status = 'open' order by id`,
          [credentialId],
        )
      ).map(toTrade);
    },
    /** (user, key) of every usable key, for the reconciliation run. */
    async activeKeys(): Promise<Array<{ userId: string; credentialId: string }>> {
      return (
        await sql(
          `select user_id::text as user_id, id::text as id from exchange_credentials
           where revoked_at is null and disabled_at is null order by id`,
          [],
        )
      ).map((r) => ({ userId: r.user_id as string, credentialId: r.id as string }));
    },
    /** The key behind a paper account. */
    async paperKey(account: string): Promise<{ userId: string; credentialId: string } | null> {
      const rows = await sql(
        `select user_id::text as user_id, id::text as id from exchange_credentials
         where venue = 'paper' and wallet_address = ? and revoked_at is null`,
        [account],
      );
      return rows[0]
        ? { userId: rows[0].user_id as string, credentialId: rows[0].id as string }
        : null;
    },
    async telegramChatOf(userId: string): Promise<number | null> {
      const rows = await sql("select telegram_user_id from users where id = ?", [userId]);
      return n(rows[0]?.telegram_user_id);
    },
  };
}

export type CockpitStore = ReturnType<typeof createCockpitStore>;
