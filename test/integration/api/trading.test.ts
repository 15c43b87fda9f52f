// Trading over HTTP (paper and a fake Binance): one audit row per action with source api and the
// client IP (through a trusted proxy), account_ips recorded, idempotent opens, failures audited,
// and each caller sees only their own audit entries.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { confirmationToken } from "../../support/email-confirmation";
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
  const confirm = await confirmationToken(w.smtp, email);
  await api("POST", "/api/auth/email/confirm", { body: { token: confirm } });
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
      body: { confirm: true, symbol: "BTC", side: "long", size: 0.02, keyId: paperKey },
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
      body: { confirm: true, symbol: "ETH", side: "short", size: 1, keyId: paperKey },
      token,
      headers,
    });
    const b = await api("POST", "/api/trades", {
      body: { confirm: true, symbol: "ETH", side: "short", size: 1, keyId: paperKey },
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

  it("when a request is retried with its Idempotency-Key after the market moved past a rule, then the first trade is the answer, not a pre-trade refusal", async () => {
    const headers = { "idempotency-key": `open-${hex(8)}` };
    const body = { confirm: true, symbol: "BTC", side: "long", size: 0.1, keyId: paperKey };
    const a = await api("POST", "/api/trades", { body, token, headers });
    expect(a.status).toBe(201);
    // The price jumps so far that the same order would now need far more margin than is free.
    await db.query(
      "insert into paper_price_overrides (symbol, price) values ('BTC/USDT:USDT', 10000000)",
    );
    const b = await api("POST", "/api/trades", { body, token, headers });
    await db.query("delete from paper_price_overrides where symbol = 'BTC/USDT:USDT'");
    expect(b.status).toBe(201);
    expect(b.body.trade.id).toBe(a.body.trade.id);
    const opens = (await audit()).filter(
      (r) => r.action === "open" && r.trade_id === a.body.trade.id,
    );
    expect(opens).toHaveLength(1);
    expect((await api("POST", `/api/trades/${a.body.trade.id}/close`, { token })).status).toBe(200);
  });

  it("when the symbol is not listed, then 422 names the pre-trade rule and nothing is sent or audited", async () => {
    const before = (await db.query("select count(*)::int as n from trades")).rows[0].n;
    const audited = (await audit()).length;
    const res = await api("POST", "/api/trades", {
      body: { confirm: true, symbol: "NOPE", side: "long", size: 1, keyId: paperKey },
      token,
    });
    expect(res.status).toBe(422);
    expect(res.body).toEqual({
      error: "pre_trade_refused",
      rule: "symbol",
      message: "NOPE-PERP is not listed on paper.",
    });
    expect((await audit()).length).toBe(audited);
    expect((await db.query("select count(*)::int as n from trades")).rows[0].n).toBe(before);
  });

  it("when an order breaks a pre-trade rule, then 422 names the rule and its numbers; without confirm the answer is the quote and nothing is sent", async () => {
    await db.query(
      `insert into paper_price_overrides (symbol, price) values ('BTC/USDT:USDT', 60000)
       on conflict (symbol) do update set price = excluded.price`,
    );
    const audited = (await audit()).length;
    // The paper balance after this file's earlier trades.
    const free = (
      await db.query(
        `select b.total::float as total from paper_balances b
         join exchange_credentials c on c.wallet_address = b.account where c.id = $1`,
        [paperKey],
      )
    ).rows[0].total as number;
    const freeText = free.toLocaleString("en-US", {
      minimumFractionDigits: 2,
      maximumFractionDigits: 2,
    });
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ size: 0.0015 }, "lot_step", "Size 0.0015 is not a multiple of BTC-PERP's lot step 0.001."],
      [{ size: 101 }, "max_size", "Size 101 is above BTC-PERP's maximum of 100."],
      [
        { size: 0.001, leverage: 101 },
        "leverage",
        "Leverage 101x is outside BTC-PERP's bracket of 1–100x.",
      ],
      [{ size: 1 }, "margin", `Needs 60,000.00 USDT margin (incl. 0.00 fee), ${freeText} free.`],
      [
        { size: 0.01, stopLoss: 61_000 },
        "stop_loss",
        "Stop-loss 61,000 must be below the mark 60,000 for a long.",
      ],
      [
        { size: 0.01, takeProfit: 59_000 },
        "take_profit",
        "Take-profit 59,000 must be above the mark 60,000 for a long.",
      ],
      [{ size: "1usdt" }, "min_size", "Size 0 is below BTC-PERP's minimum of 0.001."],
    ];
    for (const [extra, rule, message] of cases) {
      const res = await api("POST", "/api/trades", {
        body: { confirm: true, symbol: "BTC", side: "long", keyId: paperKey, ...extra },
        token,
      });
      expect([res.status, res.body], rule).toEqual([
        422,
        { error: "pre_trade_refused", rule, message },
      ]);
    }
    const quote = await api("POST", "/api/trades", {
      body: { symbol: "btc", side: "long", size: "$600", leverage: 5, keyId: paperKey },
      token,
    });
    expect(quote.status).toBe(428);
    expect(quote.body).toMatchObject({
      error: "confirmation_required",
      quote: {
        symbol: "BTC/USDT:USDT",
        display: "BTC-PERP",
        size: 0.01,
        notional: 600,
        margin: 120,
      },
    });
    expect((await audit()).length).toBe(audited);
    await db.query("delete from paper_price_overrides");
  });

  it("when a trade goes through the fake Binance, then it is signed, filled, audited and closed", async () => {
    const key = await api("POST", "/api/keys", { body: { venue: "binanceusdm", ...bkey }, token });
    expect(key.status).toBe(201);
    const opened = await api("POST", "/api/trades", {
      body: {
        confirm: true,
        symbol: "BTC/USDT:USDT",
        side: "long",
        size: 0.01,
        keyId: key.body.key.id,
      },
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
    const body = { confirm: true, symbol: "DOGE", side: "long", size: 100, keyId: paperKey };
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
      body: { confirm: true, symbol: "SOL", side: "long", size: 1, keyId: paperKey },
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

  it("when the reports are asked over HTTP, then they equal the ledger of closed trades", async () => {
    const { rows } = await db.query(
      `select count(*)::int as n, coalesce(sum(realized_pnl), 0)::float as pnl from trades t
       join users u on u.id = t.user_id where u.email = 'trader@example.com' and t.status = 'closed'
         and t.realized_pnl is not null`,
    );
    const profit = await api("GET", "/api/reports/profit", { token });
    expect(profit.status).toBe(200);
    expect(profit.body.trades).toBe(rows[0].n);
    expect(profit.body.realizedPnl).toBeCloseTo(rows[0].pnl, 6);
    const daily = await api("GET", "/api/reports/daily?n=3", { token });
    expect(daily.body.periods).toHaveLength(3);
    expect(daily.body.periods[0].trades).toBe(rows[0].n);
    expect((await api("GET", "/api/reports/weekly?n=0", { token })).status).toBe(400);
    expect((await api("GET", "/api/reports/performance")).status).toBe(401);
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
