// Trading over HTTP (paper and a fake Binance): one audit row per action with source api and the
// client IP (through a trusted proxy), account_ips recorded, idempotent opens, failures audited,
// and each caller sees only their own audit entries.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BINANCE_DEFAULT_RESTRICTIONS,
  type FakeBinance,
  startFakeBinance,
} from "../../support/venues/binance";
import { startTestWarden, type TestWarden } from "../../support/warden-harness";

const hex = (n: number) => randomBytes(n).toString("hex");
const bkey = { apiKey: `AK${hex(30)}`, secret: `SK${hex(30)}` };
let binance: FakeBinance;
let w: TestWarden;
let db: pg.Client;

beforeAll(async () => {
  binance = await startFakeBinance({
    keys: { [bkey.apiKey]: { secret: bkey.secret, restrictions: BINANCE_DEFAULT_RESTRICTIONS } },
  });
  w = await startTestWarden({
    env: { VENUE_URL_BINANCEUSDM: binance.url, TRUSTED_PROXIES: "127.0.0.1,::1" },
  });
  db = new pg.Client({ connectionString: w.db.url });
  await db.connect();
});
afterAll(async () => {
  await db.end();
  await w.stop();
  await binance.close();
});

// biome-ignore lint/suspicious/noExplicitAny: answers are JSON whose shape the assertions check
type Json = Record<string, any>;

