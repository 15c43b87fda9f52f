// daily_summary_settings: the hour of each user's daily summary and the day it was last sent.
import { type DailySummaryStore, DEFAULT_SUMMARY_HOUR } from "../domain/notifications";
import type { Sql } from "./vault-store";

export function createDailySummaryStore(sql: Sql): DailySummaryStore {
  return {
    async hourOf(userId) {
      const rows = await sql("select hour_utc from daily_summary_settings where user_id = ?", [
        userId,
      ]);
      return rows[0] ? Number(rows[0].hour_utc) : DEFAULT_SUMMARY_HOUR;
    },
    async setHour(userId, hourUtc) {
      await sql(
        `insert into daily_summary_settings (user_id, hour_utc) values (?, ?)
         on conflict (user_id) do update set hour_utc = excluded.hour_utc, updated_at = now()`,
        [userId, hourUtc],
      );
    },
    async claimDue(day, hourUtc) {
      // One statement: the conflict update's condition sees a row another run just wrote, so
      // two runs never both claim a user's day.
      const rows = await sql(
        `insert into daily_summary_settings (user_id, hour_utc, last_sent_on)
         select n.user_id, coalesce(d.hour_utc, ?), ?::date
         from notification_settings n
         left join daily_summary_settings d on d.user_id = n.user_id
         where n.event = 'daily_summary' and n.enabled
           and coalesce(d.hour_utc, ?) <= ?
           and (d.last_sent_on is null or d.last_sent_on < ?::date)
         on conflict (user_id) do update set last_sent_on = excluded.last_sent_on
           where daily_summary_settings.last_sent_on is null
              or daily_summary_settings.last_sent_on < excluded.last_sent_on
         returning user_id::text as user_id`,
        [DEFAULT_SUMMARY_HOUR, day, DEFAULT_SUMMARY_HOUR, hourUtc, day],
      );
      return rows.map((r) => r.user_id as string);
    },
  };
}
