// liquidation_warning_settings (each user's warning distance) and liquidation_warnings (the open
// trades warned since their mark last came within it).
import {
  DEFAULT_LIQUIDATION_WARNING_PCT,
  type LiquidationWarningStore,
} from "../domain/trading/liquidation-warnings";
import type { Sql } from "./vault-store";

export function createLiquidationWarningStore(sql: Sql): LiquidationWarningStore {
  return {
    async distanceOf(userId) {
      const rows = await sql(
        "select distance_pct::float8 as pct from liquidation_warning_settings where user_id = ?",
        [userId],
      );
      return rows[0] ? Number(rows[0].pct) : DEFAULT_LIQUIDATION_WARNING_PCT;
    },
    async setDistance(userId, pct) {
      await sql(
        `insert into liquidation_warning_settings (user_id, distance_pct) values (?, ?)
         on conflict (user_id) do update set distance_pct = excluded.distance_pct, updated_at = now()`,
        [userId, pct],
      );
    },
    async markWarned(tradeId) {
      // One statement: of two concurrent runs, only the one whose insert landed warns.
      const rows = await sql(
        "insert into liquidation_warnings (trade_id) values (?) on conflict do nothing returning trade_id",
        [tradeId],
      );
      return rows.length === 1;
    },
    async clearWarned(tradeId) {
      await sql("delete from liquidation_warnings where trade_id = ?", [tradeId]);
    },
  };
}
