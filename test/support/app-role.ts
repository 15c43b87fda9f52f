// A login role that is a member of warden_app, as an operator would set one up for the service,
// so tests can run as the application's database role.
import type pg from "pg";

export const APP_LOGIN = "warden_test_app";

/**
 * A login role in `warden_app`, as an operator would set one up. Roles are cluster-wide and
 * other runs may create or grant it at the same moment: tolerate both.
 */
export async function ensureAppLogin(client: pg.Client): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await client.query(`do $$ begin
          if not exists (select 1 from pg_roles where rolname = '${APP_LOGIN}') then
            create role ${APP_LOGIN} login;
          end if;
        exception when duplicate_object or unique_violation then null;
        end $$`);
      const member = await client.query(
        "select pg_has_role($1, 'warden_app', 'member') as member",
        [APP_LOGIN],
      );
      if (!member.rows[0]?.member) await client.query(`grant warden_app to ${APP_LOGIN}`);
      return;
    } catch (err) {
      if (attempt >= 10 || !/concurrently|duplicate key/.test((err as Error).message)) throw err;
      await new Promise((r) => setTimeout(r, 50 + Math.random() * 100));
    }
  }
}
