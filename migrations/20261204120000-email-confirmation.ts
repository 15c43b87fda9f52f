// Email addresses are confirmed before Warden mails them alerts or notices: the time the owner
// opened the confirmation link. Addresses registered before this migration count as confirmed
// (they signed in with them already).
import { Migration } from "@mikro-orm/migrations";

export class Migration20261204120000EmailConfirmation extends Migration {
  override async up(): Promise<void> {
    this.addSql("alter table users add column email_confirmed_at timestamptz;");
    this.addSql("update users set email_confirmed_at = created_at where email is not null;");
  }
}
