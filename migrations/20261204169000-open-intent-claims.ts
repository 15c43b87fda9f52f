// The recovery job's claim on an open intent (review of issue 18): a run sets `claimed_until`
// in the same UPDATE that selects the intent, so two runs (or two workers) never work on the
// same intent at once; a run that dies leaves a lease that simply runs out.
import { Migration } from "@mikro-orm/migrations";

export class Migration20261204169000OpenIntentClaims extends Migration {
  override async up(): Promise<void> {
    this.addSql("alter table open_intents add column claimed_until timestamptz;");
  }

  override async down(): Promise<void> {
    this.addSql("alter table open_intents drop column claimed_until;");
  }
}
