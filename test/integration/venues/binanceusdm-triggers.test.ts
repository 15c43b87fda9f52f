// Binance's trigger rules, against the strict fake (one closePosition trigger of each kind per
// direction, -4130; hedge mode's positionSide, -4061): a position's whole life keeps exactly
// one stop and one take profit, and none outlives it.
import ccxt from "ccxt";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { VenueCredentials } from "../../../src/domain/venues/types";
import { createBinanceUsdmVenue } from "../../../src/infra/venues/binanceusdm";
import { rebaseUrls } from "../../../src/infra/venues/ccxt-common";
import {
  BINANCE_DEFAULT_RESTRICTIONS,
  type FakeBinance,
  startFakeBinance,
} from "../../support/venues/binance";
import { parseForm } from "../../support/venues/common";
import { venueError } from "../../support/venues/expect";

const KEY = "triggerKey000000000000000000000000000000000000000000000000000000";
const SECRET = "triggerSecret0000000000000000000000000000000000000000000000000";
const SYMBOL = "BTC/USDT:USDT";
const creds: VenueCredentials = {
  apiKey: Buffer.from(KEY),
  secret: Buffer.from(SECRET),
  privateKey: null,
  walletAddress: null,
};

let fake: FakeBinance;
let venue: ReturnType<typeof createBinanceUsdmVenue>;

beforeAll(async () => {
  fake = await startFakeBinance({
    keys: { [KEY]: { secret: SECRET, restrictions: BINANCE_DEFAULT_RESTRICTIONS } },
  });
  venue = createBinanceUsdmVenue({ origin: fake.url });
});
afterAll(async () => {
  await fake.close();
});

/** The open triggers by kind, as [type, price, closePosition, positionSide]. */
const triggers = () =>
  fake
    .algoOrders(KEY)
    .map((o) => [o.orderType, Number(o.triggerPrice), o.closePosition, o.positionSide]);

function expectOneOfEach(stop: number, tp: number, ps: string) {
  expect(triggers()).toEqual(
    expect.arrayContaining([
      ["STOP_MARKET", stop, true, ps],
      ["TAKE_PROFIT_MARKET", tp, true, ps],
    ]),
  );
  expect(triggers()).toHaveLength(2);
}

describe.each([
  { mode: "one-way", hedged: false, ps: "BOTH" },
  { mode: "hedge", hedged: true, ps: "LONG" },
])("Binance $mode mode: a protected position's life", ({ hedged, ps }) => {
  beforeEach(async () => {
    // Binance changes the mode only with no position open (-4068), so flatten first.
    await venue.closePosition(creds, { symbol: SYMBOL });
    expect(fake.positions(KEY)).toEqual([]);
    expect(fake.algoOrders(KEY)).toEqual([]);
    fake.setHedgeMode(KEY, hedged);
  });

  it("when a long is opened with SL/TP, its SL replaced twice, its TP replaced and it is closed, then every step succeeds with exactly one trigger of each kind, and none after the close", async () => {
    const before = fake.requests.length;
    const fill = await venue.openPosition(creds, {
      symbol: SYMBOL,
      side: "long",
      size: 0.01,
      stopLoss: 60_000,
      takeProfit: 70_000,
    });
    expect(fill.protectionError).toBeUndefined();
    expectOneOfEach(60_000, 70_000, ps);

    await venue.modifyPosition(creds, { symbol: SYMBOL, side: "long", stopLoss: 61_000 });
    expectOneOfEach(61_000, 70_000, ps);
    await venue.modifyPosition(creds, { symbol: SYMBOL, side: "long", stopLoss: 62_000 });
    expectOneOfEach(62_000, 70_000, ps);
    await venue.modifyPosition(creds, { symbol: SYMBOL, side: "long", takeProfit: 71_000 });
    expectOneOfEach(62_000, 71_000, ps);

    const close = await venue.closePosition(creds, { symbol: SYMBOL, side: "long" });
    expect(close).toMatchObject({ side: "long", size: 0.01 });
    expect(fake.positions(KEY)).toEqual([]);
    expect(fake.algoOrders(KEY)).toEqual([]);

    // Every order addressed the account's mode: positionSide in hedge mode and never
    // reduceOnly there; no positionSide in one-way mode.
    const sent = fake.requests
      .slice(before)
      .filter((r) => r.method === "POST" && /\/fapi\/v1\/(order|algoOrder)$/.test(r.path))
      .map((r) => parseForm(r.body));
    expect(sent.length).toBeGreaterThan(8);
    for (const o of sent) {
      if (hedged) {
        expect(o.positionSide).toBe("LONG");
        expect(o.reduceOnly).toBeUndefined();
      } else expect(o.positionSide).toBeUndefined();
    }
  });

  it("when the stop fires at the venue, then its take profit is an orphan until the next reconciliation cancels it", async () => {
    await venue.openPosition(creds, {
      symbol: SYMBOL,
      side: "long",
      size: 0.01,
      stopLoss: 60_000,
      takeProfit: 70_000,
    });
    const stop = fake.algoOrders(KEY).find((o) => o.orderType === "STOP_MARKET")!;
    fake.fireTrigger(KEY, stop.algoId);
    expect(fake.positions(KEY)).toEqual([]);
    // Binance leaves the sibling open (VENUES.md): it would close the next position.
    expect(triggers()).toEqual([["TAKE_PROFIT_MARKET", 70_000, true, ps]]);
    expect(await venue.openTriggers(creds, { symbol: SYMBOL })).toHaveLength(1);

    const cancelled = await venue.cancelLeftoverTriggers(creds, { symbol: SYMBOL });
    expect(cancelled.map((t) => [t.kind, t.triggerPrice])).toEqual([["takeProfit", 70_000]]);
    expect(fake.algoOrders(KEY)).toEqual([]);
    expect(await venue.openTriggers(creds, {})).toEqual([]);
  });

  it("when a new stop is refused, then the old one stays and the position is never unprotected", async () => {
    await venue.openPosition(creds, { symbol: SYMBOL, side: "long", size: 0.01, stopLoss: 60_000 });
    // A stop above the mark would fire at once: -2021.
    const err = await venueError(
      venue.modifyPosition(creds, { symbol: SYMBOL, side: "long", stopLoss: 64_000 }),
    );
    expect(err.code).toBe("invalid_order");
    expect(err.message).toContain("(code -2021)");
    expect(triggers()).toEqual([["STOP_MARKET", 60_000, true, ps]]);
  });

  it("when the stop loss of a new position is refused, then the position is open and the fill says the stop was not placed", async () => {
    const fill = await venue.openPosition(creds, {
      symbol: SYMBOL,
      side: "long",
      size: 0.01,
      stopLoss: 64_000,
    });
    expect(fill).toMatchObject({ side: "long", size: 0.01 });
    expect(fill.protectionError).toContain("opened the position but refused its stop loss");
    expect(fake.positions(KEY)).toHaveLength(1);
    expect(fake.algoOrders(KEY)).toEqual([]);
  });
});

