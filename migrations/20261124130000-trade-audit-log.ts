// The append-only trade audit log (S8.1): a hash-chained table that a trigger keeps append-only
// for everyone, and the application role `warden_app`, which may only INSERT and SELECT it.
import { Migration } from "@mikro-orm/migrations";

const HEX64 = "'^[0-9a-f]{64}$'";

export class Migration20261124130000TradeAuditLog extends Migration {
  override async up(): Promise<void> {
    // trade_id has no foreign key: an entry must outlive anything that happens to the trade
    // row, and a failed open has no trade at all. `prev_hash` is unique as well as `row_hash`,
    // so two writers can never both chain onto the same head (a fork) even if one of them read
    // a stale head. occurred_at is set by the application (the hash covers the stored value).
    this.addSql(`
      create table trade_audit_log (
        id bigserial primary key,
        occurred_at timestamptz not null default now(),
        subject text not null check (subject ~ ${HEX64}),
        action text not null check (action in ('open', 'modify', 'close')),
        trade_id bigint,
        venue text not null check (length(venue) between 1 and 40),
        symbol text not null check (length(symbol) between 1 and 40),
        details jsonb not null default '{}'::jsonb check (jsonb_typeof(details) = 'object'),
        source text not null check (source in ('telegram', 'api', 'system')),
        ip inet check (ip is null or masklen(ip) = case family(ip) when 4 then 32 else 128 end),
        outcome text not null check (outcome in ('ok', 'failed', 'refused')),
        prev_hash text not null unique check (prev_hash ~ ${HEX64}),
        row_hash text not null unique check (row_hash ~ ${HEX64})
      );
    `);
    this.addSql("create index trade_audit_log_subject_idx on trade_audit_log (subject, id);");

    // Append-only for everyone, the owner and superusers included. (A superuser can still
    // switch triggers off; that is what the hash chain and `audit verify` are for.)
    this.addSql(`
      create function trade_audit_log_append_only() returns trigger
      language plpgsql as $fn$
      begin
        raise exception 'trade_audit_log is append-only: % is not allowed', tg_op
          using errcode = 'insufficient_privilege',
                hint = 'Audit entries are never changed or removed; append a new entry instead.';
      end;
      $fn$;
    `);
    this.addSql(`
      create trigger trade_audit_log_no_update_delete
        before update or delete on trade_audit_log
        for each row execute function trade_audit_log_append_only();
    `);
    this.addSql(`
      create trigger trade_audit_log_no_truncate
        before truncate on trade_audit_log
        for each statement execute function trade_audit_log_append_only();
    `);

    // The application role. Roles are cluster-wide, so another database on the same server (or
    // a concurrent migration of one) may have created it already: check first, and treat losing
    // the race as success. 42710 = duplicate_object, 23505 = unique_violation on pg_authid.
    this.addSql(`
      do $do$
      begin
        if not exists (select 1 from pg_roles where rolname = 'warden_app') then
          begin
            create role warden_app nologin;
          exception when duplicate_object or unique_violation then
            null;
          end;
        end if;
      end
      $do$;
    `);
    this.addSql("grant usage on schema public to warden_app;");
    this.addSql(
      "grant select, insert, update, delete on all tables in schema public to warden_app;",
    );
    this.addSql("grant usage, select on all sequences in schema public to warden_app;");
    // Tables and sequences later migrations create (as this same owner) get the same grants;
    // a later append-only table must revoke as below in its own migration.
    this.addSql(`
      alter default privileges in schema public
        grant select, insert, update, delete on tables to warden_app;
    `);
    this.addSql(`
      alter default privileges in schema public
        grant usage, select on sequences to warden_app;
    `);
    this.addSql(`
      revoke update, delete, truncate, references, trigger on trade_audit_log from warden_app;
    `);
    this.addSql("revoke all on sequence trade_audit_log_id_seq from warden_app;");
    // USAGE lets append() take the id (nextval) before hashing; no SELECT/UPDATE (setval).
    this.addSql("grant usage on sequence trade_audit_log_id_seq to warden_app;");
  }

  override async down(): Promise<void> {
    // The role stays: it is cluster-wide and other databases may use it.
    this.addSql("drop table if exists trade_audit_log;");
    this.addSql("drop function if exists trade_audit_log_append_only();");
  }
}
