// Which database role this process logs in as, checked against its roles (issue 19): the signer
// publishes intake keys and claims sealed envelopes, which only warden_signer may; api, bot and
// worker log in as warden_app members, and in production a login with the signer's rights there,
// or a superuser, is refused, since a compromised api could then publish an intake key of its
// own or write exchange keys past the exchange_credentials guard.
import { ConfigError, type Role } from "./config";
import type { Sql } from "./vault-store";

export async function checkDatabaseLogin(
  sql: Sql,
  opts: { roles: readonly Role[]; production: boolean },
): Promise<void> {
  const [row] = await sql(
    `select current_user::text as login,
            (select rolsuper from pg_roles where rolname = current_user) as superuser,
            has_table_privilege('signer_intake_keys', 'INSERT')
              and has_table_privilege('signer_intake_claims', 'DELETE') as signer_rights`,
  );
  const login = String(row?.login);
  const signerRights = row?.signer_rights === true;
  if (opts.roles.includes("signer")) {
    if (!signerRights) {
      throw new ConfigError(
        "DATABASE_URL",
        `logs in as "${login}", which cannot publish intake keys or claim sealed keys: the ` +
          "signer role's login must be a member of warden_signer (GRANT warden_signer TO it)",
      );
    }
  } else if (opts.production && row?.superuser === true) {
    // A superuser passes every grant and the exchange_credentials guard: a compromised api
    // logged in as one could write key material or move a key to another user.
    throw new ConfigError(
      "DATABASE_URL",
      `logs in as "${login}", a superuser: the ${opts.roles.join(
        ", ",
      )} role must log in as a member of warden_app only (the owner's login runs migrations, through DATABASE_OWNER_URL)`,
    );
  } else if (opts.production && signerRights) {
    throw new ConfigError(
      "DATABASE_URL",
      `logs in as "${login}", which has the signer's rights (warden_signer): the ${opts.roles.join(
        ", ",
      )} role must log in as a member of warden_app only, never with the signer's login`,
    );
  }
}
