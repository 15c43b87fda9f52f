// The Binance USD-M adapter against a local fake that checks every signature as Binance does:
// scope verification through the policy, key rejection, and a position's life cycle.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  BINANCE_REFUSED,
  evaluateBinanceScopes,
} from "../../../src/domain/venues/policies/binanceusdm";
import type { VenueCredentials } from "../../../src/domain/venues/types";
import { createBinanceUsdmVenue } from "../../../src/infra/venues/binanceusdm";
import {
  BINANCE_DEFAULT_RESTRICTIONS,
  type FakeBinance,
  startFakeBinance,
} from "../../support/venues/binance";
import { parseForm } from "../../support/venues/common";
import { venueError } from "../../support/venues/expect";

const KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
const SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
const TRADER = "traderKeyWithPositions0000000000000000000000000000000000000000000";
const TRADER_SECRET = "traderSecret000000000000000000000000000000000000000000000000000";
const SYMBOL = "BTC/USDT:USDT";
const EGRESS = ["203.0.113.7"];

const creds = (apiKey: string, secret: string | null): VenueCredentials => ({
  apiKey: Buffer.from(apiKey),
  secret: secret === null ? null : Buffer.from(secret),
  privateKey: null,
  walletAddress: null,
});

let fake: FakeBinance;
let venue: ReturnType<typeof createBinanceUsdmVenue>;

beforeAll(async () => {
  fake = await startFakeBinance({
    keys: {
      [KEY]: { secret: SECRET, restrictions: BINANCE_DEFAULT_RESTRICTIONS },
      [TRADER]: { secret: TRADER_SECRET, restrictions: BINANCE_DEFAULT_RESTRICTIONS },
    },
  });
  venue = createBinanceUsdmVenue({ origin: fake.url });
});

afterAll(async () => {
  await fake.close();
});

beforeEach(() => {
  fake.setRestrictions(KEY, BINANCE_DEFAULT_RESTRICTIONS);
});

