// PostgreSQL through MikroORM 6: ORM options, database creation for development and tests,
// and migrations serialised by an advisory lock so concurrent starts do not race.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { checkServerIdentity } from "node:tls";
import { type EntitySchema, MikroORM, type Options } from "@mikro-orm/postgresql";
import pg from "pg";
import { migrationsList } from "../../migrations";
import type { Logger } from "./logger";

export interface DatabaseOptions {
  url: string;
  /** Path of a PEM CA bundle; when set, TLS with full certificate verification is required. */
  sslCa?: string | undefined;
  entities?: EntitySchema[];
  logger?: Logger;
  poolMax?: number;
}

/**
 * TLS settings for node-postgres (S9.2): once a CA is given, the server's certificate must chain
 * to it and name `host`, the host connected to; verification is never turned off. The name check
 * is explicit because node-postgres sets no TLS servername for an IP address, and Node then
 * checks the certificate against "localhost" instead of that IP.
 */
export function sslOptions(sslCa: string | undefined, host: string): pg.ConnectionConfig["ssl"] {
  if (sslCa === undefined) return undefined;
  const expected = host === "" ? "localhost" : host.replace(/^\[(.*)\]$/, "$1");
  return {
    ca: readFileSync(sslCa, "utf8"),
    rejectUnauthorized: true,
    checkServerIdentity: (_servername, cert) => checkServerIdentity(expected, cert),
  };
}

/**
 * A node-postgres client configuration from a database URL, read exactly as MikroORM reads it
 * (host, port, user, password, database). Query parameters are ignored on purpose: given as a
 * `connectionString`, `?sslmode=disable`, `?sslmode=no-verify` or `?host=` would override the TLS
 * settings and the host the configuration checked.
 */
