// Start-up failures an operator can fix: exit 1 and one paragraph on stderr naming the variable
// and the fix, never a stack trace.
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import {
  createTestDatabase,
  createTestRedis,
  fernetKey,
  randomSecret,
  type TestDatabase,
} from "../support/context";
import { baseEnv, freePort, type Spawned, spawnProcess } from "../support/process";

const redis = createTestRedis();
const databases: TestDatabase[] = [];
const running: Spawned[] = [];
const dir = mkdtempSync(join(tmpdir(), "warden-startup-errors-"));
afterEach(() => {
  for (const p of running.splice(0)) p.kill("SIGKILL");
});
afterAll(async () => {
  await redis.cleanup();
  for (const db of databases) await db.drop();
  rmSync(dir, { recursive: true, force: true });
});

const secrets = () => ({
  MASTER_KEYS: `1:${fernetKey()}`,
  ACCOUNT_KEYS: `1:${fernetKey()}`,
  BACKUP_ENCRYPTION_KEY: fernetKey(),
  JWT_SECRET: randomSecret(),
  PASSWORD_PEPPER: randomSecret(),
  AUDIT_PEPPER: randomSecret(),
});

async function failedStart(env: Record<string, string | undefined>): Promise<Spawned> {
  const p = spawnProcess(
    "node",
    ["--import", "tsx", "src/main.ts"],
    baseEnv({ LOG_LEVEL: "warn", DEV_SECRETS_FILE: join(dir, "dev.env"), ...env }),
  );
  running.push(p);
  const { code } = await p.exited;
  expect(code).toBe(1);
  return p;
}

/** One paragraph (the message and its fix), no stack frames, no error class dump. */
function expectOneParagraph(stderr: string, variable: string): void {
  const lines = stderr.trim().split("\n");
  expect(lines[0]).toMatch(new RegExp(`^Warden cannot start: ${variable}: `));
  expect(lines.length).toBeLessThanOrEqual(2);
  if (lines[1]) expect(lines[1]).toMatch(/^ {2}Fix: /);
  expect(stderr).not.toMatch(/^\s+at /m);
  expect(stderr).not.toMatch(/node_modules|Error:|\.ts:\d+/);
}

describe("start-up errors", () => {
  it("when DATABASE_URL names a role the server does not have, then it exits 1 naming DATABASE_URL without a stack trace", async () => {
    const p = await failedStart({
      ...secrets(),
      NODE_ENV: "test",
      WARDEN_ROLES: "api",
      PORT: String(await freePort()),
      DATABASE_URL: "postgres://no_such_role_14@127.0.0.1:5432/warden_no_such_db",
      REDIS_URL: redis.url,
    });
    expectOneParagraph(p.stderr(), "DATABASE_URL");
    expect(p.stderr()).toContain("has no such role");
  });

  it("when nothing listens at DATABASE_URL's port, then it exits 1 naming DATABASE_URL and the fix", async () => {
    const deadPort = await freePort();
    const p = await failedStart({
      ...secrets(),
      NODE_ENV: "test",
      WARDEN_ROLES: "api",
      PORT: String(await freePort()),
      DATABASE_URL: `postgres://postgres@127.0.0.1:${deadPort}/warden`,
      REDIS_URL: redis.url,
    });
    expectOneParagraph(p.stderr(), "DATABASE_URL");
    expect(p.stderr()).toContain(`nothing answers at 127.0.0.1:${deadPort}`);
  });

  it("when REDIS_URL points where no Redis answers (development), then it exits 1 naming REDIS_URL and how to get Redis", async () => {
    const db = await createTestDatabase();
    databases.push(db);
    const deadPort = await freePort();
    const p = await failedStart({
      WARDEN_ROLES: "api",
      PORT: String(await freePort()),
      DATABASE_URL: db.url,
      REDIS_URL: `redis://127.0.0.1:${deadPort}`,
    });
    expectOneParagraph(p.stderr(), "REDIS_URL");
    expect(p.stderr()).toContain(`nothing answers at 127.0.0.1:${deadPort}`);
    expect(p.stderr()).toContain("apt install redis-server");
  });

  it("when PORT is taken by another program, then it exits 1 naming PORT", async () => {
    const db = await createTestDatabase();
    databases.push(db);
    const taken: Server = createServer();
    const port = await new Promise<number>((res) =>
      taken.listen(0, () => res((taken.address() as { port: number }).port)),
    );
    try {
      const p = await failedStart({
        ...secrets(),
        NODE_ENV: "test",
        WARDEN_ROLES: "api",
        PORT: String(port),
        DATABASE_URL: db.url,
        REDIS_URL: redis.url,
        REDIS_PREFIX: redis.prefix,
      });
      expectOneParagraph(p.stderr(), "PORT");
      expect(p.stderr()).toContain(`port ${port} is already in use`);
    } finally {
      taken.close();
    }
  });

  it("when a CLI command cannot reach DATABASE_URL, then it exits 1 with the same one paragraph", async () => {
    const deadPort = await freePort();
    const p = spawnProcess(
      "node",
      ["--import", "tsx", "src/cli.ts", "db", "status"],
      baseEnv({
        ...secrets(),
        NODE_ENV: "test",
        DATABASE_URL: `postgres://postgres@127.0.0.1:${deadPort}/warden`,
        REDIS_URL: redis.url,
      }),
    );
    running.push(p);
    expect((await p.exited).code).toBe(1);
    const lines = p.stderr().trim().split("\n");
    expect(lines[0]).toBe(
      `error: DATABASE_URL: nothing answers at 127.0.0.1:${deadPort} (PostgreSQL is not running there or the host is wrong).`,
    );
    expect(lines[1]).toMatch(/^ {2}Fix: Start PostgreSQL/);
    expect(lines).toHaveLength(2);
  });

  it("when JWT_SECRET is too short, then it exits 1 naming JWT_SECRET without echoing it", async () => {
    const p = await failedStart({
      ...secrets(),
      NODE_ENV: "test",
      JWT_SECRET: "short-secret-x",
      DATABASE_URL: "postgres://127.0.0.1:5432/unused",
    });
    expect(p.stderr().trim()).toBe(
      "Warden cannot start: configuration error: JWT_SECRET: must be at least 32 bytes",
    );
  });
});
