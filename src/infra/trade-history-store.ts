// The trade history pages of /trades: keyset paging on the trade id, newest first.
import type { HistoryPage, TradeHistoryStore } from "../domain/trading/history";
import { COLUMNS as TRADE_COLUMNS, toTrade } from "./trading-store";
import type { Sql } from "./vault-store";

export function createTradeHistoryStore(sql: Sql): TradeHistoryStore {
  const rowsOf = (rows: Array<Record<string, unknown>>) =>
    rows.map((r) => ({
      ...toTrade(r),
      realizedPnl: r.realized_pnl === null ? null : Number(r.realized_pnl),
    }));
  return {
    async page(userId, size, cursor): Promise<HistoryPage> {
      if (cursor && "after" in cursor) {
        // Newer: the `size` trades right after the cursor, shown newest first.
        const rows = rowsOf(
          await sql(
            `select ${TRADE_COLUMNS}, realized_pnl from trades where user_id = ? and id > ?
             order by id asc limit ?`,
            [userId, cursor.after, size + 1],
          ),
        );
        const newer = rows.length > size;
        return { trades: rows.slice(0, size).reverse(), newer, older: true };
      }
      const before = cursor && "before" in cursor ? cursor.before : null;
      const rows = rowsOf(
        await sql(
          `select ${TRADE_COLUMNS}, realized_pnl from trades where user_id = ?
             and (?::bigint is null or id < ?::bigint)
           order by id desc limit ?`,
          [userId, before, before, size + 1],
        ),
      );
      return { trades: rows.slice(0, size), older: rows.length > size, newer: before !== null };
    },
  };
}
