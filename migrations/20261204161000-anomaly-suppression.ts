// Every burst is on record (S8.3): a finding suppressed by the alert dedup names the alert it
// was folded into, and a delivered alert keeps how many were folded into the one before it.
import { Migration } from "@mikro-orm/migrations";

export class Migration20261204161000AnomalySuppression extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      alter table anomalies
        add column suppressed_into bigint references anomalies (id) on delete restrict,
        add column suppressed_before integer not null default 0 check (suppressed_before >= 0),
        add constraint anomalies_suppressed_into_check
          check (suppressed_into is null or delivery = 'suppressed');
    `);
    // The findings folded into one alert (the next alert counts them).
    this.addSql(
      "create index anomalies_suppressed_into_idx on anomalies (suppressed_into) where suppressed_into is not null;",
    );
  }

  override async down(): Promise<void> {
    this.addSql(
      "alter table anomalies drop column suppressed_into, drop column suppressed_before;",
    );
  }
}
