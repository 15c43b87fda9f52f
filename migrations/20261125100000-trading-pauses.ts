// The kill switch's state (one row per pause: a global one with user_id null, or one per user)
// and `warden_backup`, a read-only role for pg_dump. Pauses live in PostgreSQL, not Redis: a
// Redis flush or failover must not silently resume trading, and every trade action reads the
// database anyway.
import { Migration } from "@mikro-orm/migrations";

export class Migration20261125100000TradingPauses extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table trading_pauses (
        id bigint generated always as identity primary key,
        user_id bigint references users (id) on delete cascade,
        reason text check (reason is null or length(reason) between 1 and 500),
        blocks_close boolean not null default false,
        paused_by jsonb not null,
        paused_at timestamptz not null default now(),
        constraint trading_pauses_one_per_scope unique nulls not distinct (user_id)
      );
    `);
    this.addSql("grant select, insert, update, delete on trading_pauses to warden_app;");
    this.addSql("grant usage, select on sequence trading_pauses_id_seq to warden_app;");

    // pg_dump needs SELECT on every table and sequence (warden_app lacks it on the audit log's
    // sequence, by design). The operator grants this NOLOGIN role to the backup's login role.
    this.addSql(`
      do $do$
      begin
        if not exists (select 1 from pg_roles where rolname = 'warden_backup') then
          begin
            create role warden_backup nologin;
          exception when duplicate_object or unique_violation then
            null;
          end;
        end if;
      end
      $do$;
    `);
    this.addSql("grant usage on schema public to warden_backup;");
    this.addSql("grant select on all tables in schema public to warden_backup;");
    this.addSql("grant select on all sequences in schema public to warden_backup;");
    this.addSql(
      "alter default privileges in schema public grant select on tables to warden_backup;",
    );
    this.addSql(
      "alter default privileges in schema public grant select on sequences to warden_backup;",
    );
  }

  override async down(): Promise<void> {
    this.addSql("drop table if exists trading_pauses;");
    this.addSql(
      "alter default privileges in schema public revoke select on tables from warden_backup;",
    );
    this.addSql(
      "alter default privileges in schema public revoke select on sequences from warden_backup;",
    );
    this.addSql("revoke all on all tables in schema public from warden_backup;");
    this.addSql("revoke all on all sequences in schema public from warden_backup;");
    this.addSql("revoke usage on schema public from warden_backup;");
  }
}
