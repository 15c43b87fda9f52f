// The Bybit adapter against a local fake that checks every signature as Bybit does: scope
// verification through the policy, key rejection, and a position's life cycle.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { evaluateBybitScopes } from "../../../src/domain/venues/policies/bybit";
import type { VenueCredentials } from "../../../src/domain/venues/types";
import { createBybitVenue } from "../../../src/infra/venues/bybit";
import {
  BYBIT_TRADE_ONLY_QUERY_API,
  type BybitQueryApi,
  type FakeBybit,
  startFakeBybit,
} from "../../support/venues/bybit";
import { venueError } from "../../support/venues/expect";

const KEY = "XXbB8SFu4T0kTjgnjd";
const SECRET = "9rXr7ZGSAYjPOvUsZmRqAmhsmPm4ShW0apUK";
const TRADER = "TraderKeyBybit0001";
const TRADER_SECRET = "TraderSecretBybit000000000000000000001";
const SYMBOL = "BTC/USDT:USDT";
const EGRESS = ["203.0.113.7"];

const creds = (apiKey: string | null, secret: string): VenueCredentials => ({
  apiKey: apiKey === null ? null : Buffer.from(apiKey),
  secret: Buffer.from(secret),
  privateKey: null,
  walletAddress: null,
});

const TRADE_ONLY_PERMISSIONS = BYBIT_TRADE_ONLY_QUERY_API.permissions as Record<string, string[]>;

function withPermissions(permissions: Record<string, unknown>): BybitQueryApi {
  return {
    ...BYBIT_TRADE_ONLY_QUERY_API,
    permissions: { ...TRADE_ONLY_PERMISSIONS, ...permissions },
  };
}

let fake: FakeBybit;
let venue: ReturnType<typeof createBybitVenue>;

beforeAll(async () => {
  fake = await startFakeBybit({
    keys: {
      [KEY]: { secret: SECRET, queryApi: BYBIT_TRADE_ONLY_QUERY_API },
      [TRADER]: { secret: TRADER_SECRET, queryApi: BYBIT_TRADE_ONLY_QUERY_API },
    },
  });
  venue = createBybitVenue({ origin: fake.url });
});

afterAll(async () => {
  await fake.close();
});

beforeEach(() => {
  fake.setQueryApi(KEY, BYBIT_TRADE_ONLY_QUERY_API);
});

