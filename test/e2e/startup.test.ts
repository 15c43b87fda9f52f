// The real process, started as an operator would: `npm start` and `node --import tsx src/main.ts`.
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { helpText, WELCOME } from "../../src/bot/texts";
import { generateIntakeKey, parseMasterKeys } from "../../src/domain/vault";
import { APP_LOGIN, ensureAppLogin, loginUrl } from "../support/app-role";
import {
  createTestDatabase,
  createTestRedis,
  fernetKey,
  randomSecret,
  type TestDatabase,
  unusedDatabaseUrl,
} from "../support/context";
import { baseEnv, freePort, type Spawned, spawnProcess, waitForHttp } from "../support/process";
import { startTelegramEmulator } from "../support/telegram";
import { newMarker, seedCredentials } from "../support/vault-fixtures";

const redis = createTestRedis();
const running: Spawned[] = [];
const databases: TestDatabase[] = [];
afterEach(async () => {
  for (const p of running.splice(0)) {
    p.kill("SIGTERM");
    await Promise.race([p.exited, new Promise((r) => setTimeout(r, 10_000))]);
    p.kill("SIGKILL");
  }
});
afterAll(async () => {
  await redis.cleanup();
  for (const db of databases) await db.drop();
});

const prodSecrets = () => ({
  MASTER_KEYS: `1:${fernetKey()}`,
  ACCOUNT_KEYS: `1:${fernetKey()}`,
  BACKUP_ENCRYPTION_KEY: fernetKey(),
  JWT_SECRET: randomSecret(),
  PASSWORD_PEPPER: randomSecret(),
  AUDIT_PEPPER: randomSecret(),
  SMTP_URL: "smtp://127.0.0.1:2525",
});

function startNode(env: Record<string, string | undefined>): Spawned {
  const p = spawnProcess("node", ["--import", "tsx", "src/main.ts"], baseEnv(env));
  running.push(p);
  return p;
}