describe("Binance USD-M: verifying a key's scopes", () => {
  it("when a trade-only key is verified, then the policy accepts it with its scopes and an IP-binding warning", async () => {
    const failures = fake.signatureFailures;
    const report = await venue.verifyScopes(creds(KEY, SECRET));
    expect(report).toMatchObject({ venue: "binanceusdm", ipBound: false, expiresAt: null });
    expect(report.permissions).toMatchObject({ enableFutures: true, enableWithdrawals: false });

    const decision = evaluateBinanceScopes(report, { egressIps: EGRESS });
    expect(decision.ok).toBe(true);
    expect(decision.ok && decision.scopes).toEqual(["read", "futures_trade"]);
    expect(decision.warnings.map((w) => w.code)).toEqual(["no_ip_binding"]);
    expect(decision.warnings[0]?.message).toContain("203.0.113.7");
    expect(fake.signatureFailures).toBe(failures);
  });

  it("when the key is verified, then the request is signed over its raw query and carries the key in X-MBX-APIKEY", async () => {
    const before = fake.requests.length;
    await venue.verifyScopes(creds(KEY, SECRET));
    const sent = fake.requests.slice(before);
    // The key's flags, then the account's asset mode (policies/binance-account.ts).
    expect(sent.map((r) => `${r.method} ${r.path}`)).toEqual([
      "GET /sapi/v1/account/apiRestrictions",
      "GET /fapi/v1/multiAssetsMargin",
    ]);
    for (const r of sent) {
      expect(r.headers["x-mbx-apikey"]).toBe(KEY);
      expect(r.query).toMatch(/&signature=[0-9a-f]{64}$/);
      expect(JSON.stringify(r)).not.toContain(SECRET);
    }
  });

  it.each(BINANCE_REFUSED.map((f) => f.permission))(
    "when the key has %s, then it is refused naming that permission",
    async (permission) => {
      fake.setRestrictions(KEY, { ...BINANCE_DEFAULT_RESTRICTIONS, [permission]: true });
      const decision = evaluateBinanceScopes(await venue.verifyScopes(creds(KEY, SECRET)), {
        egressIps: EGRESS,
      });
      expect(decision.ok).toBe(false);
      expect(!decision.ok && decision.refused.map((r) => r.permission)).toEqual([permission]);
      expect(!decision.ok && decision.refused[0]?.fix).toMatch(
        /^Binance → API Management → Edit restrictions → untick '/,
      );
    },
  );

  it("when the key lacks enableFutures, then it is refused naming enableFutures", async () => {
    fake.setRestrictions(KEY, { ...BINANCE_DEFAULT_RESTRICTIONS, enableFutures: false });
    const decision = evaluateBinanceScopes(await venue.verifyScopes(creds(KEY, SECRET)), {
      egressIps: EGRESS,
    });
    expect(!decision.ok && decision.refused).toEqual([
      {
        permission: "enableFutures",
        fix: "Binance → API Management → Edit restrictions → tick 'Enable Futures'.",
      },
    ]);
  });

  it("when the key is bound to IPs and has a trading-authority expiry, then that spot/margin expiry is not taken for the key's and no warning is given", async () => {
    fake.setRestrictions(KEY, {
      ...BINANCE_DEFAULT_RESTRICTIONS,
      ipRestrict: true,
      tradingAuthorityExpirationTime: Date.parse("2027-03-01T00:00:00Z"),
    });
    const report = await venue.verifyScopes(creds(KEY, SECRET));
    expect(report.ipBound).toBe(true);
    expect(report.expiresAt).toBeNull();
    const decision = evaluateBinanceScopes(report, { egressIps: EGRESS });
    expect(decision.ok).toBe(true);
    expect(decision.warnings).toEqual([]);
  });

  it("when the key reports a permission flag Warden has never heard of, then it is refused naming the flag", async () => {
    fake.setRestrictions(KEY, {
      ...BINANCE_DEFAULT_RESTRICTIONS,
      enableFixApiTrade: true,
      enableNewThing: false,
    });
    const decision = evaluateBinanceScopes(await venue.verifyScopes(creds(KEY, SECRET)), {
      egressIps: EGRESS,
    });
    expect(decision.ok).toBe(false);
    expect(!decision.ok && decision.refused.map((r) => r.permission)).toEqual([
      "enableNewThing",
      "enableFixApiTrade",
    ]);
  });

  it("when the key's permissions change at the venue, then the next verification sees the change", async () => {
    expect(
      evaluateBinanceScopes(await venue.verifyScopes(creds(KEY, SECRET)), { egressIps: [] }).ok,
    ).toBe(true);
    fake.setRestrictions(KEY, { ...BINANCE_DEFAULT_RESTRICTIONS, enableWithdrawals: true });
    expect(
      evaluateBinanceScopes(await venue.verifyScopes(creds(KEY, SECRET)), { egressIps: [] }).ok,
    ).toBe(false);
  });

  it("when Binance does not know the key, then the adapter says the venue rejected it (invalid_key)", async () => {
    const failures = fake.signatureFailures;
    const err = await venueError(venue.verifyScopes(creds("unknownKey123", SECRET)));
    expect(err.code).toBe("invalid_key");
    expect(err.message).toBe("Binance rejected this key (invalid key, signature or IP).");
    expect(fake.signatureFailures).toBe(failures);
  });

  it("when the secret is wrong, then the fake's signature check fails and the adapter gives invalid_key", async () => {
    const failures = fake.signatureFailures;
    const err = await venueError(venue.verifyScopes(creds(KEY, `${SECRET.slice(0, -1)}x`)));
    expect(err.code).toBe("invalid_key");
    expect(fake.signatureFailures).toBe(failures + 1);
    expect(err.message).not.toContain("signature=");
  });

  it("when the secret is missing, then the adapter refuses with unsupported_credentials and sends nothing", async () => {
    const before = fake.requests.length;
    const err = await venueError(venue.verifyScopes(creds(KEY, null)));
    expect(err.code).toBe("unsupported_credentials");
    expect(fake.requests.length).toBe(before);
  });
});

