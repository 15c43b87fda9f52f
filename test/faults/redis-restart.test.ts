// Fault: Redis goes away under a running Warden (api + worker in one process) and comes back
// empty, as after a crash without persistence or a failover to a blank replica. While it is away,
// what Redis guards fails closed: logins (their per-IP and per-account limits live there) and
// one-time WebSocket tickets answer 503, never a success that skipped the check. Afterwards the
// same process serves again without a restart, and a ticket issued before the outage is gone.
import bcrypt from "bcrypt";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { prehashPassword } from "../../src/domain/accounts/password";
import { createTestDatabase, type TestDatabase, testEnv } from "../support/context";
import { type PrivateRedis, startPrivateRedis } from "../support/private-services";
import { baseEnv, freePort, type Spawned, spawnProcess, waitForHttp } from "../support/process";

const PASSWORD = "a long unique passphrase for the fault test";
let redis: PrivateRedis;
let db: TestDatabase;
let service: Spawned;
let base: string;

beforeAll(async () => {
  redis = await startPrivateRedis();
  db = await createTestDatabase();
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const env = testEnv({
    PORT: String(port),
    PUBLIC_URL: base,
    DATABASE_URL: db.url,
    REDIS_URL: redis.url,
    REDIS_PREFIX: "fault:",
    BCRYPT_COST: "4",
    HIBP_FAIL_MODE: "open",
    HIBP_API_URL: "http://127.0.0.1:9",
    LOG_LEVEL: "warn",
  });
  // An account with a password, written as registration would (peppered pre-hash, bcrypt).
  const hash = await bcrypt.hash(
    prehashPassword(Buffer.from(env.PASSWORD_PEPPER!, "utf8"), PASSWORD),
    4,
  );
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  await c.query(
    "insert into users (email, password_hash, email_confirmed_at) values ($1, $2, now())",
    ["fault-redis@example.com", hash],
  );
  await c.end();
  service = spawnProcess(
    "node",
    ["--import", "tsx", "src/main.ts", "--roles", "api,worker"],
    baseEnv(env),
  );
  await waitForHttp(`${base}/readyz`, 200, 90_000);
}, 120_000);

afterAll(async () => {
  service?.kill("SIGKILL");
  await service?.exited;
  await redis?.destroy();
  await db?.drop();
});

async function post(path: string, body?: unknown, token?: string) {
  const res = await fetch(`${base}${path}`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      origin: base,
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(20_000),
  });
  const text = await res.text();
  // biome-ignore lint/suspicious/noExplicitAny: answers are JSON whose shape the assertions check
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, any> };
}

const login = () =>
  post("/api/auth/login", { email: "fault-redis@example.com", password: PASSWORD });

/** Opens a socket, sends the ticket, and resolves with the close code (or "open"). */
function useTicket(ticket: string): Promise<number | "open"> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${base.replace("http", "ws")}/ws`, { origin: base });
    const timer = setTimeout(() => {
      ws.terminate();
      resolve("open");
    }, 3_000);
    ws.on("open", () => ws.send(JSON.stringify({ type: "auth", ticket })));
    ws.on("close", (code) => {
      clearTimeout(timer);
      resolve(code);
    });
    ws.on("error", () => {});
  });
}

describe("fault: Redis restart", () => {
  it("when Redis is away, then logins and WebSocket tickets answer 503 and /readyz names redis; when it is back empty, the same process logs in again and an old ticket is refused", async () => {
    const first = await login();
    expect(first.status).toBe(200);
    const token = first.body.accessToken as string;
    const oldTicket = (await post("/api/auth/ws-ticket", undefined, token)).body.ticket as string;
    expect(oldTicket).toEqual(expect.any(String));
    const pid = service.child.pid;

    await redis.stop();
    const during = await login();
    expect(during.status).toBe(503);
    expect(during.body.error).toBe("unavailable");
    expect((await post("/api/auth/ws-ticket", undefined, token)).status).toBe(503);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(503);
    expect(JSON.stringify(await ready.json())).toContain("redis");

    await redis.start();
    await waitForHttp(`${base}/readyz`, 200, 30_000);
    expect(service.child.pid).toBe(pid);
    expect(service.child.exitCode).toBeNull();
    const after = await login();
    expect(after.status).toBe(200);
    expect(await useTicket(oldTicket)).toBe(1008);
    const fresh = (await post("/api/auth/ws-ticket", undefined, after.body.accessToken)).body
      .ticket as string;
    expect(await useTicket(fresh)).toBe("open");
  }, 120_000);
});
