// Per key (issue 16): the margin mode Warden sets on Hyperliquid (cross or isolated, the user's
// choice), and the key's expiry as its venue reports it, with the expiry a warning was last sent
// for, so a user is warned once per key and expiry even with several workers.
import { Migration } from "@mikro-orm/migrations";

export class Migration20261204163000CredentialsMarginModeExpiry extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      alter table exchange_credentials
        add column margin_mode text not null default 'cross'
          check (margin_mode in ('cross', 'isolated')),
        add column expires_at timestamptz,
        add column expiry_warned_for timestamptz;
    `);
  }

  override async down(): Promise<void> {
    this.addSql(`
      alter table exchange_credentials
        drop column expiry_warned_for, drop column expires_at, drop column margin_mode;
    `);
  }
}
