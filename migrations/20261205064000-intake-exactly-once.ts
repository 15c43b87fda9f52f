// Sealed intake once per request (issue 19): a key stored by the signer names the intake request
// that brought it (unique), in the same insert, so that a redelivered or concurrently retried job
// finds the key its request stored instead of storing it again; the claim of a request keeps the
// answer the request got, which its redelivery gives again.
import { Migration } from "@mikro-orm/migrations";

export class Migration20261205064000IntakeExactlyOnce extends Migration {
  override async up(): Promise<void> {
    this.addSql("alter table exchange_credentials add column intake_request_id text;");
    // Partial: keys connected directly (and every older key) have none. The column is never
    // updated, so rewrites of a credential (rotation) stay HOT.
    this.addSql(
      `create unique index exchange_credentials_intake_request_idx
         on exchange_credentials (intake_request_id) where intake_request_id is not null;`,
    );
    this.addSql("alter table signer_intake_claims add column answer jsonb;");
    // Only the signer records answers (20261205063000: warden_app holds nothing on the claims).
    this.addSql("grant update (answer) on signer_intake_claims to warden_signer;");
  }

  override async down(): Promise<void> {
    // Dropping the column drops its column grant with it.
    this.addSql("alter table signer_intake_claims drop column answer;");
    this.addSql("drop index exchange_credentials_intake_request_idx;");
    this.addSql("alter table exchange_credentials drop column intake_request_id;");
  }
}
