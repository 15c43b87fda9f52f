// Databases for backup tests: an empty one to restore into, a fingerprint of every table's rows
// to compare a restore with its source, and the list of tables (to show a refused restore left
// nothing behind).
import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";
import type { TestDatabase } from "./context";

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: `${inject("pgServerUrl")}/postgres` });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** An empty database (no migrations), dropped by `drop()` or with the run's databases. */
export async function createEmptyTestDatabase(): Promise<TestDatabase> {
  const name = `wt_${inject("runId")}_empty_${randomBytes(4).toString("hex")}`;
  await admin((c) => c.query(`create database "${name}" template template0`));
  const dropNow = () =>
    admin((c) => c.query(`drop database if exists "${name}" with (force)`)).then(() => {});
  return { name, url: `${inject("pgServerUrl")}/${name}`, drop: dropNow, dropNow };
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Tables of the public schema, sorted. */
export function userTables(url: string): Promise<string[]> {
  return withClient(url, async (c) =>
    (
      await c.query<{ t: string }>(
        "select tablename as t from pg_tables where schemaname = 'public' order by 1",
      )
    ).rows.map((r) => r.t),
  );
}

/** Per table: row count and an MD5 over every row's text form, in a fixed order. */
export function rowFingerprint(url: string): Promise<Record<string, string>> {
  return withClient(url, async (c) => {
    const out: Record<string, string> = {};
    const tables = (
      await c.query<{ t: string }>(
        "select tablename as t from pg_tables where schemaname = 'public' order by 1",
      )
    ).rows.map((r) => r.t);
    for (const t of tables) {
      const r = await c.query<{ n: string; h: string | null }>(
        `select count(*)::text as n, md5(string_agg(x::text, E'\\n' order by x::text)) as h from "${t}" x`,
      );
      out[t] = `${r.rows[0]!.n}:${r.rows[0]!.h ?? "-"}`;
    }
    return out;
  });
}
