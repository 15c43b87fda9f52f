// Runs once per `vitest run`: checks that PostgreSQL and Redis answer, builds a migrated
// template database that each test file clones, and removes everything the run created.
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import pg from "pg";
import type { TestProject } from "vitest/node";
import { createOrm, migrate } from "../../src/infra/database";

declare module "vitest" {
  export interface ProvidedContext {
    runId: string;
    pgServerUrl: string;
    templateDb: string;
    redisUrl: string;
  }
}

export const PG_SERVER_URL = process.env.TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432";
export const REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

async function checkPostgres(): Promise<void> {
  const client = new pg.Client({ connectionString: `${PG_SERVER_URL}/postgres` });
  try {
    await client.connect();
    await client.query("select 1");
  } catch (err) {
    throw new Error(
      `PostgreSQL is not reachable at ${PG_SERVER_URL} (${(err as Error).message}).\n` +
        "Start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    );
  } finally {
    await client.end().catch(() => {});
  }
}

async function checkRedis(): Promise<void> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0 });
  redis.on("error", () => {});
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    throw new Error(
      `Redis is not reachable at ${REDIS_URL} (${(err as Error).message}).\n` +
        'Start it with: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no',
    );
  } finally {
    redis.disconnect();
  }
}

export async function dropRunDatabases(runId: string): Promise<void> {
  const client = new pg.Client({ connectionString: `${PG_SERVER_URL}/postgres` });
  await client.connect();
  try {
    const { rows } = await client.query<{ datname: string }>(
      "select datname from pg_database where datname like $1",
      [`wt_${runId}_%`],
    );
    for (const { datname } of rows) {
      await client.query(`drop database if exists "${datname}" with (force)`);
    }
  } finally {
    await client.end();
  }
}

export async function deleteRedisKeys(pattern: string): Promise<void> {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
      cursor = next;
      if (keys.length) await redis.unlink(...keys);
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  await Promise.all([checkPostgres(), checkRedis()]);
  const runId = randomBytes(4).toString("hex");
  const templateDb = `wt_${runId}_template`;
  const admin = new pg.Client({ connectionString: `${PG_SERVER_URL}/postgres` });
  await admin.connect();
  await admin.query(`create database "${templateDb}"`);
  await admin.end();
  const templateUrl = `${PG_SERVER_URL}/${templateDb}`;
  const orm = await createOrm({ url: templateUrl });
  try {
    await migrate(orm, templateUrl);
  } finally {
    await orm.close();
  }
  project.provide("runId", runId);
  project.provide("pgServerUrl", PG_SERVER_URL);
  project.provide("templateDb", templateDb);
  project.provide("redisUrl", REDIS_URL);
  return async () => {
    await dropRunDatabases(runId);
    await deleteRedisKeys(`wt:${runId}:*`);
  };
}