describe("Binance: the fake's rules", () => {
  /** A raw ccxt client on the fake, to send what Warden's adapter never would. */
  const raw = () =>
    new ccxt.binanceusdm({
      apiKey: KEY,
      secret: SECRET,
      enableRateLimit: false,
      options: { fetchCurrencies: false },
      urls: { api: rebaseUrls(new ccxt.binanceusdm().urls.api as never, fake.url) as never },
    });

  beforeEach(async () => {
    await venue.closePosition(creds, { symbol: SYMBOL });
    fake.setHedgeMode(KEY, false);
  });

  it("when a second closePosition stop is placed in the same direction, then -4130", async () => {
    await venue.openPosition(creds, { symbol: SYMBOL, side: "long", size: 0.01, stopLoss: 60_000 });
    await expect(
      raw().createOrder(SYMBOL, "market", "sell", 0, undefined, {
        stopLossPrice: 59_000,
        closePosition: true,
      }),
    ).rejects.toThrow(/-4130/);
    expect(fake.algoOrders(KEY)).toHaveLength(1);
  });

  it("when an order names a position side that does not match the mode, then -4061; reduceOnly in hedge mode, then -1106", async () => {
    await expect(
      raw().createOrder(SYMBOL, "market", "buy", 0.01, undefined, { positionSide: "LONG" }),
    ).rejects.toThrow(/-4061/);
    fake.setHedgeMode(KEY, true);
    await expect(raw().createOrder(SYMBOL, "market", "buy", 0.01)).rejects.toThrow(/-4061/);
    await expect(
      raw().createOrder(SYMBOL, "market", "sell", 0.01, undefined, {
        positionSide: "LONG",
        reduceOnly: true,
      }),
    ).rejects.toThrow(/-1106/);
    expect(fake.positions(KEY)).toEqual([]);
  });

  it("when a stop order is sent to the classic order endpoint, then -4120", async () => {
    await expect(
      raw().fapiPrivatePostOrder({
        symbol: "BTCUSDT",
        side: "SELL",
        type: "STOP_MARKET",
        stopPrice: "60000",
        closePosition: "true",
      }),
    ).rejects.toThrow(/-4120/);
  });

  it("when a reduce-only order would not reduce (one-way), then -2022", async () => {
    const err = await venueError(venue.modifyPosition(creds, { symbol: SYMBOL, size: 0.01 }));
    expect(err.code).toBe("invalid_order");
    await expect(
      raw().createOrder(SYMBOL, "market", "sell", 0.01, undefined, { reduceOnly: true }),
    ).rejects.toThrow(/-2022/);
  });
});
