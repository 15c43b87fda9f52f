// Fault: the venue answers 429, then 418 (an IP ban), each with Retry-After, in the middle of a
// stream of opens and closes through two running Warden api processes taking turns, each
// without MASTER_KEYS, and two signer processes executing the intents (issue 19). The pause
// one signer was answered is honoured by both (shared through Redis; no call reaches the venue
// until Retry-After has passed — counted at the fake), the user is told how long to wait,
// nothing is doubled (one executed order and one audit row per acknowledged action) and trading
// resumes by itself afterwards.
import { randomBytes } from "node:crypto";
import bcrypt from "bcrypt";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { prehashPassword } from "../../src/domain/accounts/password";
import { generateIntakeKey } from "../../src/domain/vault";
import { CACHE_MS } from "../../src/infra/venues/rate-gate";
import {
  createTestDatabase,
  createTestRedis,
  type TestDatabase,
  testEnv,
} from "../support/context";
import { baseEnv, freePort, type Spawned, spawnProcess, waitForHttp } from "../support/process";
import {
  BINANCE_DEFAULT_RESTRICTIONS,
  type FakeBinance,
  startFakeBinance,
} from "../support/venues/binance";

const PASSWORD = "a long unique passphrase";
const PAUSE_S = 3;
const bkey = {
  apiKey: `RL${randomBytes(9).toString("hex")}`,
  secret: `RS${randomBytes(18).toString("hex")}`,
};
const redis = createTestRedis();
let database: TestDatabase;
let binance: FakeBinance;
let services: Spawned[] = [];
/** The two api processes' origins; requests take turns between them. */
let bases: string[] = [];
let db: pg.Client;

beforeAll(async () => {
  binance = await startFakeBinance({
    keys: { [bkey.apiKey]: { secret: bkey.secret, restrictions: BINANCE_DEFAULT_RESTRICTIONS } },
  });
  database = await createTestDatabase();
  const ports = [await freePort(), await freePort()];
  bases = ports.map((p) => `http://127.0.0.1:${p}`);
  const env = testEnv({
    PUBLIC_URL: bases[0]!,
    DATABASE_URL: database.url,
    REDIS_URL: redis.url,
    REDIS_PREFIX: redis.prefix,
    BCRYPT_COST: "4",
    HIBP_FAIL_MODE: "open",
    HIBP_API_URL: "http://127.0.0.1:9",
    VENUE_URL_BINANCEUSDM: binance.url,
    LOG_LEVEL: "warn",
  });
  // The API and the signer alone: no worker job calls the venue behind the stream's back. Two
  // of each, as in production, on one database and one Redis: the api processes hold no
  // MASTER_KEYS and send every trade to a signer, which alone calls the venue.
  const { MASTER_KEYS, ...apiEnv } = env;
  const signerEnv = { ...env, MASTER_KEYS, SIGNER_INTAKE_KEY: `1:${generateIntakeKey()}` };
  const signers = [0, 1].map(() =>
    spawnProcess(
      "node",
      ["--import", "tsx", "src/main.ts", "--roles", "signer"],
      baseEnv(signerEnv),
    ),
  );
  const apis = ports.map((port) =>
    spawnProcess(
      "node",
      ["--import", "tsx", "src/main.ts", "--roles", "api"],
      baseEnv({ ...apiEnv, PORT: String(port) }),
    ),
  );
  services = [...signers, ...apis];
  await Promise.all([
    ...signers.map((p) => p.waitForOutput(/Roles +signer/, 120_000)),
    ...bases.map((b) => waitForHttp(`${b}/readyz`, 200, 120_000)),
  ]);
  const hash = await bcrypt.hash(
    prehashPassword(Buffer.from(env.PASSWORD_PEPPER!, "utf8"), PASSWORD),
    4,
  );
  db = new pg.Client({ connectionString: database.url });
  await db.connect();
  await db.query(
    `insert into users (email, password_hash, email_confirmed_at)
     values ('limited@example.com', $1, now())`,
    [hash],
  );
}, 150_000);

afterAll(async () => {
  for (const s of services) s.kill("SIGKILL");
  await Promise.all(services.map((s) => s.exited));
  await db?.end();
  await database?.drop();
  await redis.cleanup();
  await binance?.close();
});

// biome-ignore lint/suspicious/noExplicitAny: answers are JSON whose shape the assertions check
type Json = Record<string, any>;

