// Alert copies lost with Redis are sent again (issue 18): the delivery log says which failures
// are for good (`final`: Telegram 400/403, a refused address, a job's last attempt), so the
// recovery never retries those, and it finds recent copies by time (the last day of the log).
import { Migration } from "@mikro-orm/migrations";

export class Migration20261205040000AlertCopiesFinal extends Migration {
  override async up(): Promise<void> {
    this.addSql("alter table alert_deliveries add column final boolean not null default false;");
    this.addSql("create index alert_deliveries_created_idx on alert_deliveries (created_at);");
  }

  override async down(): Promise<void> {
    this.addSql("drop index if exists alert_deliveries_created_idx;");
    this.addSql("alter table alert_deliveries drop column if exists final;");
  }
}
