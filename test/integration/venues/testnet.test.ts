// Testnet keys (issue 16): POST /api/keys with `testnet: true` verifies the key against the
// venue's testnet URL (here a second fake of each venue), never the mainnet one; the stored key
// carries the flag and is labelled "testnet" wherever it is listed.
import { randomBytes } from "node:crypto";
import ccxt from "ccxt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { confirmationToken } from "../../support/email-confirmation";
import {
  BINANCE_DEFAULT_RESTRICTIONS,
  type FakeBinance,
  startFakeBinance,
} from "../../support/venues/binance";
import {
  BYBIT_TRADE_ONLY_QUERY_API,
  type FakeBybit,
  startFakeBybit,
} from "../../support/venues/bybit";
import { type FakeHyperliquid, startFakeHyperliquid } from "../../support/venues/hyperliquid";
import { startTestWarden, type TestWarden } from "../../support/warden-harness";

const hex = (n: number) => randomBytes(n).toString("hex");
const oracle = new ccxt.hyperliquid();
const wallet = () => {
  const key = hex(32);
  return { key, address: oracle.ethGetAddressFromPrivateKey(`0x${key}`).toLowerCase() };
};
const binanceKey = { apiKey: `TB${hex(9)}`, secret: `TS${hex(18)}` };
const bybitKey = { apiKey: `TY${hex(9)}`, secret: `TZ${hex(18)}` };
const master = wallet();
const agent = wallet();

let main: { binance: FakeBinance; bybit: FakeBybit; hl: FakeHyperliquid };
let test: { binance: FakeBinance; bybit: FakeBybit; hl: FakeHyperliquid };
let w: TestWarden;
let token: string;

async function fakes(testnet: boolean) {
  // The same keys exist on both, so only the URL Warden chooses decides which one answers.
  return {
    binance: await startFakeBinance({
      keys: {
        [binanceKey.apiKey]: {
          secret: binanceKey.secret,
          restrictions: BINANCE_DEFAULT_RESTRICTIONS,
        },
      },
    }),
    bybit: await startFakeBybit({
      keys: {
        [bybitKey.apiKey]: { secret: bybitKey.secret, queryApi: BYBIT_TRADE_ONLY_QUERY_API },
      },
    }),
    hl: await startFakeHyperliquid({
      roles: { [agent.address]: { role: "agent", master: master.address } },
      testnet,
    }),
  };
}

beforeAll(async () => {
  main = await fakes(false);
  test = await fakes(true);
  w = await startTestWarden({
    env: {
      VENUE_URL_BINANCEUSDM: main.binance.url,
      VENUE_URL_BYBIT: main.bybit.url,
      VENUE_URL_HYPERLIQUID: main.hl.url,
      VENUE_TESTNET_URL_BINANCEUSDM: test.binance.url,
      VENUE_TESTNET_URL_BYBIT: test.bybit.url,
      VENUE_TESTNET_URL_HYPERLIQUID: test.hl.url,
    },
  });
  const reg = { email: "testnet@example.com", password: "a long unique passphrase" };
  await api("POST", "/api/auth/register", reg);
  // Sign-in needs the confirmed address; connecting keys needs a step-up in the session.
  const confirm = await confirmationToken(w.smtp, reg.email);
  await api("POST", "/api/auth/email/confirm", { token: confirm });
  token = ((await api("POST", "/api/auth/login", reg)).body as { accessToken: string }).accessToken;
  await api("POST", "/api/auth/step-up", { password: reg.password });
});
afterAll(async () => {
  await w.stop();
  for (const f of [main, test]) {
    await f.binance.close();
    await f.bybit.close();
    await f.hl.close();
  }
});

