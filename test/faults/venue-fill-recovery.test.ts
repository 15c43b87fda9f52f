// Fault: an open whose order filled at the venue (paper) while the database write after it
// failed — the trade's audit append refused, deterministically, by a trigger this test installs
// on the audit table and then removes ("the database comes back"). Nothing may be lost or
// doubled: the recovery job finds the order by its client order id and records the trade with
// its audit row, the Idempotency-Key resolves to it, and its slot is freed when it closes.
import { randomBytes } from "node:crypto";
import bcrypt from "bcrypt";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { prehashPassword } from "../../src/domain/accounts/password";
import { generateIntakeKey } from "../../src/domain/vault";
import {
  createTestDatabase,
  createTestRedis,
  type TestDatabase,
  testEnv,
} from "../support/context";
import { baseEnv, freePort, type Spawned, spawnProcess, waitForHttp } from "../support/process";

const PASSWORD = "a long unique passphrase";
const redis = createTestRedis();
let database: TestDatabase;
let service: Spawned;
let signer: Spawned;
let base: string;
let db: pg.Client;

beforeAll(async () => {
  database = await createTestDatabase();
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const env = testEnv({
    PORT: String(port),
    PUBLIC_URL: base,
    DATABASE_URL: database.url,
    REDIS_URL: redis.url,
    REDIS_PREFIX: redis.prefix,
    BCRYPT_COST: "4",
    HIBP_FAIL_MODE: "open",
    HIBP_API_URL: "http://127.0.0.1:9",
    LOG_LEVEL: "warn",
  });
  // As production runs them: api and worker without MASTER_KEYS; a signer process executes the
  // opens and runs the recovery job (issue 19).
  const { MASTER_KEYS, ...callerEnv } = env;
  signer = spawnProcess(
    "node",
    ["--import", "tsx", "src/main.ts", "--roles", "signer"],
    baseEnv({ ...env, MASTER_KEYS, SIGNER_INTAKE_KEY: `1:${generateIntakeKey()}` }),
  );
  service = spawnProcess(
    "node",
    ["--import", "tsx", "src/main.ts", "--roles", "api,worker"],
    baseEnv(callerEnv),
  );
  await Promise.all([
    signer.waitForOutput(/Roles +signer/, 90_000),
    waitForHttp(`${base}/readyz`, 200, 90_000),
  ]);
  const hash = await bcrypt.hash(
    prehashPassword(Buffer.from(env.PASSWORD_PEPPER!, "utf8"), PASSWORD),
    4,
  );
  db = new pg.Client({ connectionString: database.url });
  await db.connect();
  await db.query(
    `insert into users (email, password_hash, email_confirmed_at)
     values ('recover@example.com', $1, now())`,
    [hash],
  );
}, 120_000);

afterAll(async () => {
  service?.kill("SIGKILL");
  signer?.kill("SIGKILL");
  await Promise.all([service?.exited, signer?.exited]);
  await db?.end();
  await database?.drop();
  await redis.cleanup();
});

// biome-ignore lint/suspicious/noExplicitAny: answers are JSON whose shape the assertions check
type Json = Record<string, any>;

async function call(
  method: string,
  path: string,
  opts: { body?: unknown; token?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      "content-type": "application/json",
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
      ...opts.headers,
    },
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    signal: AbortSignal.timeout(20_000),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Json) : {} };
}

