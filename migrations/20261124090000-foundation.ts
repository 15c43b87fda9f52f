// Foundation: a small key/value table for service state that must survive restarts and be
// shared by every process (scan watermarks, pause switches), never secrets.
import { Migration } from "@mikro-orm/migrations";

export class Migration20261124090000Foundation extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table app_state (
        key text primary key check (length(key) between 1 and 200),
        value jsonb not null,
        updated_at timestamptz not null default now()
      );
    `);
  }

  override async down(): Promise<void> {
    this.addSql("drop table if exists app_state;");
  }
}
