// The Bybit adapter against the strict fake in both position modes (one-way positionIdx 0,
// hedge 1/2), on a classic account, on a USDC perpetual, and through Bybit's error table.
import ccxt from "ccxt";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { evaluateBybitScopes } from "../../../src/domain/venues/policies/bybit";
import type { VenueCredentials } from "../../../src/domain/venues/types";
import { createBybitVenue } from "../../../src/infra/venues/bybit";
import { mapBybitError } from "../../../src/infra/venues/bybit-errors";
import { rebaseUrls } from "../../../src/infra/venues/ccxt-common";
import {
  BYBIT_TRADE_ONLY_QUERY_API,
  type FakeBybit,
  startFakeBybit,
} from "../../support/venues/bybit";
import { venueError } from "../../support/venues/expect";

const ONE_WAY = "OneWayKeyBybit0001";
const HEDGE = "HedgeKeyBybit00001";
const CLASSIC = "ClassicKeyBybit001";
const SECRET = "ModesSecretBybit00000000000000000001";
const SYMBOL = "BTC/USDT:USDT";

const creds = (apiKey: string): VenueCredentials => ({
  apiKey: Buffer.from(apiKey),
  secret: Buffer.from(SECRET),
  privateKey: null,
  walletAddress: null,
});

let fake: FakeBybit;
let venue: ReturnType<typeof createBybitVenue>;

beforeAll(async () => {
  fake = await startFakeBybit({
    keys: {
      [ONE_WAY]: { secret: SECRET, queryApi: BYBIT_TRADE_ONLY_QUERY_API },
      [HEDGE]: { secret: SECRET, queryApi: BYBIT_TRADE_ONLY_QUERY_API, hedgeMode: true },
      [CLASSIC]: { secret: SECRET, queryApi: { ...BYBIT_TRADE_ONLY_QUERY_API, uta: 0 } },
    },
  });
  venue = createBybitVenue({ origin: fake.url });
});

afterAll(async () => {
  await fake.close();
});

/** The bodies of the signed POSTs to `path` since request number `from`. */
function posted(path: string, from: number): Record<string, unknown>[] {
  return fake.requests
    .slice(from)
    .filter((r) => r.path === path)
    .map((r) => JSON.parse(r.body) as Record<string, unknown>);
}

/** A raw ccxt client on the fake, to send what the adapter never would. */
function rawClient(apiKey: string) {
  return new ccxt.bybit({
    apiKey,
    secret: SECRET,
    enableRateLimit: false,
    options: { enableUnifiedMargin: false, enableUnifiedAccount: true },
    urls: { api: rebaseUrls(new ccxt.bybit().urls.api as never, fake.url) as never },
  });
}

describe.each([
  { mode: "one-way", key: ONE_WAY, long: 0, short: 0 },
  { mode: "hedge", key: HEDGE, long: 1, short: 2 },
])("Bybit in $mode mode", ({ key, long, short }) => {
  beforeEach(async () => {
    await venue.closePosition(creds(key), { symbol: SYMBOL, side: "long" });
    await venue.closePosition(creds(key), { symbol: SYMBOL, side: "short" });
  });

  it("when a long is opened with SL/TP, its SL replaced twice, its TP replaced and it is closed, then every step succeeds against the strict fake, each request addresses the long leg, and nothing is left", async () => {
    const before = fake.requests.length;
    const c = creds(key);
    const fill = await venue.openPosition(c, {
      symbol: SYMBOL,
      side: "long",
      size: 0.01,
      stopLoss: 60_000,
      takeProfit: 70_000,
    });
    expect(fill).toMatchObject({ side: "long", size: 0.01, price: 63_000 });
    expect(fill.protectionError).toBeUndefined();
    expect(fake.positions(key)).toEqual([
      expect.objectContaining({
        positionIdx: long,
        side: "Buy",
        stopLoss: "60000",
        takeProfit: "70000",
      }),
    ]);

    await venue.modifyPosition(c, { symbol: SYMBOL, side: "long", stopLoss: 61_000 });
    expect(fake.positions(key)).toMatchObject([{ stopLoss: "61000", takeProfit: "70000" }]);
    await venue.modifyPosition(c, { symbol: SYMBOL, side: "long", stopLoss: 62_000 });
    expect(fake.positions(key)).toMatchObject([{ stopLoss: "62000", takeProfit: "70000" }]);
    await venue.modifyPosition(c, { symbol: SYMBOL, side: "long", takeProfit: 72_000 });
    expect(fake.positions(key)).toMatchObject([{ stopLoss: "62000", takeProfit: "72000" }]);

    const closed = await venue.closePosition(c, { symbol: SYMBOL, side: "long" });
    expect(closed).toMatchObject({ side: "long", size: 0.01 });
    expect(fake.positions(key)).toEqual([]);
    expect(await venue.positions(c)).toEqual([]);

    const orders = posted("/v5/order/create", before);
    expect(orders.map((o) => [o.side, o.positionIdx, o.reduceOnly])).toEqual([
      ["Buy", long, undefined],
      ["Sell", long, true],
    ]);
    const stops = posted("/v5/position/trading-stop", before);
    expect(stops.map((s) => [s.positionIdx, s.stopLoss, s.takeProfit])).toEqual([
      [long, "61000", undefined],
      [long, "62000", undefined],
      [long, undefined, "72000"],
    ]);
  });

  it("when a short is opened with SL/TP and its stop is replaced, then the short leg carries them and closing it leaves nothing", async () => {
    const c = creds(key);
    await venue.openPosition(c, {
      symbol: SYMBOL,
      side: "short",
      size: 0.02,
      stopLoss: 66_000,
      takeProfit: 60_000,
    });
    await venue.modifyPosition(c, { symbol: SYMBOL, side: "short", stopLoss: 65_000 });
    expect(fake.positions(key)).toEqual([
      expect.objectContaining({
        positionIdx: short,
        side: "Sell",
        stopLoss: "65000",
        takeProfit: "60000",
      }),
    ]);
    expect(await venue.closePosition(c, { symbol: SYMBOL, side: "short" })).toMatchObject({
      side: "short",
      size: 0.02,
    });
    expect(fake.positions(key)).toEqual([]);
  });
});

