// /api/keys against the running service and a fake Bybit (S4.5, S7.1): adding needs a fresh
// step-up; a trade-only key is stored masked; a key that can move funds is refused naming the
// permission; a rejected key is "invalid key"; rotate and revoke; no plaintext stored or logged.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { confirmationToken } from "../../support/email-confirmation";
import { scanPostgres, scanRedis } from "../../support/secret-scan";
import {
  BYBIT_TRADE_ONLY_QUERY_API,
  type FakeBybit,
  startFakeBybit,
} from "../../support/venues/bybit";
import { startTestWarden, type TestWarden } from "../../support/warden-harness";

const hex = (n: number) => randomBytes(n).toString("hex");
const good = { apiKey: `BG${hex(9)}`, secret: `BS${hex(18)}` };
const withdraws = { apiKey: `BW${hex(9)}`, secret: `BX${hex(18)}` };
const next = { apiKey: `BN${hex(9)}`, secret: `BM${hex(18)}` };
const secrets = [good.secret, withdraws.secret, next.secret];

let bybit: FakeBybit;
let w: TestWarden;
let token: string;
beforeAll(async () => {
  bybit = await startFakeBybit({
    keys: {
      [good.apiKey]: { secret: good.secret, queryApi: BYBIT_TRADE_ONLY_QUERY_API },
      [next.apiKey]: { secret: next.secret, queryApi: BYBIT_TRADE_ONLY_QUERY_API },
      [withdraws.apiKey]: {
        secret: withdraws.secret,
        queryApi: {
          ...BYBIT_TRADE_ONLY_QUERY_API,
          permissions: {
            ...(BYBIT_TRADE_ONLY_QUERY_API.permissions as object),
            Wallet: ["Withdraw"],
          },
        },
      },
    },
  });
  w = await startTestWarden({ env: { VENUE_URL_BYBIT: bybit.url } });
  const reg = { email: "keys@example.com", password: "a long unique passphrase" };
  await api("POST", "/api/auth/register", reg);
  await api("POST", "/api/auth/email/confirm", {
    token: await confirmationToken(w.smtp, reg.email),
  });
  token = ((await api("POST", "/api/auth/login", reg)).body as { accessToken: string }).accessToken;
  // Step-up is earned, never born: a fresh sign-in confirms the password once more.
  expect((await api("POST", "/api/auth/step-up", { password: reg.password }, token)).status).toBe(
    200,
  );
});
afterAll(async () => {
  await w.stop();
  await bybit.close();
});