describe("Binance USD-M: trading", () => {
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
    const before = fake.requests.length;
    const fill = await venue.openPosition(trader(), {
      symbol: SYMBOL,
      side: "long",
      size: 0.01,
      leverage: 10,
    });
    expect(fill).toMatchObject({ symbol: SYMBOL, side: "long", size: 0.01, price: 63_000 });
    expect(fill.orderId).toMatch(/^\d+$/);
    expect(fake.leverage(TRADER, "BTCUSDT")).toBe(10);
    expect(fake.positions(TRADER)).toEqual([
      { symbol: "BTCUSDT", amount: 0.01, entryPrice: 63_000 },
    ]);

    expect(await venue.positions(trader())).toEqual([
      {
        symbol: SYMBOL,
        side: "long",
        size: 0.01,
        entryPrice: 63_000,
        markPrice: 63_000,
        unrealizedPnl: 0,
        leverage: 10,
      },
    ]);
    const balance = await venue.balance(trader());
    expect(balance[0]).toMatchObject({ currency: "USDT", total: 10_000, free: 10_000 - 63 });

    const close = await venue.closePosition(trader(), { symbol: SYMBOL });
    expect(close).toMatchObject({ symbol: SYMBOL, side: "long", size: 0.01, price: 63_000 });
    expect(fake.positions(TRADER)).toEqual([]);
    expect(await venue.positions(trader())).toEqual([]);

    const orders = fake.requests
      .slice(before)
      .filter((r) => r.method === "POST" && r.path === "/fapi/v1/order")
      .map((r) => parseForm(r.body));
    expect(orders.map((o) => [o.side, o.type, o.quantity, o.reduceOnly])).toEqual([
      ["BUY", "MARKET", "0.01", undefined],
      ["SELL", "MARKET", "0.01", "true"],
    ]);
    expect(fake.signatureFailures).toBe(failures);
  });

  it("when there is no position, then closing returns null and trades nothing", async () => {
    const before = fake.requests.length;
    expect(await venue.closePosition(trader(), { symbol: SYMBOL })).toBeNull();
    expect(fake.requests.slice(before).some((r) => r.path === "/fapi/v1/order")).toBe(false);
  });

  it("when a short is opened with a stop loss and take profit, then whole-position algo orders protect it and closing removes them", async () => {
    const fill = await venue.openPosition(trader(), {
      symbol: SYMBOL,
      side: "short",
      size: 0.02,
      stopLoss: 66_000,
      takeProfit: 60_000,
    });
    expect(fill).toMatchObject({ side: "short", size: 0.02 });
    expect(fake.positions(TRADER)).toEqual([
      { symbol: "BTCUSDT", amount: -0.02, entryPrice: 63_000 },
    ]);
    const algo = fake.algoOrders(TRADER);
    expect(algo.map((o) => [o.orderType, o.side, o.triggerPrice, o.closePosition])).toEqual([
      ["STOP_MARKET", "BUY", "66000", true],
      ["TAKE_PROFIT_MARKET", "BUY", "60000", true],
    ]);

    const close = await venue.closePosition(trader(), { symbol: SYMBOL });
    expect(close).toMatchObject({ side: "short", size: 0.02 });
    expect(fake.algoOrders(TRADER)).toEqual([]);
  });

  it("when a position is modified, then its size changes by a market order and its stop loss is replaced", async () => {
    await venue.openPosition(trader(), {
      symbol: SYMBOL,
      side: "long",
      size: 0.01,
      stopLoss: 60_000,
    });
    const grow = await venue.modifyPosition(trader(), { symbol: SYMBOL, size: 0.03 });
    expect(grow).toMatchObject({ side: "long", size: 0.02 });
    expect(fake.positions(TRADER)[0]?.amount).toBeCloseTo(0.03, 9);

    const shrink = await venue.modifyPosition(trader(), {
      symbol: SYMBOL,
      size: 0.015,
      stopLoss: 61_000,
      takeProfit: null,
    });
    expect(shrink).toMatchObject({ side: "long", size: 0.015 });
    expect(fake.positions(TRADER)[0]?.amount).toBeCloseTo(0.015, 9);
    expect(fake.algoOrders(TRADER).map((o) => [o.orderType, o.triggerPrice])).toEqual([
      ["STOP_MARKET", "61000"],
    ]);

    expect(await venue.modifyPosition(trader(), { symbol: SYMBOL, takeProfit: 70_000 })).toBeNull();
    expect(fake.algoOrders(TRADER).map((o) => [o.orderType, o.triggerPrice])).toEqual([
      ["STOP_MARKET", "61000"],
      ["TAKE_PROFIT_MARKET", "70000"],
    ]);
  });

  it("when there is no position to modify, then invalid_order", async () => {
    const err = await venueError(venue.modifyPosition(trader(), { symbol: SYMBOL, size: 0.02 }));
    expect(err.code).toBe("invalid_order");
  });

  it("when an order is below Binance's minimum notional, then invalid_order with Binance's reason", async () => {
    const err = await venueError(
      venue.openPosition(trader(), { symbol: SYMBOL, side: "long", size: 0.001 }),
    );
    expect(err.code).toBe("invalid_order");
    expect(err.message).toContain("notional");
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

  it("when a whole flow has run, then every signed request verified and carried the key", async () => {
    const failures = fake.signatureFailures;
    const before = fake.requests.length;
    await venue.openPosition(trader(), { symbol: SYMBOL, side: "long", size: 0.01 });
    await venue.positions(trader());
    await venue.balance(trader());
    await venue.closePosition(trader(), { symbol: SYMBOL });
    const signed = fake.requests.slice(before).filter((r) => !r.path.endsWith("/exchangeInfo"));
    expect(signed.length).toBeGreaterThan(4);
    for (const r of signed) {
      expect(r.headers["x-mbx-apikey"]).toBe(TRADER);
      expect(`${r.query}${r.body}`).toMatch(/&signature=[0-9a-f]{64}$/);
    }
    expect(fake.signatureFailures).toBe(failures);
  });
});