async function call(
  method: string,
  path: string,
  opts: { body?: unknown; token?: string; headers?: Record<string, string>; via?: number } = {},
): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${bases[opts.via ?? 0]}${path}`, {
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

describe("fault: venue rate limit and ban during a stream of opens", () => {
  it("when the venue answers 429 and then 418 with Retry-After to one of two signers behind two api processes, then no call from either reaches it until the time given, the user is told how long to wait, nothing is doubled and trading resumes by itself", async () => {
    const login = await call("POST", "/api/auth/login", {
      body: { email: "limited@example.com", password: PASSWORD },
    });
    const token = login.body.accessToken as string;
    await call("POST", "/api/auth/step-up", { body: { password: PASSWORD }, token });
    const key = await call("POST", "/api/keys", {
      body: { venue: "binanceusdm", ...bkey },
      token,
    });
    expect(key.status).toBe(201);
    const keyId = key.body.key.id as string;

    const acknowledged = { opens: new Set<string>(), closes: new Set<string>() };
    const statuses: number[] = [];
    let turn = 0;
    /** One open-then-close round on one api process, the next round on the other. */
    const step = async (via = turn++ % 2): Promise<{ status: number; body: Json }> => {
      const idem = `rl-${randomBytes(8).toString("hex")}`;
      const r = await call("POST", "/api/trades", {
        body: { symbol: "BTC/USDT:USDT", side: "long", size: 0.01, keyId, confirm: true },
        token,
        headers: { "idempotency-key": idem },
        via,
      });
      statuses.push(r.status);
      if (r.status !== 201) return r;
      acknowledged.opens.add(r.body.trade.id as string);
      const c = await call("POST", `/api/trades/${r.body.trade.id}/close`, { token, via });
      statuses.push(c.status);
      expect(c.status).toBe(200);
      acknowledged.closes.add(r.body.trade.id as string);
      return r;
    };

    for (let i = 0; i < 3; i++) expect((await step()).status).toBe(201);

    for (const [status, wording] of [
      [429, /^Binance is rate-limiting this key; try again in [1-3] s\.$/],
      [
        418,
        /^Binance has temporarily banned Warden's requests for too many calls; try again in [1-3] s\.$/,
      ],
    ] as const) {
      binance.limitNext(status, PAUSE_S);
      const limited = await step(0);
      const pausedAt = Date.now();
      // Temporarily unavailable, with the venue's reason: 503, never a 500 or a 502.
      expect(limited.status).toBe(503);
      expect(limited.body.message).toMatch(wording);
      // The other process trusts its last read of the shared pauses for at most CACHE_MS.
      await new Promise((res) => setTimeout(res, CACHE_MS));
      // The stream goes on through both processes: every request in the pause is refused with
      // the wait, and none reaches the venue.
      const sent = binance.requests.length;
      while (Date.now() < pausedAt + (PAUSE_S - 1) * 1_000) {
        const r = await step();
        expect(r.status).toBe(503);
        expect(r.body.message).toMatch(wording);
        await new Promise((res) => setTimeout(res, 150));
      }
      expect(binance.requests.length).toBe(sent);
      // Afterwards trading resumes with no restart and no intervention.
      await new Promise((res) =>
        setTimeout(res, Math.max(0, pausedAt + PAUSE_S * 1_000 + 200 - Date.now())),
      );
      for (let i = 0; i < 2; i++) expect((await step()).status).toBe(201);
    }

    expect(statuses.filter((s) => s === 500)).toEqual([]);
    // Nothing doubled: one executed order per acknowledged open and close, one audit row each.
    expect(binance.executedOrders(bkey.apiKey)).toHaveLength(
      acknowledged.opens.size + acknowledged.closes.size,
    );
    expect(acknowledged.opens.size).toBe(7);
    const audit = await db.query<{ action: string; trade_id: string }>(
      "select action, trade_id::text from trade_audit_log where outcome = 'ok' order by id",
    );
    expect(
      audit.rows
        .filter((r) => r.action === "open")
        .map((r) => r.trade_id)
        .sort(),
    ).toEqual([...acknowledged.opens].sort());
    expect(
      audit.rows
        .filter((r) => r.action === "close")
        .map((r) => r.trade_id)
        .sort(),
    ).toEqual([...acknowledged.closes].sort());
    expect(binance.positions(bkey.apiKey)).toEqual([]);
    for (const s of services) expect(s.child.exitCode).toBeNull();
  }, 120_000);
});
