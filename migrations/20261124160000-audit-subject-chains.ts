// The trade audit log chains per subject from here on: a row's prev_hash is the row_hash of the
// same subject's previous row. Appends for different users then no longer queue behind one lock
// held through every commit; each user's history is still one unbroken, self-verifying chain,
// kept linear by a unique index (an append that loses the race for a head retries).
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
    // two writers can never both chain onto the same head (a fork). This index is what keeps
    // each chain linear: appends take no lock (src/infra/audit-log.ts).
    this.addSql("alter table trade_audit_log drop constraint trade_audit_log_prev_hash_key;");
    this.addSql(
      "create unique index trade_audit_log_subject_prev_idx on trade_audit_log (subject, prev_hash);",
    );
  }

  override async down(): Promise<void> {
    this.addSql("drop index if exists trade_audit_log_subject_prev_idx;");
    this.addSql("drop table if exists trade_audit_chain;");
    this.addSql("drop function if exists trade_audit_chain_no_change();");
  }
}
