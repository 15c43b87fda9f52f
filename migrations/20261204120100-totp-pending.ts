// A pending TOTP secret (enrolment started, not confirmed) lives 10 minutes and allows five
// confirmation attempts: when it was made and how many attempts it has had.
import { Migration } from "@mikro-orm/migrations";

export class Migration20261204120100TotpPending extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      alter table users
        add column totp_pending_at timestamptz,
        add column totp_pending_attempts integer not null default 0
          check (totp_pending_attempts >= 0);
    `);
    // Secrets pending from before this migration never expire otherwise: they are discarded.
    this.addSql(`
      update users set totp_secret = null, totp_key_version = null
      where totp_enabled_at is null and totp_secret is not null;
    `);
  }

  override async down(): Promise<void> {
    this.addSql(
      "alter table users drop column totp_pending_at, drop column totp_pending_attempts;",
    );
  }
}
