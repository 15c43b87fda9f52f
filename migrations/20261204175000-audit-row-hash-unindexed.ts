// The trade audit log's row_hash loses its UNIQUE constraint (issue 18): no query looks a row up
// by its row_hash (EXPLAIN: the head, list, export and verifier reads use (subject, id) and the
// primary key), and it was the append's fourth index, on a 64-character key, maintained on every
// trade action. Nothing is weakened: a fork is refused by the unique (subject, prev_hash) index,
// and two honest rows cannot share a row_hash because the hash covers the (unique) id. The
// append-only trigger, the CHECKs and the app role's INSERT/SELECT-only grant are unchanged.
import { Migration } from "@mikro-orm/migrations";

export class Migration20261204175000AuditRowHashUnindexed extends Migration {
  override async up(): Promise<void> {
    this.addSql("alter table trade_audit_log drop constraint trade_audit_log_row_hash_key;");
  }

  override async down(): Promise<void> {
    this.addSql(
      "alter table trade_audit_log add constraint trade_audit_log_row_hash_key unique (row_hash);",
    );
  }
}
