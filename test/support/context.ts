// Per-test-file resources: a database cloned from the run's migrated template, a Redis key
// prefix of its own, and a valid configuration environment. Everything is removed afterwards
// (the databases by the run's teardown: see drop()).
import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";
import type { Env } from "../../src/infra/config";
import { deleteRedisKeys } from "./global-setup";

export interface TestDatabase {
  name: string;
  url: string;
  /** The file is done with it: its connections are closed; the run's teardown drops it. */
  drop(): Promise<void>;
  /** Drops it at once, under whoever is connected (for a test whose database must vanish). */
  dropNow(): Promise<void>;
}

const suffix = () => randomBytes(4).toString("hex");

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: `${inject("pgServerUrl")}/postgres` });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** A fresh, migrated database for this test file (a copy of the run's template). */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `wt_${inject("runId")}_${suffix()}`;
  // Template copies need the template to have no other connections; retry briefly if another
  // file is cloning it at the same moment.
  for (let attempt = 0; ; attempt++) {
    try {
      await adminQuery(`create database "${name}" template "${inject("templateDb")}"`);
      break;
    } catch (err) {
      if (attempt >= 20 || !/being accessed by other users/.test((err as Error).message)) throw err;
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 200));
    }
  }
  return {
    name,
    url: `${inject("pgServerUrl")}/${name}`,
    // Not dropped here: PostgreSQL waits for a checkpoint on every DROP DATABASE, which takes
    // seconds while other files write. The run's teardown drops all its databases when nothing
    // else writes (well under a second each); this only closes what the file left open.
    drop: () =>
      adminQuery(
        `select pg_terminate_backend(pid) from pg_stat_activity where datname = '${name}' and pid <> pg_backend_pid()`,
      ),
    dropNow: () => adminQuery(`drop database if exists "${name}" with (force)`),
  };
}

/** A database name for this run that does not exist yet (for create-on-start tests). */
export function unusedDatabaseUrl(): string {
  return `${inject("pgServerUrl")}/wt_${inject("runId")}_${suffix()}`;
}

export interface TestRedis {
  url: string;
  prefix: string;
  cleanup(): Promise<void>;
}

/** A Redis key prefix of this file's own; BullMQ queues live under it too. */
export function createTestRedis(): TestRedis {
  const prefix = `wt:${inject("runId")}:${suffix()}:`;
  return {
    url: inject("redisUrl"),
    prefix,
    cleanup: () => deleteRedisKeys(`${prefix}*`),
  };
}

export const fernetKey = () => `${randomBytes(32).toString("base64url")}=`;
export const randomSecret = () => randomBytes(32).toString("base64url");

/** A complete, valid environment for loadConfig/startWarden in tests. */
export function testEnv(overrides: Env = {}): Env {
  return {
    NODE_ENV: "test",
    PORT: "0",
    LOG_LEVEL: "warn",
    MASTER_KEYS: `1:${fernetKey()}`,
    ACCOUNT_KEYS: `1:${fernetKey()}`,
    BACKUP_ENCRYPTION_KEY: fernetKey(),
    JWT_SECRET: randomSecret(),
    PASSWORD_PEPPER: randomSecret(),
    AUDIT_PEPPER: randomSecret(),
    ...overrides,
  };
}
