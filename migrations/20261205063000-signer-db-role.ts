// The signer's own database role (issue 19): the api, bot and worker log in as members of
// `warden_app`, the signer as a member of `warden_signer`, which holds everything `warden_app`
// holds plus the writes only the signer makes. A compromised api or bot can then read the
// published intake public keys but not publish its own (so that keys pasted later would be
// sealed to it), and cannot delete or change an intake claim (so that a sealed envelope could
// be replayed).
//
// Who runs what on these tables (src/infra/intake-store.ts): api and bot only
// `currentIntakePublicKeys` (SELECT on signer_intake_keys); the signer `publishIntakeKeys`
// (INSERT … ON CONFLICT DO UPDATE, UPDATE), `createIntakeClaims` (INSERT, SELECT) and
// `purgeExpiredClaims` (DELETE). Nothing else reads the claims; backups dump as
// `warden_backup`, which keeps its SELECT.
import { Migration } from "@mikro-orm/migrations";

const SUPERUSER_HINT =
  "'As a superuser, before migrating: CREATE ROLE warden_signer NOLOGIN; GRANT warden_app TO warden_signer;'";

export class Migration20261205063000SignerDbRole extends Migration {
  override async up(): Promise<void> {
    // Roles are cluster-wide: another database on the server (or a concurrent migration of one)
    // may create the role or the membership at the same moment; losing that race is success.
    // A schema owner without CREATEROLE (production) cannot create either: the operator does,
    // as a superuser, first (README "Running in production", step 2), and the error says so.
    this.addSql(`
      do $do$
      begin
        if not exists (select 1 from pg_roles where rolname = 'warden_signer') then
          begin
            create role warden_signer nologin;
          exception
            when duplicate_object or unique_violation then
              null;
            when insufficient_privilege then
              raise exception 'role warden_signer does not exist and % may not create it', current_user
                using errcode = 'insufficient_privilege',
                      hint = ${SUPERUSER_HINT};
          end;
        end if;
      end
      $do$;
    `);
    // The signer does everything the other roles do on the shared tables (trades, the audit
    // log's INSERT, credentials, …), and so does every table a later migration creates through
    // warden_app's default privileges.
    this.addSql(`
      do $do$
      begin
        if not pg_has_role('warden_signer', 'warden_app', 'member') then
          begin
            grant warden_app to warden_signer;
          exception when others then
            if pg_has_role('warden_signer', 'warden_app', 'member') then
              null;
            elsif sqlstate = '42501' then
              raise exception 'warden_signer is not a member of warden_app and % may not grant it', current_user
                using errcode = 'insufficient_privilege',
                      hint = ${SUPERUSER_HINT};
            else
              raise;
            end if;
          end;
        end if;
      end
      $do$;
    `);
    // warden_app had INSERT and UPDATE (granted) and DELETE (default privileges) here.
    this.addSql("revoke all on signer_intake_keys from warden_app;");
    this.addSql("grant select on signer_intake_keys to warden_app;");
    this.addSql("grant insert, update on signer_intake_keys to warden_signer;");
    // Claims are the signer's alone: api, bot and worker neither read nor write them.
    this.addSql("revoke all on signer_intake_claims from warden_app;");
    this.addSql("grant select, insert, delete on signer_intake_claims to warden_signer;");
  }

  override async down(): Promise<void> {
    // The role and its membership stay: both are cluster-wide and other databases may use them.
    this.addSql("revoke all on signer_intake_keys from warden_signer;");
    this.addSql("revoke all on signer_intake_claims from warden_signer;");
    // What warden_app held before (the earlier migration's grants and the default privileges).
    this.addSql("grant select, insert, update, delete on signer_intake_keys to warden_app;");
    this.addSql("grant select, insert, update, delete on signer_intake_claims to warden_app;");
  }
}
