// Evidence outlives everything (S8.1, S8.3): findings, their deliveries and the security events
// keep their rows when a user row goes, and the application role cannot delete or truncate any
// of them (nor the audit log, revoked in its own migration).
import { Migration } from "@mikro-orm/migrations";

export class Migration20261204120000EvidenceOutlivesUsers extends Migration {
  override async up(): Promise<void> {
    // A user with findings cannot be deleted (RESTRICT); an account is retired by anonymising
    // its row, never by removing it with its evidence.
    this.addSql(`
      alter table anomalies drop constraint anomalies_user_id_fkey,
        add constraint anomalies_user_id_fkey foreign key (user_id)
          references users (id) on delete restrict;
    `);
    this.addSql(`
      alter table alert_deliveries drop constraint alert_deliveries_anomaly_id_fkey,
        add constraint alert_deliveries_anomaly_id_fkey foreign key (anomaly_id)
          references anomalies (id) on delete restrict;
    `);
    // Security events of a user row that goes (a Telegram-only account merged into a linked
    // one) stay, without the id (the foundation's "set null"); only the owner may change that.
    this.addSql(`
      do $$ begin
        if exists (select 1 from pg_roles where rolname = 'warden_app') then
          revoke delete, truncate on security_events, anomalies, alert_deliveries, trade_audit_log
            from warden_app;
        end if;
      end $$;
    `);
  }

  override async down(): Promise<void> {
    this.addSql(`
      alter table anomalies drop constraint anomalies_user_id_fkey,
        add constraint anomalies_user_id_fkey foreign key (user_id)
          references users (id) on delete cascade;
    `);
    this.addSql(`
      alter table alert_deliveries drop constraint alert_deliveries_anomaly_id_fkey,
        add constraint alert_deliveries_anomaly_id_fkey foreign key (anomaly_id)
          references anomalies (id) on delete cascade;
    `);
    this.addSql(`
      do $$ begin
        if exists (select 1 from pg_roles where rolname = 'warden_app') then
          grant delete on security_events to warden_app;
        end if;
      end $$;
    `);
  }
}
