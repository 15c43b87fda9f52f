// Trade notification settings: per user and event, on/off and the channels (Telegram, email,
// web), the daily summary's hour. Only the events a user changed have a row; the application's defaults cover the rest.
import { Migration } from "@mikro-orm/migrations";

export class Migration20261204140000NotificationSettings extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table notification_settings (
        user_id bigint not null references users (id) on delete cascade,
        event text not null check (event in ('entry', 'exit', 'stop_loss', 'take_profit', 'liquidation', 'daily_summary')),
        enabled boolean not null,
        telegram boolean not null,
        email boolean not null,
        web boolean not null,
        updated_at timestamptz not null default now(),
        primary key (user_id, event)
      );
    `);
    this.addSql("grant select, insert, update, delete on notification_settings to warden_app;");
    // The daily summary's hour (UTC; 20 until chosen) and the day it was last sent, so each
    // day's summary goes once even with several workers or a run that came late.
    this.addSql(`
      create table daily_summary_settings (
        user_id bigint primary key references users (id) on delete cascade,
        hour_utc smallint not null check (hour_utc between 0 and 23),
        last_sent_on date,
        updated_at timestamptz not null default now()
      );
    `);
    this.addSql("grant select, insert, update, delete on daily_summary_settings to warden_app;");
  }

  override async down(): Promise<void> {
    this.addSql("drop table if exists daily_summary_settings, notification_settings;");
  }
}