describe("Bybit: verifying a key's scopes", () => {
  it("when a trade-only key is verified, then the policy accepts it with its scopes and warns of no IP binding and the expiry", async () => {
    const failures = fake.signatureFailures;
    const report = await venue.verifyScopes(creds(KEY, SECRET));
    expect(report).toMatchObject({ venue: "bybit", ipBound: false, account: "24600000" });
    expect(report.expiresAt?.toISOString()).toBe("2027-02-15T03:21:05.000Z");
    expect(report.permissions).toMatchObject({ readOnly: 0, ContractTrade: ["Order", "Position"] });

    const decision = evaluateBybitScopes(report, { egressIps: EGRESS });
    expect(decision.ok).toBe(true);
    expect(decision.ok && decision.scopes).toEqual(["read", "futures_trade"]);
    expect(decision.warnings.map((w) => w.code)).toEqual(["no_ip_binding", "expires"]);
    expect(decision.warnings[0]?.message).toContain("203.0.113.7");
    expect(decision.warnings[1]?.message).toContain("2027-02-15");
    expect(fake.signatureFailures).toBe(failures);
  });

  it("when the key is verified, then the request is signed with the X-BAPI headers and nothing else is asked", async () => {
    const before = fake.requests.length;
    await venue.verifyScopes(creds(KEY, SECRET));
    const sent = fake.requests.slice(before);
    expect(sent.map((r) => `${r.method} ${r.path}`)).toEqual(["GET /v5/user/query-api"]);
    expect(sent[0]?.headers["x-bapi-api-key"]).toBe(KEY);
    expect(sent[0]?.headers["x-bapi-sign"]).toMatch(/^[0-9a-f]{64}$/);
    expect(sent[0]?.headers["x-bapi-timestamp"]).toMatch(/^\d{13}$/);
    expect(sent[0]?.headers["x-bapi-recv-window"]).toMatch(/^\d+$/);
    expect(JSON.stringify(sent[0])).not.toContain(SECRET);
  });

  it("when the key is bound to an IP and reports no expiry, then no warning is given", async () => {
    fake.setQueryApi(KEY, {
      ...BYBIT_TRADE_ONLY_QUERY_API,
      ips: ["203.0.113.7"],
      expiredAt: "",
      deadlineDay: 0,
    });
    const report = await venue.verifyScopes(creds(KEY, SECRET));
    expect(report).toMatchObject({ ipBound: true, expiresAt: null });
    expect(evaluateBybitScopes(report, { egressIps: EGRESS })).toEqual({
      ok: true,
      scopes: ["read", "futures_trade"],
      warnings: [],
    });
  });

  it.each([
    ["Wallet", "AccountTransfer"],
    ["Wallet", "SubMemberTransfer"],
    ["Wallet", "SubMemberTransferList"],
    ["Wallet", "Withdraw"],
    ["Spot", "SpotTrade"],
    ["FiatP2P", "FiatP2POrder"],
    ["FiatBitPay", "FaitPayOrder"],
    ["FiatBybitPay", "FaitPayOrder"],
    ["FiatConvertBroker", "FiatConvertBrokerOrder"],
    ["BitCard", "BitCard"],
  ])(
    "when the key has %s.%s, then it is refused naming that permission",
    async (category, item) => {
      fake.setQueryApi(KEY, withPermissions({ [category]: [item] }));
      const decision = evaluateBybitScopes(await venue.verifyScopes(creds(KEY, SECRET)), {
        egressIps: EGRESS,
      });
      expect(decision.ok).toBe(false);
      expect(!decision.ok && decision.refused.map((r) => r.permission)).toEqual([
        `${category}.${item}`,
      ]);
      expect(!decision.ok && decision.refused[0]?.fix).toMatch(
        /^Bybit → API Management → Edit → under '/,
      );
    },
  );

  it("when the key is read-only, then it is refused naming readOnly", async () => {
    fake.setQueryApi(KEY, { ...BYBIT_TRADE_ONLY_QUERY_API, readOnly: 1 });
    const decision = evaluateBybitScopes(await venue.verifyScopes(creds(KEY, SECRET)), {
      egressIps: EGRESS,
    });
    expect(!decision.ok && decision.refused.map((r) => r.permission)).toEqual(["readOnly"]);
  });

  it("when ContractTrade lacks Position, then it is refused naming ContractTrade.Position", async () => {
    fake.setQueryApi(KEY, withPermissions({ ContractTrade: ["Order"] }));
    const decision = evaluateBybitScopes(await venue.verifyScopes(creds(KEY, SECRET)), {
      egressIps: EGRESS,
    });
    expect(!decision.ok && decision.refused).toEqual([
      {
        permission: "ContractTrade.Position",
        fix: "Bybit → API Management → Edit → under 'Contract' tick 'Positions'.",
      },
    ]);
  });

  it("when a category Warden does not know has a value, then the key is refused naming it", async () => {
    fake.setQueryApi(KEY, withPermissions({ Lending: ["LendingOrder"] }));
    const decision = evaluateBybitScopes(await venue.verifyScopes(creds(KEY, SECRET)), {
      egressIps: EGRESS,
    });
    expect(!decision.ok && decision.refused.map((r) => r.permission)).toEqual([
      "Lending.LendingOrder",
    ]);
    expect(!decision.ok && decision.refused[0]?.fix).toContain("untick everything under 'Lending'");
  });

  it("when the key's permissions change at the venue, then the next verification sees the change", async () => {
    expect(
      evaluateBybitScopes(await venue.verifyScopes(creds(KEY, SECRET)), { egressIps: [] }).ok,
    ).toBe(true);
    fake.setRestrictions(KEY, withPermissions({ Wallet: ["Withdraw"] }));
    expect(
      evaluateBybitScopes(await venue.verifyScopes(creds(KEY, SECRET)), { egressIps: [] }).ok,
    ).toBe(false);
  });

  it("when Bybit does not know the key, then the adapter says the venue rejected it (invalid_key)", async () => {
    const failures = fake.signatureFailures;
    const err = await venueError(venue.verifyScopes(creds("unknownKey123", SECRET)));
    expect(err.code).toBe("invalid_key");
    expect(err.message).toBe("Bybit rejected this key (invalid key, signature or IP).");
    expect(fake.signatureFailures).toBe(failures);
  });

  it("when the secret is wrong, then the fake's signature check fails and the adapter gives invalid_key", async () => {
    const failures = fake.signatureFailures;
    const err = await venueError(venue.verifyScopes(creds(KEY, `${SECRET.slice(0, -1)}x`)));
    expect(err.code).toBe("invalid_key");
    expect(fake.signatureFailures).toBe(failures + 1);
  });

  it("when the API key is missing, then the adapter refuses with unsupported_credentials and sends nothing", async () => {
    const before = fake.requests.length;
    const err = await venueError(venue.verifyScopes(creds(null, SECRET)));
    expect(err.code).toBe("unsupported_credentials");
    expect(fake.requests.length).toBe(before);
  });
});

