// The service as deployed: migrations run as the schema owner (DATABASE_OWNER_URL), the service
// logs in as a member of warden_app (DATABASE_URL) — a process that runs the signer role as a
// member of warden_signer, which holds warden_app's rights and the signer's own (issue 19) —,
// trades work and are audited, and neither role can change the audit log (S8.1).
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  APP_LOGIN,
  ensureAppLogin,
  ensureSignerLogin,
  loginUrl,
  SIGNER_LOGIN,
} from "../support/app-role";
import { createTestRedis, testEnv, unusedDatabaseUrl } from "../support/context";
import { baseEnv, freePort, type Spawned, spawnProcess, waitForHttp } from "../support/process";

const redis = createTestRedis();
const ownerUrl = unusedDatabaseUrl();
const appUrl = loginUrl(ownerUrl, APP_LOGIN);
const signerUrl = loginUrl(ownerUrl, SIGNER_LOGIN);
const running: Spawned[] = [];

beforeAll(async () => {
  const admin = new pg.Client({ connectionString: ownerUrl.replace(/\/[^/]+$/, "/postgres") });
  await admin.connect();
  await ensureAppLogin(admin);
  await ensureSignerLogin(admin);
  await admin.end();
});
afterEach(() => {
  for (const p of running.splice(0)) p.kill("SIGKILL");
});
afterAll(async () => {
  await redis.cleanup();
  const admin = new pg.Client({ connectionString: ownerUrl.replace(/\/[^/]+$/, "/postgres") });
  await admin.connect();
  await admin.query(
    `drop database if exists "${new URL(ownerUrl).pathname.slice(1)}" with (force)`,
  );
  await admin.end();
});

describe("owner and application roles", () => {
  it("when the service logs in as a warden_signer member (one process with the signer role), then it migrates as the owner, trades are audited, and neither warden_app nor warden_signer can alter the audit log", async () => {
    const port = await freePort();
    const p = spawnProcess(
      "node",
      ["--import", "tsx", "src/main.ts", "--roles", "api,signer"],
      baseEnv(
        testEnv({
          PORT: String(port),
          PUBLIC_URL: `http://127.0.0.1:${port}`,
          DATABASE_URL: signerUrl,
          DATABASE_OWNER_URL: ownerUrl,
          REDIS_URL: redis.url,
          REDIS_PREFIX: redis.prefix,
          BCRYPT_COST: "4",
          HIBP_FAIL_MODE: "open",
          HIBP_API_URL: "http://127.0.0.1:9",
        }),
      ),
    );
    running.push(p);
    await waitForHttp(`http://127.0.0.1:${port}/readyz`, 200, 60_000);
    const call = async (method: string, path: string, body?: unknown, token?: string) => {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, {
        method,
        headers: {
          "content-type": "application/json",
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return {
        status: res.status,
        body: (await res.json()) as Record<string, { id: string } | string>,
      };
    };
    const creds = { email: "role@example.com", password: "a long unique passphrase" };
    expect((await call("POST", "/api/auth/register", creds)).status).toBe(202);
    // Stands in for the owner opening the mailed link (this api-only process delivers no mail).
    const confirm = new pg.Client({ connectionString: ownerUrl });
    await confirm.connect();
    await confirm.query("update users set email_confirmed_at = now() where email = $1", [
      creds.email,
    ]);
    await confirm.end();
    const token = (await call("POST", "/api/auth/login", creds)).body.accessToken as string;
    expect(
      (await call("POST", "/api/auth/step-up", { password: creds.password }, token)).status,
    ).toBe(200);
    const key = await call("POST", "/api/keys", { venue: "paper" }, token);
    expect(key.status).toBe(201);
    const trade = await call(
      "POST",
      "/api/trades",
      {
        confirm: true,
        symbol: "BTC",
        side: "long",
        size: 0.01,
        keyId: (key.body.key as { id: string }).id,
      },
      token,
    );
    expect(trade.status).toBe(201);

    for (const url of [appUrl, signerUrl]) {
      const app = new pg.Client({ connectionString: url });
      await app.connect();
      const { rows } = await app.query("select action, outcome from trade_audit_log");
      expect(rows).toEqual([{ action: "open", outcome: "ok" }]);
      for (const sql of [
        "update trade_audit_log set outcome = 'failed'",
        "delete from trade_audit_log",
        "truncate trade_audit_log",
      ]) {
        await expect(app.query(sql), `${url}: ${sql}`).rejects.toThrow(/permission denied/);
      }
      await app.end();
    }
    const owner = new pg.Client({ connectionString: ownerUrl });
    await owner.connect();
    const who = await owner.query(
      "select tableowner from pg_tables where tablename = 'trade_audit_log'",
    );
    expect(who.rows[0].tableowner).toBe("postgres");
    await owner.end();
  });

  it("when a process with the signer role logs in as a warden_app member only, then it refuses to start, naming DATABASE_URL and warden_signer", async () => {
    const p = spawnProcess(
      "node",
      ["--import", "tsx", "src/main.ts", "--roles", "signer"],
      baseEnv(
        testEnv({
          DATABASE_URL: appUrl,
          DATABASE_OWNER_URL: ownerUrl,
          REDIS_URL: redis.url,
          REDIS_PREFIX: redis.prefix,
        }),
      ),
    );
    running.push(p);
    expect((await p.exited).code).toBe(1);
    expect(p.stderr()).toContain(
      `DATABASE_URL: logs in as "${APP_LOGIN}", which cannot publish intake keys or claim sealed keys: the signer role's login must be a member of warden_signer`,
    );
    expect(p.output()).not.toMatch(/Warden started|signer role started/);
  });
});
