// Trading over HTTP with a separate signer (a process without the signer role, issue 19): the api role calls no
// venue itself; quotes, opens, changes, positions and partial-close previews are intents that a
// signer (the real processor on the paper venue, in this process) executes. The answers are the
// direct path's; a stopped signer gives 202 "still working", a retry never duplicates, and the
// user is notified once the signer has done it.
import { Redis } from "ioredis";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { parseMasterKeys } from "../../../src/domain/vault";
import { createOrm } from "../../../src/infra/database";
import type { WorkerPool } from "../../../src/jobs/registry";
import { confirmationToken } from "../../support/email-confirmation";
import { startTestSigner } from "../../support/signer-fixtures";
import { startTestWarden, type TestWarden } from "../../support/warden-harness";

let w: TestWarden;
let db: pg.Client;
let orm: Awaited<ReturnType<typeof createOrm>>;
let sub: Redis;
const pushed: Array<{ userId: number; event: { type: string; event: string; text: string } }> = [];
const signers: WorkerPool[] = [];

beforeAll(async () => {
  w = await startTestWarden({
    env: { TRUSTED_PROXIES: "127.0.0.1,::1" },
    // The worker sends the sign-up mail; it runs no signer.
    roles: ["api", "worker"],
  });
  db = new pg.Client({ connectionString: w.db.url });
  await db.connect();
  orm = await createOrm({ url: w.db.url, poolMax: 4 });
  // The web channel of trade notices: what the user's open sockets would be sent.
  sub = new Redis(w.redis.url);
  await sub.subscribe(`${w.redis.prefix}ws:events`);
  sub.on("message", (_channel, message) => pushed.push(JSON.parse(message)));
});
afterEach(async () => {
  await Promise.all(signers.splice(0).map((s) => s.close(2_000)));
});
afterAll(async () => {
  sub.disconnect();
  await orm.close();
  await db.end();
  await w.stop();
});

function startSigner() {
  const pool = startTestSigner({
    orm,
    redisUrl: w.redis.url,
    bullPrefix: `${w.redis.prefix}bull`,
    keyRing: parseMasterKeys(w.signerEnv.MASTER_KEYS!),
    pepper: w.warden.config.auditPepper,
    // The signer keeps the notices promised to callers told "still working".
    appPrefix: w.redis.prefix,
  });
  signers.push(pool);
  return pool;
}

// biome-ignore lint/suspicious/noExplicitAny: answers are JSON whose shape the assertions check
type Json = Record<string, any>;

