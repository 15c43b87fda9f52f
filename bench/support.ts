// Secrets for benchmark processes, generated per run (never fixed values in the repository).
import { randomBytes } from "node:crypto";
import pg from "pg";

const fernetKey = () => `${randomBytes(32).toString("base64url")}=`;
const secret = () => randomBytes(32).toString("base64url");

export function testEnvForBench(): Record<string, string> {
  return {
    MASTER_KEYS: `1:${fernetKey()}`,
    ACCOUNT_KEYS: `1:${fernetKey()}`,
    BACKUP_ENCRYPTION_KEY: fernetKey(),
    JWT_SECRET: secret(),
    PASSWORD_PEPPER: secret(),
    AUDIT_PEPPER: secret(),
  };
}

/** Drops a benchmark's database (connections and all) on the server of `serverUrl`. */
export async function dropBenchDatabase(serverUrl: string, name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: `${serverUrl}/postgres` });
  await admin.connect();
  try {
    await admin.query(`drop database if exists "${name}" with (force)`);
  } finally {
    await admin.end();
  }
}

/** Deletes every Redis key under `prefix` (a benchmark's own prefix, app keys and BullMQ's). */
export async function cleanRedisPrefix(redisUrl: string, prefix: string): Promise<void> {
  const { Redis } = await import("ioredis");
  const r = new Redis(redisUrl);
  try {
    let cursor = "0";
    do {
      const [next, keys] = await r.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      cursor = next;
      if (keys.length) await r.unlink(...keys);
    } while (cursor !== "0");
  } finally {
    r.disconnect();
  }
}
