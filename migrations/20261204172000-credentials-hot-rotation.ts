// Master key rotation rewrites every credential row (issue 18). With an index on
// encryption_key_version no such update can be HOT: each one adds an entry to every index of
// the table. Without it, and with half of each page kept free (room for a new version of every
// row on it), rotation and other rewrites of a credential stay on their page and touch no index.
// The start-up canary's count per version becomes a scan of this table (small in practice; a
// million rows take a fraction of a second). Pages written before this keep their fill until
// their rows next move.
import { Migration } from "@mikro-orm/migrations";

export class Migration20261204172000CredentialsHotRotation extends Migration {
  override async up(): Promise<void> {
    this.addSql("drop index if exists exchange_credentials_version_idx;");
    this.addSql("alter table exchange_credentials set (fillfactor = 50);");
  }

  override async down(): Promise<void> {
    this.addSql("alter table exchange_credentials reset (fillfactor);");
    this.addSql(
      "create index exchange_credentials_version_idx on exchange_credentials (encryption_key_version);",
    );
  }
}
