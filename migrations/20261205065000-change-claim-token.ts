// Leases of modify and close claims (issue 19) get a holder: `claim_token`, set when an attempt
// claims or retakes the key. The holder renews its lease while its venue call runs, and only the
// holder may write the key's result, so an attempt whose lease ran out (and was retaken) never
// records a second change.
import { Migration } from "@mikro-orm/migrations";

export class Migration20261205065000ChangeClaimToken extends Migration {
  override async up(): Promise<void> {
    this.addSql("alter table trade_requests add column claim_token uuid;");
  }

  override async down(): Promise<void> {
    this.addSql("alter table trade_requests drop column claim_token;");
  }
}