async function api(method: string, path: string, body?: unknown) {
  const res = await fetch(`${w.base}${path}`, {
    method,
    headers: {
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

describe("testnet keys", () => {
  it("Testnet key connects against the testnet URL of each fake and is labelled", async () => {
    const bodies = [
      { venue: "binanceusdm", ...binanceKey },
      { venue: "bybit", ...bybitKey },
      { venue: "hyperliquid", walletAddress: master.address, privateKey: agent.key },
    ];
    for (const body of bodies) {
      const res = await api("POST", "/api/keys", { ...body, testnet: true });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      expect(res.body.key).toMatchObject({ venue: body.venue, testnet: true, network: "testnet" });
      expect(String((res.body.key as { label: string }).label)).toMatch(/testnet$/);
    }

    // Each testnet fake received the verification call; no mainnet fake received anything.
    expect(test.binance.requests.map((r) => r.path)).toContain("/fapi/v1/positionSide/dual");
    expect(test.bybit.requests.map((r) => r.path)).toContain("/v5/user/query-api");
    expect(test.hl.requests.map((r) => JSON.parse(r.body).type)).toContain("userRole");
    expect(main.binance.requests).toEqual([]);
    expect(main.bybit.requests).toEqual([]);
    expect(main.hl.requests).toEqual([]);

    const list = (await api("GET", "/api/keys")).body.keys as Array<Record<string, unknown>>;
    expect(list.map((k) => [k.venue, k.network])).toEqual([
      ["binanceusdm", "testnet"],
      ["bybit", "testnet"],
      ["hyperliquid", "testnet"],
    ]);
  });

  it("when testnet keys are read, then positions and balances come from the testnet fakes, labelled testnet, and the mainnet fakes see nothing", async () => {
    const res = await api("GET", "/api/positions");
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const accounts = res.body.accounts as Array<Record<string, unknown>>;
    expect(accounts.map((a) => [a.venue, a.testnet, a.error])).toEqual([
      ["binanceusdm", true, undefined],
      ["bybit", true, undefined],
      ["hyperliquid", true, undefined],
    ]);
    expect(test.bybit.requests.map((r) => r.path)).toContain("/v5/account/wallet-balance");
    expect(test.binance.requests.map((r) => r.path)).toContain("/fapi/v3/positionRisk");
    expect(main.binance.requests).toEqual([]);
    expect(main.bybit.requests).toEqual([]);
    expect(main.hl.requests).toEqual([]);
  });

  it("when a trade is opened with a testnet key, then the order reaches only the testnet fake and the trade is labelled testnet", async () => {
    const list = (await api("GET", "/api/keys")).body.keys as Array<{ id: string; venue: string }>;
    const bybitTestnet = list.find((k) => k.venue === "bybit")!;
    const res = await fetch(`${w.base}/api/trades`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${token}`,
        "idempotency-key": "testnet-open-0001",
      },
      body: JSON.stringify({
        confirm: true,
        symbol: "BTC/USDT:USDT",
        side: "long",
        size: 0.01,
        keyId: bybitTestnet.id,
      }),
    });
    const body = (await res.json()) as { trade: Record<string, unknown> };
    expect(res.status, JSON.stringify(body)).toBe(201);
    expect(body.trade).toMatchObject({ venue: "bybit", testnet: true, size: 0.01 });
    expect(test.bybit.positions(bybitKey.apiKey)).toHaveLength(1);
    expect(main.bybit.positions(bybitKey.apiKey)).toHaveLength(0);
    expect(main.bybit.requests).toEqual([]);
    const trades = (await api("GET", "/api/trades")).body.trades as Array<Record<string, unknown>>;
    expect(trades.map((t) => [t.venue, t.testnet])).toEqual([["bybit", true]]);
  });

  it("when a Hyperliquid testnet key trades, then its order is signed for the testnet and filled on the testnet fake only", async () => {
    const list = (await api("GET", "/api/keys")).body.keys as Array<{ id: string; venue: string }>;
    const hlTestnet = list.find((k) => k.venue === "hyperliquid")!;
    const res = await fetch(`${w.base}/api/trades`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${token}`,
        "idempotency-key": "testnet-open-0002",
      },
      body: JSON.stringify({
        confirm: true,
        symbol: "BTC/USDC:USDC",
        side: "long",
        size: 0.001,
        keyId: hlTestnet.id,
      }),
    });
    const body = (await res.json()) as { trade: Record<string, unknown> };
    expect(res.status, JSON.stringify(body)).toBe(201);
    expect(body.trade).toMatchObject({ venue: "hyperliquid", testnet: true });
    // The testnet fake recovers the agent only from a source-"b" signature.
    const orders = test.hl.actions.filter((a) => a.type === "order");
    expect(orders.map((a) => a.signer)).toEqual([agent.address]);
    expect(main.hl.requests).toEqual([]);
  });

  it("when a testnet key is rotated, then the new key is verified on the testnet and the key stays testnet", async () => {
    const list = (await api("GET", "/api/keys")).body.keys as Array<{ id: string; venue: string }>;
    const bybitTestnet = list.find((k) => k.venue === "bybit")!;
    const before = test.bybit.requests.filter((r) => r.path === "/v5/user/query-api").length;
    const res = await api("POST", `/api/keys/${bybitTestnet.id}/rotate`, bybitKey);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.key).toMatchObject({ testnet: true, network: "testnet" });
    expect(test.bybit.requests.filter((r) => r.path === "/v5/user/query-api").length).toBe(
      before + 1,
    );
    expect(main.bybit.requests).toEqual([]);
  });

  it("when a paper account is asked for on the testnet, then it is refused", async () => {
    const res = await api("POST", "/api/keys", { venue: "paper", testnet: true });
    expect(res.status).toBe(422);
    expect(res.body.message).toBe("Paper accounts have no testnet: they are simulated already.");
  });

  it("when a mainnet key is added, then it goes to the mainnet fake and is not labelled testnet", async () => {
    const res = await api("POST", "/api/keys", { venue: "bybit", ...bybitKey });
    expect(res.status).toBe(201);
    expect(res.body.key).toMatchObject({ testnet: false, network: "mainnet", label: "Bybit" });
    expect(main.bybit.requests.map((r) => r.path)).toContain("/v5/user/query-api");
  });
});
