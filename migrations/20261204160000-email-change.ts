// Adding or changing an account's email (issue 14): the new address waits in pending_email until
// its owner opens the confirmation link; the current address (if any) stays in use until then.
// An account born in Telegram may now hold an address without a password (it still signs in
// through Telegram): only a password needs an address, the one its reset link goes to.
import { Migration } from "@mikro-orm/migrations";

export class Migration20261204160000EmailChange extends Migration {
  override async up(): Promise<void> {
    this.addSql("alter table users add column pending_email text;");
    this.addSql(`do $$
      declare c text;
      begin
        select conname into c from pg_constraint
         where conrelid = 'users'::regclass and contype = 'c'
           and pg_get_constraintdef(oid) like '%(email IS NULL) = (password_hash IS NULL)%';
        if c is null then raise exception 'users: the check %s was not found; this migration expects the schema of the earlier ones', 'email and password together'; end if;
        execute format('alter table users drop constraint %I', c);
      end $$;`);
    this.addSql(
      "alter table users add constraint users_password_needs_email check (password_hash is null or email is not null);",
    );
  }

  override async down(): Promise<void> {
    this.addSql("alter table users drop constraint users_password_needs_email;");
    this.addSql("alter table users add check ((email is null) = (password_hash is null));");
    this.addSql("alter table users drop column pending_email;");
  }
}
