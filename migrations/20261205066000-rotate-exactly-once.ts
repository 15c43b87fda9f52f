// Sealed rotation once per request, newest paste wins (issue 19): a credential's material names
// the intake request that last wrote it and when that request was made. A redelivered request
// finds its own material and answers without rotating again; an older request, redelivered after
// a newer one replaced the key, is refused instead of putting its older material back. Neither
// column is indexed, so rotations stay HOT (20261204172000).
import { Migration } from "@mikro-orm/migrations";

export class Migration20261205066000RotateExactlyOnce extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `alter table exchange_credentials add column material_request_id text,
         add column material_requested_at timestamptz;`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(
      `alter table exchange_credentials drop column material_requested_at,
         drop column material_request_id;`,
    );
  }
}
