// The kill switch's state in PostgreSQL (table trading_pauses): read by every trade action, so
// a pause set by any process (CLI, an admin in the bot) applies to the next action everywhere.
import type { ActivePause, PauseActor, PauseStore } from "../domain/trading/pause";
import type { sqlOf } from "./database";

type Sql = ReturnType<typeof sqlOf>;

export const PAUSE_COLUMNS = "user_id::text as user_id, reason, blocks_close, paused_at, paused_by";

export function toPause(r: Record<string, unknown>): ActivePause {
  return {
    userId: (r.user_id as string | null) ?? null,
    reason: (r.reason as string | null) ?? null,
    blocksClose: r.blocks_close === true,
    pausedAt: new Date(r.paused_at as string),
    pausedBy: (typeof r.paused_by === "string"
      ? JSON.parse(r.paused_by)
      : r.paused_by) as PauseActor,
  };
}

export function createPauseStore(sql: Sql): PauseStore {
  const userOf = (t: Parameters<PauseStore["set"]>[0]) => (t.scope === "user" ? t.userId : null);
  return {
    async activeFor(userId) {
      const rows = await sql(
        `select ${PAUSE_COLUMNS} from trading_pauses where user_id is null or user_id = ?`,
        [userId],
      );
      return rows.map(toPause);
    },
    async set(target, p) {
      const userId = userOf(target);
      if (userId !== null) {
        const found = await sql("select 1 from users where id = ?", [userId]);
        if (found.length === 0) return "no_user";
      }
      const rows = await sql(
        `insert into trading_pauses (user_id, reason, blocks_close, paused_by)
         values (?, ?, ?, ?::jsonb)
         on conflict on constraint trading_pauses_one_per_scope do update
           set reason = excluded.reason, blocks_close = excluded.blocks_close,
               paused_by = excluded.paused_by, paused_at = now()
         returning (xmax <> 0) as updated`,
        [userId, p.reason, p.blocksClose, JSON.stringify(p.by)],
      );
      return rows[0]?.updated ? "updated" : "created";
    },
    async clear(target) {
      const rows = await sql(
        "delete from trading_pauses where user_id is not distinct from ?::bigint returning id",
        [userOf(target)],
      );
      return rows.length > 0;
    },
    async list() {
      const rows = await sql(
        `select ${PAUSE_COLUMNS} from trading_pauses order by user_id nulls first`,
      );
      return rows.map(toPause);
    },
  };
}
