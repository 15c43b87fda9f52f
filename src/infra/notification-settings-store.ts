// The notification_settings table: one row per (user, event) the user changed; the defaults
// stand for the rest.
import {
  defaultSettings,
  type EventSetting,
  isNoticeEvent,
  type NotificationSettingsStore,
} from "../domain/notifications";
import type { Sql } from "./vault-store";

export function createNotificationSettingsStore(sql: Sql): NotificationSettingsStore & {
  contactOf(userId: string): Promise<{ chatId: number | null; email: string | null }>;
} {
  return {
    async get(userId) {
      const all = defaultSettings();
      const rows = await sql(
        "select event, enabled, telegram, email, web from notification_settings where user_id = ?",
        [userId],
      );
      for (const r of rows) {
        const event = String(r.event);
        if (!isNoticeEvent(event)) continue;
        all[event] = {
          enabled: Boolean(r.enabled),
          telegram: Boolean(r.telegram),
          email: Boolean(r.email),
          web: Boolean(r.web),
        };
      }
      return all;
    },
    async set(userId, event, s: EventSetting) {
      await sql(
        `insert into notification_settings (user_id, event, enabled, telegram, email, web)
         values (?, ?, ?, ?, ?, ?) on conflict (user_id, event) do update set
           enabled = excluded.enabled, telegram = excluded.telegram, email = excluded.email,
           web = excluded.web, updated_at = now()`,
        [userId, event, s.enabled, s.telegram, s.email, s.web],
      );
    },
    async contactOf(userId) {
      // An address is used only once its owner confirmed it: no notice mail goes to an
      // unconfirmed one (it counts as no address).
      const rows = await sql(
        `select telegram_user_id,
                case when email_confirmed_at is not null then email end as email
           from users where id = ?`,
        [userId],
      );
      const r = rows[0];
      return {
        chatId: r?.telegram_user_id == null ? null : Number(r.telegram_user_id),
        email: r?.email == null ? null : String(r.email),
      };
    },
  };
}