describe("Bybit hedge mode: both legs at once", () => {
  const c = creds(HEDGE);

  it("when a long and a short are open together, then each keeps its own stop and closing the short leaves the long with its stop", async () => {
    await venue.openPosition(c, { symbol: SYMBOL, side: "long", size: 0.01, stopLoss: 60_000 });
    await venue.openPosition(c, { symbol: SYMBOL, side: "short", size: 0.02, stopLoss: 66_000 });
    await venue.modifyPosition(c, { symbol: SYMBOL, side: "short", stopLoss: 65_500 });
    const legs = fake.positions(HEDGE).sort((a, b) => a.positionIdx - b.positionIdx);
    expect(legs).toMatchObject([
      { positionIdx: 1, side: "Buy", size: 0.01, stopLoss: "60000" },
      { positionIdx: 2, side: "Sell", size: 0.02, stopLoss: "65500" },
    ]);
    expect((await venue.positions(c)).map((p) => [p.side, p.size]).sort()).toEqual([
      ["long", 0.01],
      ["short", 0.02],
    ]);

    await venue.closePosition(c, { symbol: SYMBOL, side: "short" });
    expect(fake.positions(HEDGE)).toMatchObject([
      { positionIdx: 1, side: "Buy", size: 0.01, stopLoss: "60000" },
    ]);
    await venue.closePosition(c, { symbol: SYMBOL, side: "long" });
    expect(fake.positions(HEDGE)).toEqual([]);
  });

  it("when an order or a trading stop carries a positionIdx that does not fit the mode, then the fake refuses it with retCode 10001 and the user reads Bybit's reason and what to do", async () => {
    const before = fake.executedOrders(HEDGE).length;
    const ex = rawClient(HEDGE);
    const order = await ex
      .privatePostV5OrderCreate({
        category: "linear",
        symbol: "BTCUSDT",
        side: "Buy",
        orderType: "Market",
        qty: "0.01",
        positionIdx: 0,
      })
      .catch((err: unknown) => err);
    const err = mapBybitError(order);
    expect(err.code).toBe("invalid_order");
    expect(err.message).toBe(
      "Bybit refused the order: position idx not match position mode. The account's position mode (one-way / hedge) does not match the order; try again so Warden re-reads it. (code 10001)",
    );
    expect(fake.executedOrders(HEDGE).length).toBe(before);

    const oneWay = rawClient(ONE_WAY);
    await venue.openPosition(creds(ONE_WAY), { symbol: SYMBOL, side: "long", size: 0.01 });
    const stop = await oneWay
      .privatePostV5PositionTradingStop({
        category: "linear",
        symbol: "BTCUSDT",
        tpslMode: "Full",
        positionIdx: 1,
        stopLoss: "60000",
      })
      .catch((e: unknown) => e);
    expect(mapBybitError(stop).message).toContain("position idx not match position mode");
    expect(fake.positions(ONE_WAY)).toMatchObject([{ stopLoss: "0.00" }]);
    await venue.closePosition(creds(ONE_WAY), { symbol: SYMBOL });
  });

  it("when the account switches mode in the Bybit app between two trades, then the next order addresses the new mode", async () => {
    fake.setHedgeMode(ONE_WAY, true);
    try {
      const before = fake.requests.length;
      await venue.openPosition(creds(ONE_WAY), { symbol: SYMBOL, side: "short", size: 0.01 });
      await venue.closePosition(creds(ONE_WAY), { symbol: SYMBOL, side: "short" });
      expect(posted("/v5/order/create", before).map((o) => o.positionIdx)).toEqual([2, 2]);
    } finally {
      fake.setHedgeMode(ONE_WAY, false);
    }
  });
});

