// Two key rings (issue 19): TOTP secrets move from MASTER_KEYS to ACCOUNT_KEYS. Each row now
// records which ring encrypted it beside the version it already records. Every secret stored
// so far was written under MASTER_KEYS, and so is any row an old process writes during a
// rolling deploy: hence the default. New code writes 'account'; `account-key migrate` moves the
// rest. (down() loses the ring: run it only while no row is under 'account'.)
import { Migration } from "@mikro-orm/migrations";

export class Migration20261205010000AccountKeyRing extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      alter table users add column totp_key_ring text not null default 'master'
        check (totp_key_ring in ('master', 'account'));
    `);
    // Counts per ring and version (the canary, status, rotation) and the move's scan.
    this.addSql(
      "create index users_totp_key_ring_version_idx on users (totp_key_ring, totp_key_version) where totp_secret is not null;",
    );
  }

  override async down(): Promise<void> {
    this.addSql("alter table users drop column totp_key_ring;");
  }
}