describe("fault: venue fill whose database write failed", () => {
  it("when the audit append after a paper fill fails, then the recovery job records the trade from the venue by client order id with its one audit row, a replay with the same Idempotency-Key gets that trade and the slot is freed on close", async () => {
    const login = await call("POST", "/api/auth/login", {
      body: { email: "recover@example.com", password: PASSWORD },
    });
    const token = login.body.accessToken as string;
    await call("POST", "/api/auth/step-up", { body: { password: PASSWORD }, token });
    const key = await call("POST", "/api/keys", { body: { venue: "paper" }, token });
    expect(key.status).toBe(201);
    const keyId = key.body.key.id as string;
    const open = (idempotencyKey: string) =>
      call("POST", "/api/trades", {
        body: { symbol: "BTC", side: "long", size: 0.01, keyId, confirm: true },
        token,
        headers: { "idempotency-key": idempotencyKey },
      });

    // The fault: every successful open's audit append is refused by the database.
    await db.query(`
      create function warden_test_refuse_open() returns trigger language plpgsql as $$
        begin raise exception 'test fault: audit append refused'; end $$;
      create trigger warden_test_refuse_open before insert on trade_audit_log for each row
        when (new.action = 'open' and new.outcome = 'ok') execute function warden_test_refuse_open();
    `);
    const idem = `recover-${randomBytes(8).toString("hex")}`;
    const first = await open(idem);
    // The signer's attempt failed after the fill and its intent waits to be retried: the API
    // does not know the outcome within its deadline and says so, with the key to check back.
    expect(first.status).toBe(202);
    expect(first.body).toMatchObject({ status: "still_working", idempotencyKey: idem });
    // The order reached the venue; the trade did not reach the database.
    const position = await db.query("select size::float8 as size from paper_positions");
    expect(position.rows).toEqual([{ size: 0.01 }]);
    expect((await db.query("select id from trades")).rows).toEqual([]);
    const intents = await db.query("select idempotency_key from open_intents");
    expect(intents.rows).toEqual([{ idempotency_key: `api:${idem}` }]);
    // While the database still refuses, a replay joins the same intent and is told it is still
    // being worked on (the direct path answers 409 in_progress): never a second order.
    const early = await open(idem);
    expect(early.status).toBe(202);
    expect(early.body).toMatchObject({ status: "still_working", idempotencyKey: idem });
    expect((await db.query("select size::float8 as size from paper_positions")).rows).toEqual([
      { size: 0.01 },
    ]);

    // The database accepts writes again; nobody restarts anything.
    await db.query(
      "drop trigger warden_test_refuse_open on trade_audit_log; drop function warden_test_refuse_open();",
    );
    // The request is long dead: its intent is older than the recovery threshold (5 minutes).
    await db.query("update open_intents set created_at = now() - interval '6 minutes'");
    let replay = early;
    const deadline = Date.now() + 120_000;
    // The intent's next attempt (exponential backoff from 15 s) replays what recovery recorded.
    while (Date.now() < deadline && (replay.status === 409 || replay.status === 202)) {
      await new Promise((r) => setTimeout(r, 2_000));
      replay = await open(idem);
    }
    // The replay is answered as the original would have been: 201 with the trade.
    expect(replay.status).toBe(201);
    const trade = replay.body.trade as Json;
    expect(trade).toMatchObject({ symbol: "BTC/USDT:USDT", side: "long", size: 0.01 });

    // Exactly one trade for the order, one audit row for it (from the venue's record), one
    // position of the asked size, and no intent or pending key left.
    const trades = await db.query("select id::text, client_order_id from trades");
    expect(trades.rows).toHaveLength(1);
    expect(trades.rows[0].id).toBe(trade.id);
    expect(trades.rows[0].client_order_id).toMatch(/^[0-9a-f]{32}$/);
    const audit = await db.query(
      "select trade_id::text, details from trade_audit_log where action = 'open' and outcome = 'ok'",
    );
    expect(audit.rows).toHaveLength(1);
    expect(audit.rows[0].trade_id).toBe(trade.id);
    expect(audit.rows[0].details).toMatchObject({
      recovered: "venue_lookup",
      clientOrderId: trades.rows[0].client_order_id,
      filled: 0.01,
    });
    expect((await db.query("select size::float8 as size from paper_positions")).rows).toEqual([
      { size: 0.01 },
    ]);
    expect((await db.query("select 1 from open_intents")).rows).toEqual([]);
    const request = await db.query(
      "select trade_id::text from trade_requests where idempotency_key = $1",
      [`api:${idem}`],
    );
    expect(request.rows).toEqual([{ trade_id: trade.id }]);

    // The slot is the trade's, not leaked: a second open on BTC is refused while it is open,
    // and after the close a new open on BTC goes through.
    const second = await open(`recover-${randomBytes(8).toString("hex")}`);
    expect(second.status).toBe(409);
    expect(second.body.error).toBe("already_open");
    const closed = await call("POST", `/api/trades/${trade.id}/close`, { token });
    expect(closed.status).toBe(200);
    const again = await open(`recover-${randomBytes(8).toString("hex")}`);
    expect(again.status).toBe(201);
    expect(service.child.exitCode).toBeNull();
    expect(signer.child.exitCode).toBeNull();
  }, 180_000);
});
