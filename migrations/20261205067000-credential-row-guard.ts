// Key material stays in the row the signer wrote it to (issue 19). api, bot and worker write
// exchange_credentials too (revoke, margin mode, paper keys, account deletion, the expiry mark),
// so warden_app keeps its table rights; a trigger refuses what none of those writes does and a
// compromised one would: copying a victim's Fernet token into the attacker's own row (Fernet
// binds no row, so a copied token decrypts) or moving a key to another user (the signer checks
// ownership against the row). Outside the signer, an insert is a paper key with no token, and
// an update keeps the row's user, venue, network, intake request and key version, may set a
// token or the wallet address to NULL only (revoke, deletion), and does not re-enable a key the
// signer disabled. warden_signer's rights, the
// table's owner (migrations) and superusers pass; none of the others can switch the trigger off
// (ALTER TABLE needs the owner, session_replication_role a superuser).
import { Migration } from "@mikro-orm/migrations";

const REFUSED = "using errcode = 'insufficient_privilege'";
const HINT =
  "'Only the signer (a warden_signer login) stores, replaces or moves exchange keys; api, bot and worker may only clear them.'";

export class Migration20261205067000CredentialRowGuard extends Migration {
  override async up(): Promise<void> {
    // Columns named here are the table's as of 20261205066000; a later column is writable by
    // warden_app unless it is added to this function.
    this.addSql(`
      create function exchange_credentials_guard() returns trigger
      language plpgsql as $fn$
      begin
        -- The owner runs migrations and may drop this trigger anyway: nothing to keep from it.
        if pg_has_role(current_user, (select relowner from pg_class where oid = tg_relid), 'usage') then
          return new;
        end if;
        if tg_op = 'INSERT' then
          if new.venue <> 'paper' then
            raise exception 'permission denied to insert a % key into exchange_credentials: only the signer stores exchange keys', new.venue
              ${REFUSED}, hint = ${HINT};
          end if;
          if new.api_key is not null or new.secret is not null or new.private_key is not null then
            raise exception 'permission denied to insert key material into exchange_credentials: only the signer stores exchange keys'
              ${REFUSED}, hint = ${HINT};
          end if;
          if new.intake_request_id is not null or new.material_request_id is not null
             or new.material_requested_at is not null then
            raise exception 'permission denied to insert an intake request into exchange_credentials: only the signer serves intake requests'
              ${REFUSED}, hint = ${HINT};
          end if;
          return new;
        end if;
        if new.id is distinct from old.id then
          raise exception 'permission denied to change exchange_credentials.id' ${REFUSED}, hint = ${HINT};
        elsif new.user_id is distinct from old.user_id then
          raise exception 'permission denied to change exchange_credentials.user_id: a key stays with the user who connected it'
            ${REFUSED}, hint = ${HINT};
        elsif new.venue is distinct from old.venue then
          raise exception 'permission denied to change exchange_credentials.venue' ${REFUSED}, hint = ${HINT};
        elsif new.testnet is distinct from old.testnet then
          raise exception 'permission denied to change exchange_credentials.testnet' ${REFUSED}, hint = ${HINT};
        elsif new.intake_request_id is distinct from old.intake_request_id then
          raise exception 'permission denied to change exchange_credentials.intake_request_id' ${REFUSED}, hint = ${HINT};
        elsif new.encryption_key_version is distinct from old.encryption_key_version then
          raise exception 'permission denied to change exchange_credentials.encryption_key_version' ${REFUSED}, hint = ${HINT};
        elsif old.disabled_at is not null and new.disabled_at is null then
          -- Re-verification disabled it (its venue scopes changed); only new material re-enables it.
          raise exception 'permission denied to re-enable a disabled key in exchange_credentials: only the signer does, with new key material'
            ${REFUSED}, hint = ${HINT};
        elsif new.api_key is not null and new.api_key is distinct from old.api_key then
          raise exception 'permission denied to set exchange_credentials.api_key: only the signer writes key material, others may only clear it'
            ${REFUSED}, hint = ${HINT};
        elsif new.secret is not null and new.secret is distinct from old.secret then
          raise exception 'permission denied to set exchange_credentials.secret: only the signer writes key material, others may only clear it'
            ${REFUSED}, hint = ${HINT};
        elsif new.private_key is not null and new.private_key is distinct from old.private_key then
          raise exception 'permission denied to set exchange_credentials.private_key: only the signer writes key material, others may only clear it'
            ${REFUSED}, hint = ${HINT};
        elsif new.wallet_address is not null and new.wallet_address is distinct from old.wallet_address then
          -- The Hyperliquid master wallet a key's agent signs for; a paper key's account.
          raise exception 'permission denied to set exchange_credentials.wallet_address: only the signer writes key material, others may only clear it'
            ${REFUSED}, hint = ${HINT};
        elsif new.material_request_id is distinct from old.material_request_id
              or new.material_requested_at is distinct from old.material_requested_at then
          -- Which intake request last wrote the material: a redelivery's answer depends on it.
          raise exception 'permission denied to change exchange_credentials.material_request_id' ${REFUSED}, hint = ${HINT};
        end if;
        return new;
      end;
      $fn$;
    `);
    // The signer's rights skip the function altogether (a WHEN needs no call into PL/pgSQL):
    // a master-key rotation rewrites every row, and stays as fast as without the guard.
    // Superusers hold every role's rights, so they skip it as well.
    this.addSql(`
      create trigger exchange_credentials_guard
        before insert or update on exchange_credentials
        for each row
        when (not pg_has_role(current_user, 'warden_signer', 'usage'))
        execute function exchange_credentials_guard();
    `);
  }

  override async down(): Promise<void> {
    this.addSql("drop trigger exchange_credentials_guard on exchange_credentials;");
    this.addSql("drop function exchange_credentials_guard();");
  }
}
