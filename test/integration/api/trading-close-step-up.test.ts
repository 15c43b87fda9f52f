// The settings page's trading API: closing a trade (whole or a share) needs a recent step-up,
// GET /api/positions gives the open trades with their live figures, and GET /api/reports/trades
// pages the history with realised P&L.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { paperPriceCommand } from "../../../src/cli/paper-price";
import { loadConfig } from "../../../src/infra/config";
import { confirmationToken } from "../../support/email-confirmation";
import { startTestWarden, type TestWarden } from "../../support/warden-harness";

let w: TestWarden;
let db: pg.Client;

beforeAll(async () => {
  w = await startTestWarden();
  db = new pg.Client({ connectionString: w.db.url });
  await db.connect();
});
afterAll(async () => {
  await db.end();
  await w.stop();
});

// biome-ignore lint/suspicious/noExplicitAny: answers are JSON whose shape the assertions check
type Json = Record<string, any>;

async function api(method: string, path: string, token?: string, body?: unknown) {
  const res = await fetch(`${w.base}${path}`, {
    method,
    headers: {
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as Json };
}

const creds = { email: "closer@example.com", password: "a long unique passphrase" };
let token: string;
let keyId: string;

async function open(symbol: string, size: number) {
  const r = await api("POST", "/api/trades", token, {
    confirm: true,
    symbol,
    side: "long",
    size,
    keyId,
  });
  expect(r.status).toBe(201);
  return r.body.trade.id as string;
}

const noStepUp = () =>
  db.query(
    "update sessions set step_up_at = null where user_id = (select id from users where email = $1)",
    [creds.email],
  );
const stepUp = async () =>
  expect((await api("POST", "/api/auth/step-up", token, { password: creds.password })).status).toBe(
    200,
  );
async function setPrice(symbol: string, price: number | "clear") {
  const out: string[] = [];
  const io = { out: (l: string) => out.push(l), err: (l: string) => out.push(l) };
  // The operator's CLI, with the whole environment (the signer's keys included).
  const code = await paperPriceCommand(loadConfig(w.signerEnv), [symbol, String(price)], io);
  expect(code, out.join("\n")).toBe(0);
}
const closeAudits = async (id: string) =>
  (
    await db.query("select action from trade_audit_log where trade_id = $1 order by id", [id])
  ).rows.map((r) => r.action);

describe("closing from the settings page", () => {
  beforeAll(async () => {
    await api("POST", "/api/auth/register", undefined, creds);
    const confirm = await confirmationToken(w.smtp, creds.email);
    await api("POST", "/api/auth/email/confirm", undefined, { token: confirm });
    token = (await api("POST", "/api/auth/login", undefined, creds)).body.accessToken as string;
    await stepUp();
    keyId = (await api("POST", "/api/keys", token, { venue: "paper" })).body.key.id as string;
  });

  it("when a session without a step-up closes a trade, then 403 step_up_required, the trade stays open and no close is audited; after a step-up it closes", async () => {
    const id = await open("BTC", 0.02);
    await noStepUp();
    const refused = await api("POST", `/api/trades/${id}/close`, token);
    expect(refused.status).toBe(403);
    expect(refused.body.error).toBe("step_up_required");
    const half = await api("POST", `/api/trades/${id}/close`, token, { percent: 50 });
    expect(half.status).toBe(403);
    expect(half.body.error).toBe("step_up_required");
    const row = await db.query("select status, size::float8 as size from trades where id = $1", [
      id,
    ]);
    expect(row.rows).toEqual([{ status: "open", size: 0.02 }]);
    expect(await closeAudits(id)).toEqual(["open"]);

    await stepUp();
    const closed = await api("POST", `/api/trades/${id}/close`, token);
    expect(closed.status).toBe(200);
    expect(closed.body.trade.status).toBe("closed");
    expect(await closeAudits(id)).toEqual(["open", "close"]);
  });

  it("when PATCH changes a trade's size, then it needs a step-up like a close, and it may only shrink: a larger size is 422 and nothing is sent", async () => {
    const id = await open("BTC", 0.02);
    await noStepUp();
    const refused = await api("PATCH", `/api/trades/${id}`, token, { size: 0.01 });
    expect(refused.status).toBe(403);
    expect(refused.body.error).toBe("step_up_required");
    // Stop-loss and take-profit changes stay without a step-up.
    expect((await api("PATCH", `/api/trades/${id}`, token, { stopLoss: 1000 })).status).toBe(200);

    await stepUp();
    for (const size of [0.05, 0.02]) {
      const grown = await api("PATCH", `/api/trades/${id}`, token, { size });
      expect(grown.status).toBe(422);
      expect(grown.body.error).toBe("size_not_reduced");
      expect(grown.body.message).toContain("can only be reduced");
    }
    const row = await db.query("select size::float8 as size from trades where id = $1", [id]);
    expect(row.rows).toEqual([{ size: 0.02 }]);
    expect(await closeAudits(id)).toEqual(["open", "modify"]);

    const shrunk = await api("PATCH", `/api/trades/${id}`, token, { size: 0.01 });
    expect(shrunk.status).toBe(200);
    expect(shrunk.body.trade.size).toBe(0.01);
    expect((await api("POST", `/api/trades/${id}/close`, token)).status).toBe(200);
  });

  it("when the step-up is older than five minutes, then the close is 401 reauth_required and nothing changes", async () => {
    const id = await open("ETH", 0.5);
    await db.query(
      "update sessions set step_up_at = now() - interval '10 minutes' where user_id = (select id from users where email = $1)",
      [creds.email],
    );
    const refused = await api("POST", `/api/trades/${id}/close`, token);
    expect(refused.status).toBe(401);
    expect(refused.body.error).toBe("reauth_required");
    expect(await closeAudits(id)).toEqual(["open"]);
    await stepUp();
    expect((await api("POST", `/api/trades/${id}/close`, token)).status).toBe(200);
  });

  it("when half a trade is closed, then its size is halved on the lot step and it stays open; a bad percent is 400", async () => {
    const id = await open("SOL", 0.4);
    const half = await api("POST", `/api/trades/${id}/close`, token, { percent: 50 });
    expect(half.status).toBe(200);
    expect(half.body.trade).toMatchObject({ id, status: "open", size: 0.2 });
    expect(await closeAudits(id)).toEqual(["open", "modify"]);
    for (const bad of [
      { percent: 0 },
      { percent: 101 },
      { percent: 12.5 },
      { percent: "50" },
      { all: true },
    ]) {
      const r = await api("POST", `/api/trades/${id}/close`, token, bad);
      expect(r.status).toBe(400);
      expect(r.body.error).toBe("invalid_request");
    }
    expect((await api("POST", `/api/trades/${id}/close`, token)).status).toBe(200);
  });

  it("when half of a 0.01 BTC trade is closed, then 0.005 is closed on the market's 0.001 lot step; a part below the minimum is 409 below_minimum and nothing is sent", async () => {
    const id = await open("BTC", 0.01);
    const half = await api("POST", `/api/trades/${id}/close`, token, { percent: 50 });
    expect(half.status).toBe(200);
    expect(half.body.trade).toMatchObject({ id, status: "open", size: 0.005 });
    const tiny = await api("POST", `/api/trades/${id}/close`, token, { percent: 10 });
    expect(tiny.status).toBe(409);
    expect(tiny.body).toEqual({
      error: "below_minimum",
      message: `Closing 10 % of #${id} is 0.0005, below the minimum 0.001 of BTC-PERP on Paper (lot step 0.001).`,
    });
    expect(await closeAudits(id)).toEqual(["open", "modify"]);
    expect((await api("POST", `/api/trades/${id}/close`, token)).status).toBe(200);
  });

  it("when a paper position's unrealised P&L is 0.004 USDT, then GET /api/positions gives 0.004, not 0", async () => {
    await setPrice("BTC", 60_000);
    const id = await open("BTC", 0.001);
    await setPrice("BTC", 60_004);
    const r = await api("GET", "/api/positions", token);
    const p = (r.body.open as Json[]).find((x) => x.id === id)!;
    expect(p).toMatchObject({ entryPrice: 60_000, markPrice: 60_004 });
    expect(p.unrealizedPnl).toBeCloseTo(0.004, 10);
    expect(p.unrealizedPnlPercent).toBeCloseTo((0.004 / 60) * 100, 10);
    await setPrice("BTC", "clear");
    expect((await api("POST", `/api/trades/${id}/close`, token)).status).toBe(200);
  });

  it("when positions are listed, then each open trade comes with id, BTC-PERP-style name, size, entry, mark, P&L, SL and TP", async () => {
    const id = await open("BTC", 0.01);
    await api("PATCH", `/api/trades/${id}`, token, { stopLoss: 1000, takeProfit: 1_000_000 });
    const r = await api("GET", "/api/positions", token);
    expect(r.status).toBe(200);
    const p = (r.body.open as Json[]).find((x) => x.id === id)!;
    expect(p).toMatchObject({
      id,
      credentialId: keyId,
      venue: "paper",
      venueName: "Paper",
      symbol: "BTC-PERP",
      currency: "USDT",
      side: "long",
      size: 0.01,
      stopLoss: 1000,
      takeProfit: 1_000_000,
      leverage: 1,
    });
    expect(p.entryPrice).toBeGreaterThan(0);
    expect(p.markPrice).toBeGreaterThan(0);
    // The paper venue reports its P&L at full precision (formatting is the display's job).
    expect(p.unrealizedPnl).toBeCloseTo((p.markPrice - p.entryPrice) * 0.01, 8);
    expect(await api("POST", `/api/trades/${id}/close`, token)).toMatchObject({ status: 200 });
  });

  it("when the trade history is paged, then it is newest first with realised P&L and a cursor; a malformed cursor or limit is 400", async () => {
    const first = await api("GET", "/api/reports/trades?limit=2", token);
    expect(first.status).toBe(200);
    const ids = (first.body.trades as Json[]).map((t) => Number(t.id));
    expect(ids).toHaveLength(2);
    expect(ids[0]).toBeGreaterThan(ids[1]!);
    expect(first.body.trades[0]).toMatchObject({ symbol: "BTC-PERP", status: "closed" });
    expect(typeof first.body.trades[0].realizedPnl).toBe("number");
    expect(first.body.nextBefore).toBe(String(ids[1]));
    const next = await api("GET", `/api/reports/trades?limit=2&before=${ids[1]}`, token);
    expect((next.body.trades as Json[]).every((t) => Number(t.id) < ids[1]!)).toBe(true);
    for (const q of ["?before=abc", "?limit=0", "?limit=51", "?before=1&before=2"]) {
      expect((await api("GET", `/api/reports/trades${q}`, token)).status).toBe(400);
    }
    expect((await api("GET", "/api/reports/trades")).status).toBe(401);
  });
});
