// Master key rotation in the real signer process (issue 19 moved it there from the worker):
// killed mid-run with SIGKILL, restarted, and converging to every row at the new version —
// driven through the operator CLI.
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { generateFernetKey, parseMasterKeys } from "../../src/domain/vault";
import {
  createTestDatabase,
  createTestRedis,
  type TestDatabase,
  testEnv,
} from "../support/context";
import { baseEnv, type Spawned, spawnProcess } from "../support/process";
import { scanPostgres, scanRedis } from "../support/secret-scan";
import { mismatchedRows, newMarker, seedCredentials } from "../support/vault-fixtures";

const k1 = generateFernetKey();
const k2 = generateFernetKey();
const redis = createTestRedis();
const marker = newMarker();
let db: TestDatabase;
let client: pg.Client;
const running: Spawned[] = [];
const outputs: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  client = new pg.Client({ connectionString: db.url });
  await client.connect();
  await seedCredentials(client, parseMasterKeys(`1:${k1}`), marker, 0, 100_000);
});
afterEach(() => {
  for (const p of running.splice(0)) {
    outputs.push(p.output());
    p.kill("SIGKILL");
  }
});
afterAll(async () => {
  await client.end();
  await redis.cleanup();
  await db.drop();
});

const env = () =>
  baseEnv(
    testEnv({
      LOG_LEVEL: "info",
      MASTER_KEYS: `1:${k1},2:${k2}`,
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      REDIS_PREFIX: redis.prefix,
    }),
  );

function start(args: string[], script = "src/main.ts"): Spawned {
  const p = spawnProcess("node", ["--import", "tsx", script, ...args], env());
  running.push(p);
  return p;
}

async function count(where: string): Promise<number> {
  const { rows } = await client.query(
    `select count(*)::int as n from exchange_credentials where ${where}`,
  );
  return rows[0].n;
}

describe("rotation survives a crash", () => {
  it("when the signer is killed mid-rotation and restarted, then every row converges to version 2 with its plaintext", async () => {
    const first = start(["--roles", "signer"]);
    await first.waitForOutput(/Warden started/);

    const cli = start(["master-key", "rotate"], "src/cli.ts");
    expect((await cli.exited).code).toBe(0);
    expect(cli.output()).toMatch(/rotation to version 2 queued \(job \S+\)/);

    // Kill it as soon as part of the work is done.
    const deadline = Date.now() + 30_000;
    let done = 0;
    while (Date.now() < deadline && done < 5_000) {
      done = await count("encryption_key_version = 2");
      await new Promise((r) => setTimeout(r, 20));
    }
    first.kill("SIGKILL");
    await first.exited;
    const atKill = await count("encryption_key_version = 2");
    expect(atKill).toBeGreaterThan(0);
    expect(atKill).toBeLessThan(100_000);

    // A new signer picks the stalled job up again once its lock has expired.
    const second = start(["--roles", "signer"]);
    await second.waitForOutput(/Warden started/);
    const until = Date.now() + 90_000;
    while (Date.now() < until && (await count("encryption_key_version < 2")) > 0) {
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(await count("encryption_key_version < 2")).toBe(0);
    expect(await count("encryption_key_version = 2")).toBe(100_000);
    expect(await mismatchedRows(client, parseMasterKeys(`2:${k2}`), marker)).toEqual([]);

    const status = start(["master-key", "status"], "src/cli.ts");
    expect((await status.exited).code).toBe(0);
    expect(status.output()).toContain("MASTER_KEYS versions: 1, 2 (current 2)");
    expect(status.output()).toContain("exchange_credentials: version 2: 100000 row(s)");
  }, 180_000);

  it("when all of that is over, then no plaintext is in PostgreSQL, Redis (jobs included) or any log", async () => {
    expect(await scanPostgres(db.url, [marker])).toEqual([]);
    expect(await scanRedis(redis.url, redis.prefix, [marker, k1, k2])).toEqual([]);
    const logs = outputs.join("\n");
    expect(logs).toContain("master key rotation finished");
    for (const needle of [marker, k1, k2]) expect(logs).not.toContain(needle);
  });
});
