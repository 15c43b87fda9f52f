// Login roles that are members of warden_app and warden_signer, as an operator would set them up
// for the service, so tests can run as the application's and the signer's database roles.
import type pg from "pg";

/** A login in `warden_app`: what api, bot and worker log in as. */
export const APP_LOGIN = "warden_test_app";
/** A login in `warden_signer`: what the signer logs in as. */
export const SIGNER_LOGIN = "warden_test_signer";

/**
 * A login role in `warden_app`, as an operator would set one up. Roles are cluster-wide and
 * other runs may create or grant it at the same moment: tolerate both.
 */
export function ensureAppLogin(client: pg.Client): Promise<void> {
  return ensureLogin(client, APP_LOGIN, "warden_app");
}

/**
 * A login role in `warden_signer` (created by the migrations, like warden_app), as an operator
 * would set one up for the signer's unit.
 */
export function ensureSignerLogin(client: pg.Client): Promise<void> {
  return ensureLogin(client, SIGNER_LOGIN, "warden_signer");
}

/** A schema owner's login as in production: no superuser, no CREATEROLE, member of nothing. */
export const OWNER_LOGIN = "warden_test_owner";

export function ensureOwnerLogin(client: pg.Client): Promise<void> {
  return ensureLogin(client, OWNER_LOGIN);
}

/** `url` (a superuser's, as the tests' databases are) logging in as `login` instead. */
export function loginUrl(url: string, login: string): string {
  const u = new URL(url);
  u.username = login;
  u.password = "";
  return u.toString();
}

async function ensureLogin(client: pg.Client, login: string, role?: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await client.query(`do $$ begin
          if not exists (select 1 from pg_roles where rolname = '${login}') then
            create role ${login} login;
          end if;
        exception when duplicate_object or unique_violation then null;
        end $$`);
      if (role === undefined) return;
      const member = await client.query("select pg_has_role($1, $2, 'member') as member", [
        login,
        role,
      ]);
      if (!member.rows[0]?.member) await client.query(`grant ${role} to ${login}`);
      return;
    } catch (err) {
      if (attempt >= 10 || !/concurrently|duplicate key/.test((err as Error).message)) throw err;
      await new Promise((r) => setTimeout(r, 50 + Math.random() * 100));
    }
  }
}