async function api(method: string, path: string, body?: unknown, auth?: string) {
  const res = await fetch(`${w.base}${path}`, {
    method,
    headers: {
      "content-type": "application/json",
      ...(auth ? { authorization: `Bearer ${auth}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

describe("/api/keys", () => {
  it("when called without a token, then 401", async () => {
    expect((await api("GET", "/api/keys")).status).toBe(401);
  });

  it("when a trade-only Bybit key is added, then it is stored and shown masked with scopes and the IP warning", async () => {
    const res = await api("POST", "/api/keys", { venue: "bybit", label: "main", ...good }, token);
    expect(res.status).toBe(201);
    const key = res.body.key as Record<string, unknown>;
    expect(key).toMatchObject({
      venue: "bybit",
      label: "main",
      keyHint: `${good.apiKey.slice(0, 4)}…${good.apiKey.slice(-4)}`,
      status: "active",
    });
    expect((key.warnings as Array<{ code: string }>).map((x) => x.code)).toContain("no_ip_binding");
    expect(JSON.stringify(res.body)).not.toContain(good.secret);
    const list = await api("GET", "/api/keys", undefined, token);
    expect((list.body.keys as unknown[]).length).toBe(1);
  });

  it("when the key can withdraw, then 422 names Wallet.Withdraw and nothing is stored", async () => {
    const res = await api("POST", "/api/keys", { venue: "bybit", ...withdraws }, token);
    expect(res.status).toBe(422);
    expect(res.body.error).toBe("key_refused");
    expect((res.body.refusals as Array<{ permission: string }>).map((r) => r.permission)).toContain(
      "Wallet.Withdraw",
    );
    expect(((await api("GET", "/api/keys", undefined, token)).body.keys as unknown[]).length).toBe(
      1,
    );
  });

  it("when the venue does not know the key, then 422 says invalid key", async () => {
    const res = await api(
      "POST",
      "/api/keys",
      { venue: "bybit", apiKey: `ZZ${hex(9)}`, secret: hex(18) },
      token,
    );
    expect(res.status).toBe(422);
    expect(res.body.message).toContain("rejected this key (invalid key)");
  });

  it("when the step-up is older than 5 minutes, then adding a key answers 401 reauth_required", async () => {
    const db = new pg.Client({ connectionString: w.db.url });
    await db.connect();
    await db.query("update sessions set step_up_at = now() - interval '6 minutes'");
    const res = await api("POST", "/api/keys", { venue: "paper" }, token);
    expect(res.status).toBe(401);
    expect(res.body.error).toBe("reauth_required");
    expect(
      (await api("POST", "/api/auth/step-up", { password: "a long unique passphrase" }, token))
        .status,
    ).toBe(200);
    expect((await api("POST", "/api/keys", { venue: "paper" }, token)).status).toBe(201);
    await db.end();
  });

  it("when a key is rotated and then revoked, then the material is replaced, then deleted, and the row stays", async () => {
    const list = await api("GET", "/api/keys", undefined, token);
    const id = (list.body.keys as Array<{ id: string; venue: string }>).find(
      (k) => k.venue === "bybit",
    )!.id;
    const rotated = await api("POST", `/api/keys/${id}/rotate`, next, token);
    expect(rotated.status).toBe(200);
    expect((rotated.body.key as { keyHint: string }).keyHint).toBe(
      `${next.apiKey.slice(0, 4)}…${next.apiKey.slice(-4)}`,
    );
    expect((await api("DELETE", `/api/keys/${id}`, undefined, token)).status).toBe(204);
    expect((await api("DELETE", `/api/keys/${id}`, undefined, token)).status).toBe(404);
    const after = await api("GET", "/api/keys", undefined, token);
    expect(
      (after.body.keys as Array<{ id: string; status: string }>).find((k) => k.id === id)?.status,
    ).toBe("revoked");
  });

  it("when a Bybit order fills but its fill is never reported, then a retry with the same Idempotency-Key opens nothing more", async () => {
    const key = await api("POST", "/api/keys", { venue: "bybit", ...good }, token);
    expect(key.status).toBe(201);
    const trade = {
      confirm: true,
      symbol: "BTC/USDT:USDT",
      side: "long",
      size: 0.01,
      keyId: (key.body.key as { id: string }).id,
    };
    const post = () =>
      fetch(`${w.base}/api/trades`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          authorization: `Bearer ${token}`,
          "idempotency-key": "retry-me-0001",
        },
        body: JSON.stringify(trade),
      });
    bybit.setHideOrders(true);
    const first = await post();
    expect(first.status).toBe(502);
    expect(((await first.json()) as { venueError: string }).venueError).toBe("venue_error");
    expect(bybit.positions(good.apiKey)).toHaveLength(1);
    bybit.setHideOrders(false);
    const retry = await post();
    expect(retry.status).toBe(409);
    expect(((await retry.json()) as { error: string }).error).toBe("in_progress");
    expect(bybit.positions(good.apiKey)).toHaveLength(1);
    expect(bybit.positions(good.apiKey)[0]).toMatchObject({ size: 0.01 });
  });

  it("when all of that is done, then no secret is in PostgreSQL, Redis or the log", async () => {
    expect(await scanPostgres(w.db.url, secrets)).toEqual([]);
    expect(await scanRedis(w.redis.url, w.redis.prefix, secrets)).toEqual([]);
    for (const s of secrets) expect(w.logs.text()).not.toContain(s);
  });
});