export function pgClientConfig(url: string, sslCa: string | undefined): pg.ClientConfig {
  const u = new URL(url);
  return {
    host: decodeURIComponent(u.hostname) || undefined,
    port: u.port ? Number(u.port) : undefined,
    user: decodeURIComponent(u.username) || undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    database: decodeURIComponent(u.pathname.replace(/^\//, "")) || undefined,
    ssl: sslOptions(sslCa, u.hostname),
  };
}

/**
 * Environment for libpq tools (pg_dump, pg_restore, psql) that mirrors our own connections: with
 * DATABASE_SSL_CA, TLS with the certificate verified against that CA and the host name checked
 * (verify-full). Add it to the child's environment; the configuration refuses a database URL whose
 * own sslmode/sslrootcert would override these.
 */
export function pgToolEnv(config: { databaseSslCa: string | undefined }): Record<string, string> {
  if (config.databaseSslCa === undefined) return {};
  return { PGSSLMODE: "verify-full", PGSSLROOTCERT: config.databaseSslCa };
}

export function ormOptions(opts: DatabaseOptions): Options {
  const ssl = sslOptions(opts.sslCa, new URL(opts.url).hostname);
  return {
    clientUrl: opts.url,
    entities: opts.entities ?? [],
    discovery: { warnWhenNoEntities: false },
    driverOptions: ssl ? { connection: { ssl } } : {},
    pool: { min: 0, max: opts.poolMax ?? 10 },
    migrations: {
      migrationsList,
      tableName: "mikro_orm_migrations",
      transactional: true,
      allOrNothing: true,
      snapshot: false,
    },
    debug: false,
    allowGlobalContext: false,
    // Queries are logged by us, scrubbed, if ever; the ORM's logger would print parameters.
    logger: () => {},
  };
}

export async function createOrm(opts: DatabaseOptions): Promise<MikroORM> {
  return MikroORM.init(ormOptions(opts));
}

/** Connection to the `postgres` maintenance database of the same server. */
function maintenanceClient(url: string, sslCa: string | undefined): pg.Client {
  const u = new URL(url);
  u.pathname = "/postgres";
  return new pg.Client(pgClientConfig(u.toString(), sslCa));
}

export function databaseName(url: string): string {
  const name = decodeURIComponent(new URL(url).pathname.replace(/^\//, ""));
  if (!/^[A-Za-z0-9_-]{1,63}$/.test(name)) {
    throw new Error(`DATABASE_URL: database name "${name}" must be 1-63 letters, digits, _ or -`);
  }
  return name;
}

/** Creates the database named in `url` if it does not exist. Returns true when it created it. */
export async function ensureDatabase(url: string, sslCa?: string): Promise<boolean> {
  const name = databaseName(url);
  const client = maintenanceClient(url, sslCa);
  await client.connect();
  try {
    const found = await client.query("select 1 from pg_database where datname = $1", [name]);
    if (found.rowCount) return false;
    try {
      await client.query(`create database "${name}"`);
    } catch (err) {
      // Another process created it between our check and our create: PostgreSQL says so as
      // 42P04 (duplicate_database) or, when both creates run at once, as a unique violation on
      // pg_database's name index (23505). Either way, it counts only once the database is there.
      const code = (err as { code?: string }).code;
      if (code !== "42P04" && code !== "23505") throw err;
      const now = await client.query("select 1 from pg_database where datname = $1", [name]);
      if (!now.rowCount) throw err;
      return false;
    }
    return true;
  } finally {
    await client.end();
  }
}

const MIGRATION_LOCK_KEY = 7_100_310_002; // arbitrary, stable: "Warden migrations"

/** Applies pending migrations; returns the names applied. Safe to call from many processes. */
export async function migrate(orm: MikroORM, url: string, sslCa?: string): Promise<string[]> {
  const lock = new pg.Client(pgClientConfig(url, sslCa));
  await lock.connect();
  try {
    await lock.query("select pg_advisory_lock($1)", [MIGRATION_LOCK_KEY]);
    const applied = await orm.getMigrator().up();
    return applied.map((m) => m.name);
  } finally {
    await lock.query("select pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY]).catch(() => {});
    await lock.end();
  }
}

export async function pendingMigrations(orm: MikroORM): Promise<string[]> {
  return (await orm.getMigrator().getPendingMigrations()).map((m) => m.name);
}

/** Plain SQL with `?` placeholders on the ORM's pool, for set-based work the ORM does not do. */
export function sqlOf(orm: MikroORM) {
  return (sql: string, params: unknown[] = []) =>
    orm.em.getConnection().execute<Array<Record<string, unknown>>>(sql, params, "all");
}

/**
 * Creates the database when allowed (development, tests) and applies pending migrations as
 * the owner. `ownerUrl` is the role that owns the schema; the service itself may log in as a
 * role with fewer rights (DATABASE_URL), which could not run migrations.
 */
export async function prepareDatabase(opts: {
  url: string;
  ownerUrl?: string | undefined;
  sslCa?: string | undefined;
  create: boolean;
}): Promise<{ created: boolean; applied: string[] }> {
  const ownerUrl = opts.ownerUrl ?? opts.url;
  const created = opts.create ? await ensureDatabase(ownerUrl, opts.sslCa) : false;
  const orm = await createOrm({ url: ownerUrl, sslCa: opts.sslCa, poolMax: 2 });
  try {
    return { created, applied: await migrate(orm, ownerUrl, opts.sslCa) };
  } finally {
    await orm.close();
  }
}

/**
 * Like `sqlOf`, but on MikroORM's own pool as named prepared statements: PostgreSQL parses and
 * plans each distinct statement once per connection instead of on every call. For the trade
 * path's few fixed statements (`?` placeholders only, no `??`), where planning dominated.
 */
export function preparedSqlOf(orm: MikroORM) {
  const knex = orm.em.getConnection().getKnex();
  const prepared = new Map<string, { name: string; text: string }>();
  return async (sql: string, params: unknown[] = []): Promise<Array<Record<string, unknown>>> => {
    let p = prepared.get(sql);
    if (!p) {
      let n = 0;
      p = {
        name: `w_${createHash("sha256").update(sql).digest("hex").slice(0, 24)}`,
        text: sql.replace(/\?/g, () => `$${++n}`),
      };
      if (prepared.size < 1000) prepared.set(sql, p);
    }
    // knex's pool hands out node-postgres clients; their query() keeps the prepared names.
    const client = (await knex.client.acquireConnection()) as pg.PoolClient;
    try {
      return (await client.query({ name: p.name, text: p.text, values: params })).rows;
    } finally {
      knex.client.releaseConnection(client);
    }
  };
}