async function api(
  method: string,
  path: string,
  opts: { body?: unknown; token?: string; ip?: string; headers?: Record<string, string> } = {},
) {
  const res = await fetch(`${w.base}${path}`, {
    method,
    headers: {
      "content-type": "application/json",
      "x-forwarded-for": opts.ip ?? "198.51.100.7",
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
      ...opts.headers,
    },
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as Json };
}

async function user(email: string) {
  const creds = { email, password: "a long unique passphrase" };
  await api("POST", "/api/auth/register", { body: creds });
  const token = (await api("POST", "/api/auth/login", { body: creds })).body.accessToken as string;
  // Step-up is earned, never born: connecting a key needs one.
  await api("POST", "/api/auth/step-up", { body: { password: creds.password }, token });
  return token;
}

const audit = async () =>
  (
    await db.query(
      "select action, trade_id::text as trade_id, venue, source, host(ip) as ip, outcome from trade_audit_log order by id",
    )
  ).rows;

describe("trading API", () => {
  let token: string;
  let paperKey: string;

  it("when a trade is opened, modified and closed on the paper venue, then each writes one audit row with source api and the client IP", async () => {
    token = await user("trader@example.com");
    paperKey = (await api("POST", "/api/keys", { body: { venue: "paper" }, token })).body.key.id;
    const opened = await api("POST", "/api/trades", {
      body: { symbol: "BTC", side: "long", size: 0.02, keyId: paperKey },
      token,
      ip: "198.51.100.7",
    });
    expect(opened.status).toBe(201);
    const id = opened.body.trade.id as string;
    expect(opened.body.trade).toMatchObject({
      symbol: "BTC/USDT:USDT",
      side: "long",
      size: 0.02,
      status: "open",
      source: "api",
    });
    expect(
      (await api("PATCH", `/api/trades/${id}`, { body: { stopLoss: 40000 }, token })).status,
    ).toBe(200);
    const closed = await api("POST", `/api/trades/${id}/close`, { token });
    expect(closed.body.trade.status).toBe("closed");
    expect(await audit()).toEqual([
      {
        action: "open",
        trade_id: id,
        venue: "paper",
        source: "api",
        ip: "198.51.100.7",
        outcome: "ok",
      },
      {
        action: "modify",
        trade_id: id,
        venue: "paper",
        source: "api",
        ip: "198.51.100.7",
        outcome: "ok",
      },
      {
        action: "close",
        trade_id: id,
        venue: "paper",
        source: "api",
        ip: "198.51.100.7",
        outcome: "ok",
      },
    ]);
    const ips = await db.query("select host(ip) as ip from account_ips");
    expect(ips.rows).toEqual([{ ip: "198.51.100.7" }]);
  });

  it("when the same Idempotency-Key is sent twice, then one position is opened and both answers name it", async () => {
    const headers = { "idempotency-key": `open-${hex(8)}` };
    const a = await api("POST", "/api/trades", {
      body: { symbol: "ETH", side: "short", size: 1, keyId: paperKey },
      token,
      headers,
    });
    const b = await api("POST", "/api/trades", {
      body: { symbol: "ETH", side: "short", size: 1, keyId: paperKey },
      token,
      headers,
    });
    expect(a.status).toBe(201);
    expect(b.body.trade.id).toBe(a.body.trade.id);
    const { rows } = await db.query(
      "select count(*)::int as n from trades where symbol = 'ETH/USDT:USDT'",
    );
    expect(rows[0].n).toBe(1);
    const opens = (await audit()).filter(
      (r) => r.action === "open" && r.trade_id === a.body.trade.id,
    );
    expect(opens).toHaveLength(1);
  });

  it("when the venue refuses the order, then 502 names it and the failure is audited without a trade", async () => {
    const before = (await db.query("select count(*)::int as n from trades")).rows[0].n;
    const res = await api("POST", "/api/trades", {
      body: { symbol: "NOPE", side: "long", size: 1, keyId: paperKey },
      token,
    });
    expect(res.status).toBe(502);
    expect(res.body).toMatchObject({ error: "venue_failed", venueError: "unknown_symbol" });
    expect((await audit()).at(-1)).toMatchObject({
      action: "open",
      trade_id: null,
      outcome: "failed",
    });
    expect((await db.query("select count(*)::int as n from trades")).rows[0].n).toBe(before);
  });

  it("when a trade goes through the fake Binance, then it is signed, filled, audited and closed", async () => {
    const key = await api("POST", "/api/keys", { body: { venue: "binanceusdm", ...bkey }, token });
    expect(key.status).toBe(201);
    const opened = await api("POST", "/api/trades", {
      body: { symbol: "BTC/USDT:USDT", side: "long", size: 0.01, keyId: key.body.key.id },
      token,
    });
    expect(opened.status).toBe(201);
    expect(binance.positions(bkey.apiKey)).toEqual([
      expect.objectContaining({ symbol: "BTCUSDT", amount: 0.01 }),
    ]);
    expect((await api("POST", `/api/trades/${opened.body.trade.id}/close`, { token })).status).toBe(
      200,
    );
    expect(binance.positions(bkey.apiKey)).toEqual([]);
    expect(binance.signatureFailures).toBe(0);
    const rows = (await audit()).filter((r) => r.venue === "binanceusdm");
    expect(rows.map((r) => [r.action, r.outcome])).toEqual([
      ["open", "ok"],
      ["close", "ok"],
    ]);
  });

  it("when two opens on the same key and coin arrive at the same time, then exactly one order is placed", async () => {
    const body = { symbol: "DOGE", side: "long", size: 100, keyId: paperKey };
    const [a, b] = await Promise.all([
      api("POST", "/api/trades", { body, token }),
      api("POST", "/api/trades", { body: { ...body, symbol: "DOGEUSDT" }, token }),
    ]);
    expect([a.status, b.status].sort()).toEqual([201, 409]);
    expect([a.body.error, b.body.error]).toContain("already_open");
    const { rows } = await db.query(
      "select size::float as size from paper_positions where symbol = 'DOGE/USDT:USDT'",
    );
    expect(rows).toEqual([{ size: 100 }]);
    const winner = a.status === 201 ? a : b;
    expect((await api("POST", `/api/trades/${winner.body.trade.id}/close`, { token })).status).toBe(
      200,
    );
    // Closed, the slot is free again.
    const again = await api("POST", "/api/trades", { body, token });
    expect(again.status).toBe(201);
    await api("POST", `/api/trades/${again.body.trade.id}/close`, { token });
  });

  it("when one trade is closed twice at the same time, then exactly one close succeeds and is audited", async () => {
    const opened = await api("POST", "/api/trades", {
      body: { symbol: "SOL", side: "long", size: 1, keyId: paperKey },
      token,
    });
    const id = opened.body.trade.id as string;
    const [a, b] = await Promise.all([
      api("POST", `/api/trades/${id}/close`, { token }),
      api("POST", `/api/trades/${id}/close`, { token }),
    ]);
    expect([a.status, b.status].sort()).toEqual([200, 409]);
    expect([a.body.error, b.body.error]).toContain("trade_closed");
    const closes = (await audit()).filter((r) => r.action === "close" && r.trade_id === id);
    expect(closes).toHaveLength(1);
  });

  it("when another user reads /api/audit, then they see only their own entries", async () => {
    const mine = await api("GET", "/api/audit?limit=100", { token });
    expect(mine.body.entries.length).toBe((await audit()).length);
    expect(JSON.stringify(mine.body)).not.toContain("prevHash");
    const other = await user("other@example.com");
    expect((await api("GET", "/api/audit", { token: other })).body.entries).toEqual([]);
    expect((await api("GET", "/api/trades", { token: other })).body.trades).toEqual([]);
    expect((await api("GET", "/api/trades", { token })).body.trades.length).toBeGreaterThanOrEqual(
      3,
    );
  });
});
