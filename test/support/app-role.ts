// Login roles that are members of warden_app and warden_signer, as an operator would set them up
// for the service, so tests can run as the application's and the signer's database roles.
import type { MikroORM } from "@mikro-orm/postgresql";
import pg from "pg";
import { createOrm } from "../../src/infra/database";

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

/** One database seen by the owner and by both service logins, as the role tests need it. */
export interface RoleConnections {
  /** The database's superuser (the schema owner in these tests). */
  owner: pg.Client;
  /** A warden_app login: what a compromised api, bot or worker could send. */
  app: pg.Client;
  appOrm: MikroORM;
  signerOrm: MikroORM;
  close(): Promise<void>;
}

/** Makes sure both logins exist, then connects as the owner, as warden_app and as warden_signer. */
export async function connectAsRoles(url: string): Promise<RoleConnections> {
  const owner = new pg.Client({ connectionString: url });
  await owner.connect();
  await ensureAppLogin(owner);
  await ensureSignerLogin(owner);
  const app = new pg.Client({ connectionString: loginUrl(url, APP_LOGIN) });
  await app.connect();
  const appOrm = await createOrm({ url: loginUrl(url, APP_LOGIN), poolMax: 2 });
  const signerOrm = await createOrm({ url: loginUrl(url, SIGNER_LOGIN), poolMax: 2 });
  return {
    owner,
    app,
    appOrm,
    signerOrm,
    async close() {
      await app.end();
      await owner.end();
      await appOrm.close();
      await signerOrm.close();
    },
  };
}
