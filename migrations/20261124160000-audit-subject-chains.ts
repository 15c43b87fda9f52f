// The trade audit log chains per subject from here on: a row's prev_hash is the row_hash of the
// same subject's previous row. Appends for different users then no longer queue behind one lock
// held through every commit; each user's history is still one unbroken, self-verifying chain.
// Rows already stored keep their single-chain links; `trade_audit_chain` records where the
// per-subject rule starts, and `audit verify` applies each rule to its side of that id.
import { Migration } from "@mikro-orm/migrations";

export class Migration20261124160000AuditSubjectChains extends Migration {
  override async up(): Promise<void> {
    // Keep appends out while the boundary is taken.
    this.addSql("lock table trade_audit_log in exclusive mode;");
    this.addSql(`
      create table trade_audit_chain (
        singleton boolean primary key default true check (singleton),
        subject_chains_from bigint not null check (subject_chains_from >= 1)
      );
    `);
    this.addSql(`
      insert into trade_audit_chain (subject_chains_from)
        select coalesce(max(id), 0) + 1 from trade_audit_log;
    `);
    this.addSql("revoke all on trade_audit_chain from warden_app;");
    this.addSql("grant select on trade_audit_chain to warden_app;");
    this.addSql(`
      create function trade_audit_chain_no_change() returns trigger
      language plpgsql as $fn$
      begin
        raise exception 'trade_audit_chain is fixed: % is not allowed', tg_op
          using errcode = 'insufficient_privilege';
      end;
      $fn$;
    `);
    this.addSql(`
      create trigger trade_audit_chain_fixed
        before update or delete on trade_audit_chain
        for each row execute function trade_audit_chain_no_change();
    `);

    // Every subject's first entry carries GENESIS_HASH, so prev_hash is unique per subject now:
    // two writers still can never both chain onto the same head (a fork), even past the lock.
    this.addSql("alter table trade_audit_log drop constraint trade_audit_log_prev_hash_key;");
    this.addSql(
      "create unique index trade_audit_log_subject_prev_idx on trade_audit_log (subject, prev_hash);",
    );

    // One round trip for the head: lock the subject's chain (hashtext collisions only make two
    // subjects share a lock), then read its head with a fresh snapshot. In READ COMMITTED each
    // statement of a volatile function takes its own snapshot, so the SELECT after the lock sees
    // every append committed before the lock was granted. The xid and isolation level let the
    // caller prove it runs inside one READ COMMITTED transaction.
    this.addSql(`
      create function trade_audit_chain_head(p_subject text, p_ip inet)
      returns table (id text, head text, occurred_at text, ip text, xid text, isolation text)
      language plpgsql volatile as $fn$
      begin
        perform pg_advisory_xact_lock(7100310, hashtext(p_subject));
        return query
          select nextval('trade_audit_log_id_seq')::text,
            (select l.row_hash from trade_audit_log l
              where l.subject = p_subject order by l.id desc limit 1),
            to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
            host(p_ip),
            pg_current_xact_id()::text,
            current_setting('transaction_isolation');
      end;
      $fn$;
    `);
    this.addSql("revoke all on function trade_audit_chain_head(text, inet) from public;");
    this.addSql("grant execute on function trade_audit_chain_head(text, inet) to warden_app;");
  }

  override async down(): Promise<void> {
    this.addSql("drop function if exists trade_audit_chain_head(text, inet);");
    this.addSql("drop index if exists trade_audit_log_subject_prev_idx;");
    this.addSql("drop table if exists trade_audit_chain;");
    this.addSql("drop function if exists trade_audit_chain_no_change();");
  }
}