describe("Bybit refusals in plain words (retCode table)", () => {
  const c = creds(ONE_WAY);

  it("when the margin does not cover the order (110007), then insufficient_funds with the code kept", async () => {
    const err = await venueError(
      venue.openPosition(c, { symbol: SYMBOL, side: "long", size: 10, leverage: 1 }),
    );
    expect(err.code).toBe("insufficient_funds");
    expect(err.message).toBe("Bybit: insufficient margin for this order. (code 110007)");
  });

  it("when the order is below Bybit's minimum value (110094), then Bybit's reason and what to do", async () => {
    fake.setMarkPrice(1_000);
    try {
      const err = await venueError(
        venue.openPosition(c, { symbol: SYMBOL, side: "long", size: 0.001 }),
      );
      expect(err.code).toBe("invalid_order");
      expect(err.message).toBe(
        "Bybit refused the order: Order does not meet minimum order value 5USDT. Raise the size above Bybit's minimum order value. (code 110094)",
      );
    } finally {
      fake.setMarkPrice(63_000);
    }
  });

  it("when the same client order id is sent twice (110072), then the second open is refused saying the order was already placed", async () => {
    const clientOrderId = "0123456789abcdef0123456789abcdef";
    await venue.openPosition(c, { symbol: SYMBOL, side: "long", size: 0.01, clientOrderId });
    const err = await venueError(
      venue.openPosition(c, { symbol: SYMBOL, side: "long", size: 0.01, clientOrderId }),
    );
    await venue.closePosition(c, { symbol: SYMBOL });
    expect(
      fake.executedOrders(ONE_WAY).filter((o) => o.orderLinkId === `w-${clientOrderId}`),
    ).toHaveLength(1);
    expect(err.message).toBe(
      "Bybit refused the order: OrderLinkedID is duplicate. An order with this request's id was already placed once; check your positions. (code 110072)",
    );
  });

  it("when a reduce-only order would not reduce (110017) or a quantity is invalid (10001), then Bybit's reason and what to do", async () => {
    const ex = rawClient(ONE_WAY);
    const reduce = await ex
      .privatePostV5OrderCreate({
        category: "linear",
        symbol: "BTCUSDT",
        side: "Sell",
        orderType: "Market",
        qty: "0.01",
        reduceOnly: true,
      })
      .catch((e: unknown) => e);
    expect(mapBybitError(reduce).message).toBe(
      "Bybit refused the order: Reduce-only rule not satisfied. There is no position left to reduce in that direction. (code 110017)",
    );
    const qty = await ex
      .privatePostV5OrderCreate({
        category: "linear",
        symbol: "BTCUSDT",
        side: "Buy",
        orderType: "Market",
        qty: "0.0015",
      })
      .catch((e: unknown) => e);
    expect(mapBybitError(qty).message).toBe(
      "Bybit refused the order: Qty invalid. Check the size against the symbol's lot step and limits. (code 10001)",
    );
  });
});

describe("Bybit account types and symbols the key cannot trade", () => {
  it("when a classic (non-unified) account's key is verified, then it is refused at /connect naming the setting to change", async () => {
    const report = await venue.verifyScopes(creds(CLASSIC));
    expect(report.permissions).toMatchObject({ uta: 0 });
    const decision = evaluateBybitScopes(report, { egressIps: [] });
    expect(decision.ok).toBe(false);
    expect(!decision.ok && decision.refused).toEqual([
      {
        permission: "uta",
        fix: "This is a classic Bybit account; Warden works with a Unified Trading Account. In Bybit → Assets → Unified Trading Account choose 'Upgrade Now', then connect the key again.",
      },
    ]);
    // A unified account's key passes the same check.
    expect(
      evaluateBybitScopes(await venue.verifyScopes(creds(ONE_WAY)), { egressIps: [] }).ok,
    ).toBe(true);
  });

  it("when a classic account's balance is asked as a unified one, then the fake refuses it as Bybit does and the user is told to upgrade", async () => {
    const err = await venueError(venue.balance(creds(CLASSIC)));
    expect(err.code).toBe("invalid_order");
    expect(err.message).toContain("Upgrade");
    expect(err.message).toContain("(code 10001)");
    // The fake serves a classic account its CONTRACT wallet.
    const answer = (await rawClient(CLASSIC).privateGetV5AccountWalletBalance({
      accountType: "CONTRACT",
    })) as { result: { list: { accountType: string }[] } };
    expect(answer.result.list[0]?.accountType).toBe("CONTRACT");
  });

  it("when a USDC perpetual is asked, then it is refused with the reason and nothing is sent to order/create", async () => {
    const before = fake.requests.length;
    const err = await venueError(
      venue.openPosition(creds(ONE_WAY), { symbol: "BTC/USDC:USDC", side: "long", size: 0.01 }),
    );
    expect(err.code).toBe("permission_denied");
    expect(err.message).toBe(
      "Bybit's BTC/USDC:USDC settles in USDC; Warden trades only Bybit's USDT perpetuals with this key (USDC contracts need another permission). Use BTC/USDT:USDT instead.",
    );
    expect(fake.requests.slice(before).some((r) => r.path === "/v5/order/create")).toBe(false);
  });
});
