// More trade notices (issue 17): partial fills, SL/TP moved and liquidation warnings join the
// events a user can switch; each user's liquidation-warning distance, and which open trades
// are inside it now (so a warning goes once per crossing, not on every run).
import { Migration } from "@mikro-orm/migrations";

export class Migration20261204165000TradeNotices extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      "alter table notification_settings drop constraint if exists notification_settings_event_check;",
    );
    this.addSql(`
      alter table notification_settings add constraint notification_settings_event_check
        check (event in ('entry', 'exit', 'stop_loss', 'take_profit', 'liquidation',
                         'daily_summary', 'partial_fill', 'sl_tp_moved', 'liquidation_warning'));
    `);
    this.addSql(`
      create table liquidation_warning_settings (
        user_id bigint primary key references users (id) on delete cascade,
        distance_pct numeric(5, 2) not null check (distance_pct >= 0.1 and distance_pct <= 50),
        updated_at timestamptz not null default now()
      );
    `);
    this.addSql(
      "grant select, insert, update, delete on liquidation_warning_settings to warden_app;",
    );
    this.addSql(`
      create table liquidation_warnings (
        trade_id bigint primary key references trades (id) on delete cascade,
        warned_at timestamptz not null default now()
      );
    `);
    this.addSql("grant select, insert, delete on liquidation_warnings to warden_app;");
  }

  override async down(): Promise<void> {
    this.addSql("drop table if exists liquidation_warnings, liquidation_warning_settings;");
    this.addSql(
      "delete from notification_settings where event in ('partial_fill', 'sl_tp_moved', 'liquidation_warning');",
    );
    this.addSql(
      "alter table notification_settings drop constraint if exists notification_settings_event_check;",
    );
    this.addSql(`
      alter table notification_settings add constraint notification_settings_event_check
        check (event in ('entry', 'exit', 'stop_loss', 'take_profit', 'liquidation', 'daily_summary'));
    `);
  }
}