async function api(
  method: string,
  path: string,
  opts: { body?: unknown; token?: string; headers?: Record<string, string> } = {},
) {
  const res = await fetch(`${w.base}${path}`, {
    method,
    headers: {
      "content-type": "application/json",
      "x-forwarded-for": "198.51.100.7",
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
      ...opts.headers,
    },
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as Json };
}

/** A signed-in user with a recent step-up and a paper key: [token, key id, user id]. */
async function trader(email: string): Promise<[string, string, string]> {
  const creds = { email, password: "a long unique passphrase" };
  await api("POST", "/api/auth/register", { body: creds });
  const confirm = await confirmationToken(w.smtp, email);
  await api("POST", "/api/auth/email/confirm", { body: { token: confirm } });
  const token = (await api("POST", "/api/auth/login", { body: creds })).body.accessToken as string;
  await api("POST", "/api/auth/step-up", { body: { password: creds.password }, token });
  const key = (await api("POST", "/api/keys", { body: { venue: "paper" }, token })).body.key.id;
  const { rows } = await db.query("select id::text as id from users where email = $1", [email]);
  return [token, key as string, rows[0].id as string];
}

const tradesOf = async (userId: string) =>
  (await db.query("select id::text as id from trades where user_id = $1 order by id", [userId]))
    .rows as Array<{ id: string }>;

const auditOf = async (tradeId: string) =>
  (
    await db.query(
      "select action, source, host(ip) as ip, outcome from trade_audit_log where trade_id = $1 order by id",
      [tradeId],
    )
  ).rows;

const entryNotices = (userId: string) =>
  pushed
    .filter((p) => String(p.userId) === userId && p.event.event === "entry")
    .map((p) => p.event.text);

describe("trading API with a separate signer", () => {
  it("when a trade is quoted, opened, shown, modified, partly and wholly closed, then each answers as the direct path does and writes exactly one trade and one audit row per action", async () => {
    startSigner();
    const [token, keyId, userId] = await trader("remote-1@example.com");
    const order = { symbol: "BTC", side: "long", size: 0.02, keyId };
    const quoted = await api("POST", "/api/trades", { body: order, token });
    expect(quoted.status).toBe(428);
    expect(quoted.body.quote).toMatchObject({ symbol: "BTC/USDT:USDT", size: 0.02 });

    const opened = await api("POST", "/api/trades", { body: { ...order, confirm: true }, token });
    expect(opened.status).toBe(201);
    const id = opened.body.trade.id as string;
    expect(opened.body.trade).toMatchObject({
      symbol: "BTC/USDT:USDT",
      side: "long",
      size: 0.02,
      status: "open",
      source: "api",
    });
    expect(typeof opened.body.trade.openedAt).toBe("string");

    const positions = await api("GET", "/api/positions", { token });
    expect(positions.status).toBe(200);
    expect(positions.body.accounts).toHaveLength(1);
    expect(positions.body.accounts[0]).toMatchObject({ credentialId: keyId, venue: "paper" });
    expect(positions.body.accounts[0].positions).toHaveLength(1);
    expect(positions.body.open.map((p: Json) => p.id ?? p.tradeId)).toEqual([id]);

    const modified = await api("PATCH", `/api/trades/${id}`, { body: { stopLoss: 40000 }, token });
    expect(modified.status).toBe(200);
    expect(modified.body.trade.stopLoss).toBe(40000);
    const half = await api("POST", `/api/trades/${id}/close`, { body: { percent: 50 }, token });
    expect(half.status).toBe(200);
    expect(half.body.trade.size).toBe(0.01);
    const closed = await api("POST", `/api/trades/${id}/close`, { token });
    expect(closed.status).toBe(200);
    expect(closed.body.trade.status).toBe("closed");

    expect(await tradesOf(userId)).toEqual([{ id }]);
    const row = { source: "api", ip: "198.51.100.7", outcome: "ok" };
    expect(await auditOf(id)).toEqual([
      { action: "open", ...row },
      { action: "modify", ...row },
      { action: "modify", ...row },
      { action: "close", ...row },
    ]);
    await expect.poll(() => entryNotices(userId)).toHaveLength(1);
  });

  it("when an order fails a pre-trade rule in the signer, a trade is already closed, or a modify would grow a position, then the status and body are the direct path's; a reused Idempotency-Key is refused with 409; the same order sent again after a close opens a new trade", async () => {
    startSigner();
    const [token, keyId] = await trader("remote-2@example.com");
    const lot = await api("POST", "/api/trades", {
      body: { symbol: "BTC", side: "long", size: 0.0015, keyId, confirm: true },
      token,
    });
    expect(lot.status).toBe(422);
    expect(lot.body).toMatchObject({ error: "pre_trade_refused", rule: "lot_step" });
    // The signer refuses an Idempotency-Key reused for another order: 409 with its reason.
    const headers = { "idempotency-key": "remote-reuse-0001" };
    const refusedFirst = await api("POST", "/api/trades", {
      body: { symbol: "BTC", side: "long", size: 0.0015, keyId, confirm: true },
      token,
      headers,
    });
    expect(refusedFirst.status).toBe(422);
    const reused = await api("POST", "/api/trades", {
      body: { symbol: "BTC", side: "long", size: 0.01, keyId, confirm: true },
      token,
      headers,
    });
    expect(reused.status).toBe(409);
    expect(reused.body).toEqual({
      error: "refused",
      message: "This idempotency key was already used for a different request.",
    });
    const opened = await api("POST", "/api/trades", {
      body: { symbol: "ETH", side: "short", size: 0.1, keyId, confirm: true },
      token,
    });
    expect(opened.status).toBe(201);
    const id = opened.body.trade.id as string;
    expect((await api("POST", `/api/trades/${id}/close`, { token })).status).toBe(200);
    const again = await api("POST", `/api/trades/${id}/close`, { token });
    expect(again.status).toBe(409);
    expect(again.body).toEqual({
      error: "trade_closed",
      message: `Trade #${id} is already closed.`,
    });
    const grow = await api("POST", "/api/trades", {
      body: { symbol: "ETH", side: "short", size: 0.1, keyId, confirm: true },
      token,
    });
    // Without an Idempotency-Key, the same body after the close is a new request, not a retry.
    expect(grow.status).toBe(201);
    expect(grow.body.trade.id).not.toBe(id);
    const grown = await api("PATCH", `/api/trades/${grow.body.trade.id}`, {
      body: { size: 0.5 },
      token,
    });
    expect(grown.status).toBe(422);
    expect(grown.body.error).toBe("size_not_reduced");
  });

  it("when the signer is stopped, then an open answers 202 still working (a quote 503), a retry with the same Idempotency-Key joins it, and once a signer starts the order is opened once and the user is notified once", async () => {
    const [token, keyId, userId] = await trader("remote-3@example.com");
    const body = { symbol: "SOL", side: "long", size: 1, keyId, confirm: true };
    const headers = { "idempotency-key": "remote-open-0001" };
    const first = await api("POST", "/api/trades", { body, token, headers });
    expect(first.status).toBe(202);
    expect(first.body).toMatchObject({
      status: "still_working",
      idempotencyKey: "remote-open-0001",
      check: expect.arrayContaining(["/api/trades?status=open", "/api/positions"]),
    });
    expect(first.body.message).toContain("Still working on it");
    expect((await api("POST", "/api/trades", { body, token, headers })).status).toBe(202);
    // A quote is only a read: not followed, the client asks again.
    const { confirm: _c, ...unconfirmed } = body;
    const quote = await api("POST", "/api/trades", { body: unconfirmed, token });
    expect(quote.status).toBe(503);
    expect(quote.body.error).toBe("still_working");
    expect(await tradesOf(userId)).toEqual([]);

    startSigner();
    await expect.poll(() => tradesOf(userId), { timeout: 30_000 }).toHaveLength(1);
    const id = (await tradesOf(userId))[0]!.id;
    const replay = await api("POST", "/api/trades", { body, token, headers });
    expect(replay.status).toBe(201);
    expect(replay.body.trade.id).toBe(id);
    const listed = await api("GET", "/api/trades?status=open", { token });
    expect(listed.body.trades.map((t: Json) => t.id)).toEqual([id]);
    expect(await tradesOf(userId)).toEqual([{ id }]);
    expect((await auditOf(id)).filter((r) => r.action === "open")).toHaveLength(1);
    await expect.poll(() => entryNotices(userId), { timeout: 10_000 }).toHaveLength(1);
    expect(entryNotices(userId)[0]).toContain(`#${id} SOL-PERP long 1`);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(entryNotices(userId)).toHaveLength(1);
  }, 60_000);
});
