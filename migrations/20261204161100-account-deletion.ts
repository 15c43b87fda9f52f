// Account deletion anonymises (issue 15): the user row stays, without email, Telegram id,
// password or 2FA, so its findings, their deliveries, its security events and its audit trail
// keep pointing at it. `deleted_at` marks such a row, which may then carry no identity at all.
import { Migration } from "@mikro-orm/migrations";

export class Migration20261204161100AccountDeletion extends Migration {
  override async up(): Promise<void> {
    this.addSql("alter table users add column deleted_at timestamptz;");
    // The foundation's unnamed "an email or a Telegram id" check, found by its definition.
    this.addSql(`
      do $$ declare c text; begin
        select conname into c from pg_constraint
        where conrelid = 'users'::regclass and contype = 'c'
          and pg_get_constraintdef(oid) ~* 'email IS NOT NULL\\) OR \\(telegram_user_id IS NOT NULL';
        if c is null then raise exception 'users: the check %s was not found; this migration expects the schema of the earlier ones', 'an email or a Telegram id'; end if;
        execute format('alter table users drop constraint %I', c);
      end $$;
    `);
    this.addSql(`
      alter table users add constraint users_identity_check
        check (email is not null or telegram_user_id is not null or deleted_at is not null),
        add constraint users_deleted_anonymous_check
          check (deleted_at is null or (email is null and telegram_user_id is null
            and password_hash is null and totp_secret is null));
    `);
  }

  override async down(): Promise<void> {
    this.addSql(`
      alter table users drop constraint users_deleted_anonymous_check,
        drop constraint users_identity_check;
    `);
    this.addSql(
      "alter table users add constraint users_check2 check (email is not null or telegram_user_id is not null);",
    );
    this.addSql("alter table users drop column deleted_at;");
  }
}