describe("start-up", () => {
  it("when started with a bot token and TELEGRAM_API_ROOT, then the bot answers /start in a private chat", async () => {
    const tg = await startTelegramEmulator();
    try {
      const db = await createTestDatabase();
      databases.push(db);
      const p = startNode({
        ...prodSecrets(),
        NODE_ENV: "test",
        WARDEN_ROLES: "bot",
        DATABASE_URL: db.url,
        REDIS_URL: redis.url,
        REDIS_PREFIX: redis.prefix,
        TELEGRAM_BOT_TOKEN: tg.token,
        TELEGRAM_API_ROOT: tg.apiRoot,
        LOG_LEVEL: "info",
      });
      await p.waitForOutput(/bot is polling for updates/);
      const user = tg.user({ id: 4242, first_name: "Ops" });
      user.sendText("/start");
      expect((await user.waitForBotMessage(undefined, 15_000)).text).toBe(WELCOME);
      user.sendText("/start", { chat: { id: -4242, type: "group", title: "g" } });
      user.sendText("/help");
      expect((await user.waitForBotMessage(undefined, 15_000)).text).toBe(helpText());
      expect(tg.history(-4242).filter((m) => m.from === "bot")).toEqual([]);
      expect(p.output()).not.toContain(tg.token);
    } finally {
      for (const p of running.splice(0)) {
        p.kill("SIGTERM");
        await p.exited;
      }
      await tg.close();
    }
  });

  it("when npm start runs against a database that does not exist, then it creates and migrates it and /readyz answers 200", async () => {
    const dir = mkdtempSync(join(tmpdir(), "warden-start-"));
    const databaseUrl = unusedDatabaseUrl();
    const port = await freePort();
    const p = spawnProcess(
      "npm",
      ["start"],
      baseEnv({
        PORT: String(port),
        DATABASE_URL: databaseUrl,
        REDIS_URL: redis.url,
        REDIS_PREFIX: redis.prefix,
        DEV_SECRETS_FILE: join(dir, "dev.env"),
      }),
    );
    running.push(p);
    const ready = await waitForHttp(`http://127.0.0.1:${port}/readyz`, 200, 90_000);
    expect(await ready.json()).toEqual({
      status: "ready",
      checks: { postgres: "ok", redis: "ok" },
    });

    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    const migrations = await client.query("select name from mikro_orm_migrations order by id");
    const tables = await client.query("select to_regclass('public.app_state') as t");
    await client.end();
    expect(migrations.rows.map((r) => r.name)).toContain("20261124090000-foundation");
    expect(tables.rows[0].t).toBe("app_state");

    // Development secrets were generated once, privately, and never printed.
    const file = join(dir, "dev.env");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const out = p.output();
    expect(out).toContain("generated development secrets");
    expect(out).toContain("Telegram bot is not connected: set TELEGRAM_BOT_TOKEN");
    // Without a token, development runs the local sandbox: the web chat is served at once.
    expect(out).toContain(`chat with it at http://localhost:${port}/sandbox`);
    const sandbox = await fetch(`http://127.0.0.1:${port}/sandbox`);
    expect(sandbox.status).toBe(200);
    expect(await sandbox.text()).toContain("Warden sandbox");
    for (const line of readFileSync(file, "utf8")
      .split("\n")
      .filter((l) => l.includes("="))) {
      expect(out).not.toContain(line.split("=").slice(1).join("="));
    }
  });

  it("when NODE_ENV=production lacks MASTER_KEYS, then the process exits non-zero naming MASTER_KEYS", async () => {
    const { MASTER_KEYS: _omit, ...rest } = prodSecrets();
    const p = startNode({
      NODE_ENV: "production",
      PUBLIC_URL: "https://warden.test",
      WARDEN_ROLES: "worker,signer",
      ...rest,
    });
    const { code } = await p.exited;
    expect(code).not.toBe(0);
    expect(p.output()).toContain("configuration error: MASTER_KEYS: is required");
  });

  it("when NODE_ENV=production names no roles, then the process exits non-zero naming WARDEN_ROLES (the signer runs apart)", async () => {
    const { MASTER_KEYS: _omit, ...rest } = prodSecrets();
    const p = startNode({ NODE_ENV: "production", PUBLIC_URL: "https://warden.test", ...rest });
    const { code } = await p.exited;
    expect(code).not.toBe(0);
    expect(p.output()).toContain("configuration error: WARDEN_ROLES: is required in production");
  });

  it("when MASTER_KEYS is malformed in production, then start-up is refused the same way without echoing it", async () => {
    const bad = `1:${randomSecret().slice(0, 20)}`;
    const p = startNode({
      NODE_ENV: "production",
      PUBLIC_URL: "https://warden.test",
      WARDEN_ROLES: "worker,signer",
      ...prodSecrets(),
      MASTER_KEYS: bad,
    });
    const { code } = await p.exited;
    expect(code).not.toBe(0);
    expect(p.output()).toMatch(/configuration error: MASTER_KEYS: /);
    expect(p.output()).not.toContain(bad.slice(2));
  });

  it("when MASTER_KEYS_FILE names a mounted secret in production, then the service starts with it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "warden-secrets-"));
    const file = join(dir, "master_keys");
    const { MASTER_KEYS, ...rest } = prodSecrets();
    writeFileSync(file, `${MASTER_KEYS}\n`, { mode: 0o600 });
    const port = await freePort();
    const db = await createTestDatabase();
    databases.push(db);
    // Only the signer holds MASTER_KEYS in production (issue 19): its process, with a worker.
    const p = startNode({
      NODE_ENV: "production",
      PUBLIC_URL: "https://warden.test",
      WARDEN_ROLES: "worker,signer",
      PORT: String(port),
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      REDIS_PREFIX: redis.prefix,
      MASTER_KEYS_FILE: file,
      SIGNER_INTAKE_KEY: `1:${generateIntakeKey()}`,
      ...rest,
    });
    await p.waitForOutput(/Warden started/, 50_000);
    expect(p.output()).not.toContain(MASTER_KEYS.slice(2));
  });

  it("when a production api process is given MASTER_KEYS or logs in as a superuser, then it exits non-zero naming the variable, and without either it starts", async () => {
    const port = await freePort();
    const db = await createTestDatabase();
    databases.push(db);
    const { MASTER_KEYS, ...rest } = prodSecrets();
    const env = {
      NODE_ENV: "production",
      PUBLIC_URL: "https://warden.test",
      PORT: String(port),
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      REDIS_PREFIX: redis.prefix,
      ...rest,
    };
    const refused = spawnProcess(
      "node",
      ["--import", "tsx", "src/main.ts", "--roles", "api"],
      baseEnv({ ...env, MASTER_KEYS }),
    );
    running.push(refused);
    expect((await refused.exited).code).not.toBe(0);
    expect(refused.output()).toContain(
      "configuration error: MASTER_KEYS: must not be set for the api or bot role in production: only the signer holds it",
    );
    expect(refused.output()).not.toContain(MASTER_KEYS.slice(2));
    // Logged in as a superuser (past every grant and the key rows' guard), it is refused too.
    const superuser = spawnProcess(
      "node",
      ["--import", "tsx", "src/main.ts", "--roles", "api"],
      baseEnv(env),
    );
    running.push(superuser);
    expect((await superuser.exited).code).not.toBe(0);
    expect(superuser.output()).toContain(
      'configuration error: DATABASE_URL: logs in as "postgres", a superuser: the api role must log in as a member of warden_app only',
    );
    // As deployed: a warden_app member, migrations by the owner.
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    try {
      await ensureAppLogin(admin);
    } finally {
      await admin.end();
    }
    const api = spawnProcess(
      "node",
      ["--import", "tsx", "src/main.ts", "--roles", "api"],
      baseEnv({ ...env, DATABASE_URL: loginUrl(db.url, APP_LOGIN), DATABASE_OWNER_URL: db.url }),
    );
    running.push(api);
    const res = await waitForHttp(`http://127.0.0.1:${port}/readyz`, 200, 60_000);
    expect(((await res.json()) as { status: string }).status).toBe("ready");
  });

  it("when MASTER_KEYS lacks a version still used by stored rows, then start-up is refused naming it", async () => {
    const db = await createTestDatabase();
    databases.push(db);
    const k1 = fernetKey();
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await seedCredentials(client, parseMasterKeys(`1:${k1}`), newMarker(), 0, 3);
    await client.end();
    const p = startNode({
      ...prodSecrets(),
      NODE_ENV: "test",
      WARDEN_ROLES: "api",
      PORT: String(await freePort()),
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      MASTER_KEYS: `2:${fernetKey()}`,
    });
    const { code } = await p.exited;
    expect(code).toBe(1);
    expect(p.output()).toContain(
      "Warden cannot start: MASTER_KEYS lacks version 1, still used by 3 row(s) in exchange_credentials",
    );
    expect(p.output()).not.toContain(k1);
  });

  it("when Redis is unreachable, then /readyz answers 503 naming redis", async () => {
    const port = await freePort();
    const deadRedis = await freePort();
    const p = startNode({
      NODE_ENV: "test",
      WARDEN_ROLES: "api",
      PORT: String(port),
      DATABASE_URL: unusedDatabaseUrl(),
      REDIS_URL: `redis://127.0.0.1:${deadRedis}`,
      ...prodSecrets(),
    });
    const res = await waitForHttp(`http://127.0.0.1:${port}/readyz`, 503, 60_000);
    expect(await res.json()).toEqual({
      status: "unavailable",
      down: ["redis"],
      checks: { postgres: "ok", redis: "down" },
    });
    expect(p.output()).not.toContain("Warden cannot start");
  });
});