describe("Bybit: trading", () => {
  const trader = () => creds(TRADER, TRADER_SECRET);

  beforeEach(async () => {
    await venue.closePosition(trader(), { symbol: SYMBOL });
  });

  it("when the balance is read, then USDT's total and free come back", async () => {
    expect(await venue.balance(trader())).toEqual([
      { currency: "USDT", total: 10_000, free: 10_000 },
    ]);
  });

  it("when a long is opened with leverage and then closed, then sizes, sides and the position book agree", async () => {
    const failures = fake.signatureFailures;
    const fill = await venue.openPosition(trader(), {
      symbol: SYMBOL,
      side: "long",
      size: 0.01,
      leverage: 5,
    });
    expect(fill).toMatchObject({ symbol: SYMBOL, side: "long", size: 0.01, price: 63_000 });
    expect(fake.positions(TRADER)).toMatchObject([
      { symbol: "BTCUSDT", side: "Buy", size: 0.01, avgPrice: 63_000, leverage: 5 },
    ]);
    expect(await venue.positions(trader())).toEqual([
      {
        symbol: SYMBOL,
        side: "long",
        size: 0.01,
        entryPrice: 63_000,
        markPrice: 63_000,
        unrealizedPnl: 0,
        leverage: 5,
      },
    ]);
    const [usdt] = await venue.balance(trader());
    expect(usdt).toMatchObject({ currency: "USDT", total: 10_000 });
    expect(usdt?.free).toBeCloseTo(10_000 - 126, 6);

    const close = await venue.closePosition(trader(), { symbol: SYMBOL });
    expect(close).toMatchObject({ symbol: SYMBOL, side: "long", size: 0.01, price: 63_000 });
    expect(fake.positions(TRADER)).toEqual([]);
    expect(await venue.positions(trader())).toEqual([]);

    const orders = fake.requests
      .filter((r) => r.path === "/v5/order/create")
      .slice(-2)
      .map((r) => JSON.parse(r.body) as Record<string, unknown>);
    expect(orders.map((o) => [o.side, o.orderType, o.qty, o.reduceOnly])).toEqual([
      ["Buy", "Market", "0.01", undefined],
      ["Sell", "Market", "0.01", true],
    ]);
    expect(fake.signatureFailures).toBe(failures);
  });

  it("when the leverage is already at the asked value, then the open goes ahead", async () => {
    await venue.openPosition(trader(), { symbol: SYMBOL, side: "long", size: 0.01, leverage: 7 });
    await venue.closePosition(trader(), { symbol: SYMBOL });
    const fill = await venue.openPosition(trader(), {
      symbol: SYMBOL,
      side: "short",
      size: 0.01,
      leverage: 7,
    });
    expect(fill).toMatchObject({ side: "short", size: 0.01 });
  });

  it("when there is no position, then closing returns null and trades nothing", async () => {
    const before = fake.requests.length;
    expect(await venue.closePosition(trader(), { symbol: SYMBOL })).toBeNull();
    expect(fake.requests.slice(before).some((r) => r.path === "/v5/order/create")).toBe(false);
  });

  it("when a short is opened with a stop loss and take profit, then they sit on the position", async () => {
    const fill = await venue.openPosition(trader(), {
      symbol: SYMBOL,
      side: "short",
      size: 0.02,
      stopLoss: 66_000,
      takeProfit: 60_000,
    });
    expect(fill).toMatchObject({ side: "short", size: 0.02 });
    expect(fake.positions(TRADER)).toMatchObject([
      { side: "Sell", size: 0.02, stopLoss: "66000", takeProfit: "60000" },
    ]);
  });

  it("when a position is modified, then its size changes by a market order and its stop loss is replaced", async () => {
    await venue.openPosition(trader(), {
      symbol: SYMBOL,
      side: "long",
      size: 0.01,
      stopLoss: 60_000,
      takeProfit: 70_000,
    });
    const grow = await venue.modifyPosition(trader(), { symbol: SYMBOL, size: 0.03 });
    expect(grow).toMatchObject({ side: "long", size: 0.02 });
    expect(fake.positions(TRADER)[0]?.size).toBeCloseTo(0.03, 9);

    const shrink = await venue.modifyPosition(trader(), {
      symbol: SYMBOL,
      size: 0.015,
      stopLoss: 61_000,
      takeProfit: null,
    });
    expect(shrink).toMatchObject({ side: "long", size: 0.015 });
    expect(fake.positions(TRADER)).toMatchObject([
      { side: "Buy", stopLoss: "61000", takeProfit: "0.00" },
    ]);
    expect(fake.positions(TRADER)[0]?.size).toBeCloseTo(0.015, 9);
    const stop = fake.requests.filter((r) => r.path === "/v5/position/trading-stop").at(-1);
    expect(JSON.parse(stop?.body ?? "{}")).toMatchObject({
      category: "linear",
      symbol: "BTCUSDT",
      tpslMode: "Full",
      stopLoss: "61000",
      takeProfit: "0",
    });
  });

  it("when there is no position to modify, then invalid_order", async () => {
    const err = await venueError(venue.modifyPosition(trader(), { symbol: SYMBOL, size: 0.02 }));
    expect(err.code).toBe("invalid_order");
  });

  it("when the margin does not cover the order, then insufficient_funds", async () => {
    const err = await venueError(
      venue.openPosition(trader(), { symbol: SYMBOL, side: "long", size: 10, leverage: 1 }),
    );
    expect(err.code).toBe("insufficient_funds");
  });

  it("when the symbol is not listed, then unknown_symbol", async () => {
    const err = await venueError(
      venue.openPosition(trader(), { symbol: "DOGE/USDT:USDT", side: "long", size: 100 }),
    );
    expect(err.code).toBe("unknown_symbol");
  });

  it("when a contract-only key (no Wallet permission) connects and trades, then no asset endpoint is touched (the fake would refuse it with 10005)", async () => {
    const before = fake.requests.length;
    const report = await venue.verifyScopes(creds(KEY, SECRET));
    expect(evaluateBybitScopes(report, { egressIps: EGRESS }).ok).toBe(true);
    // A fresh adapter loads the markets itself: the first trade is where query-info used to go.
    const fresh = createBybitVenue({ origin: fake.url });
    await fresh.balance(trader());
    await fresh.openPosition(trader(), { symbol: SYMBOL, side: "long", size: 0.01 });
    await fresh.closePosition(trader(), { symbol: SYMBOL });
    const paths = fake.requests.slice(before).map((r) => r.path);
    expect(paths).toContain("/v5/market/instruments-info");
    expect(paths.filter((p) => p.startsWith("/v5/asset/"))).toEqual([]);
  });

  it("when a whole flow has run, then every signed request verified and carried the key", async () => {
    const failures = fake.signatureFailures;
    const before = fake.requests.length;
    await venue.openPosition(trader(), { symbol: SYMBOL, side: "long", size: 0.01 });
    await venue.positions(trader());
    await venue.balance(trader());
    await venue.closePosition(trader(), { symbol: SYMBOL });
    const signed = fake.requests.slice(before).filter((r) => !r.path.startsWith("/v5/market/"));
    expect(signed.length).toBeGreaterThan(4);
    for (const r of signed) {
      expect(r.headers["x-bapi-api-key"]).toBe(TRADER);
      expect(r.headers["x-bapi-sign"]).toMatch(/^[0-9a-f]{64}$/);
    }
    expect(fake.signatureFailures).toBe(failures);
  });

  it("when an order has aged out of order/realtime, then findOrder finds it filled in order/history; an order in neither is not_found", async () => {
    const clientOrderId = "fedcba9876543210fedcba9876543210";
    const fill = await venue.openPosition(trader(), {
      symbol: SYMBOL,
      side: "long",
      size: 0.01,
      clientOrderId,
    });
    fake.ageOrders(TRADER);
    const before = fake.requests.length;
    expect(
      await venue.findOrder!(trader(), { symbol: SYMBOL, side: "long", clientOrderId }),
    ).toEqual({
      status: "filled",
      fill: { orderId: fill.orderId, symbol: SYMBOL, side: "long", size: 0.01, price: 63_000 },
    });
    expect(
      fake.requests
        .slice(before)
        .map((r) => r.path)
        .filter((p) => p.startsWith("/v5/order/")),
    ).toEqual(["/v5/order/realtime", "/v5/order/history"]);
    expect(
      await venue.findOrder!(trader(), {
        symbol: SYMBOL,
        side: "long",
        clientOrderId: "00000000000000000000000000000000",
      }),
    ).toEqual({ status: "not_found" });
  });
});
