// Two key rings (issue 19): TOTP secrets move from MASTER_KEYS to ACCOUNT_KEYS. Each row now
// records which ring encrypted it beside the version it already records. Every secret stored
// so far was written under MASTER_KEYS, and so is any row an old process writes during a
// rolling deploy: hence the default. New code writes 'account'; `account-key migrate` moves the
// rest. down() refuses while any secret is under 'account': dropping the column would leave
// those rows to be read under MASTER_KEYS, which cannot open them.
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
    this.addSql(`
      do $$
      begin
        if exists (select 1 from users where totp_key_ring = 'account' and totp_secret is not null) then
          raise exception 'TOTP secrets are under ACCOUNT_KEYS: move them back before undoing this migration';
        end if;
      end $$;
    `);
    this.addSql("alter table users drop column totp_key_ring;");
  }
}
