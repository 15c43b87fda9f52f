// The fakes' answers against responses recorded from the real venues (ccxt's static test data,
// copied under test/fixtures/venues/): a fake that drops a field the venue sends would let an
// adapter pass here and break on the venue.
import { randomBytes } from "node:crypto";
import ccxt from "ccxt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rebaseUrls } from "../../../src/infra/venues/ccxt-common";
import { createHyperliquidVenue } from "../../../src/infra/venues/hyperliquid";
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
import { missingFields, recorded } from "../../support/venues/contract";
import { type FakeHyperliquid, startFakeHyperliquid } from "../../support/venues/hyperliquid";

const oracle = new ccxt.hyperliquid();
const wallet = () => {
  const key = randomBytes(32).toString("hex");
  return { key, address: oracle.ethGetAddressFromPrivateKey(`0x${key}`).toLowerCase() };
};

describe("the contract checker", () => {
  it("when a fake's response loses a field the recorded response has, then the check names it", () => {
    const venue = recorded("hyperliquid-order-filled").response;
    const fake = structuredClone(venue) as {
      response: { data: { statuses: Array<{ filled: Record<string, unknown> }> } };
    };
    expect(missingFields(venue, fake)).toEqual([]);
    delete fake.response.data.statuses[0]!.filled.avgPx;
    expect(missingFields(venue, fake)).toEqual(["$.response.data.statuses[0].filled.avgPx"]);
    (fake.response.data as Record<string, unknown>).statuses = "filled";
    expect(missingFields(venue, fake)).toEqual([
      "$.response.data.statuses (array expected, value found)",
    ]);
  });
});

describe("Hyperliquid fake against recorded responses", () => {
  const master = wallet();
  const agent = wallet();
  let fake: FakeHyperliquid;
  beforeAll(async () => {
    fake = await startFakeHyperliquid({
      roles: { [agent.address]: { role: "agent", master: master.address } },
    });
  });
  afterAll(async () => {
    await fake.close();
  });
  const creds = () => ({
    apiKey: null,
    secret: null,
    privateKey: Buffer.from(agent.key),
    walletAddress: master.address,
  });

  it("when an order fills, and one fills with TP/SL children, then the fake's /exchange answers have every recorded field; the entry's orderStatus too", async () => {
    const venue = createHyperliquidVenue({ origin: fake.url });
    const cloid = randomBytes(16).toString("hex");
    await venue.openPosition(creds(), {
      symbol: "BTC/USDC:USDC",
      side: "long",
      size: 0.01,
      clientOrderId: cloid,
    });
    const plain = fake.actions.filter((a) => a.type === "order").at(-1)?.response;
    expect(missingFields(recorded("hyperliquid-order-filled").response, plain)).toEqual([]);
    await venue.closePosition(creds(), { symbol: "BTC/USDC:USDC" });

    await venue.openPosition(creds(), {
      symbol: "BTC/USDC:USDC",
      side: "long",
      size: 0.01,
      stopLoss: 60_000,
      takeProfit: 70_000,
    });
    const grouped = fake.actions.filter((a) => a.type === "order").at(-1)?.response;
    expect(missingFields(recorded("hyperliquid-order-with-tpsl").response, grouped)).toEqual([]);
    await venue.closePosition(creds(), { symbol: "BTC/USDC:USDC" });

    const status = (await (
      await fetch(`${fake.url}/info`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ type: "orderStatus", user: master.address, oid: `0x${cloid}` }),
      })
    ).json()) as { status: string; order: unknown };
    expect(status.status).toBe("order");
    expect(
      missingFields(recorded("hyperliquid-order-status-entry").response, status.order),
    ).toEqual([]);
  });
});

describe("Bybit fake against recorded responses", () => {
  const KEY = "contractBybitKey000";
  const SECRET = "contractBybitSecret00000000000000000";
  let fake: FakeBybit;
  beforeAll(async () => {
    fake = await startFakeBybit({
      keys: { [KEY]: { secret: SECRET, queryApi: BYBIT_TRADE_ONLY_QUERY_API } },
    });
  });
  afterAll(async () => {
    await fake.close();
  });

  it("when an order is created, then the fake's order/create envelope has every recorded field", async () => {
    const ex = new ccxt.bybit({
      apiKey: KEY,
      secret: SECRET,
      enableRateLimit: false,
      urls: { api: rebaseUrls(new ccxt.bybit().urls.api as never, fake.url) as never },
    });
    const answer = await ex.privatePostV5OrderCreate({
      category: "linear",
      symbol: "BTCUSDT",
      side: "Buy",
      orderType: "Market",
      qty: "0.01",
      orderLinkId: "w-contract",
    });
    expect(missingFields(recorded("bybit-order-create").response, answer)).toEqual([]);
  });
});

describe("Binance USD-M fake against recorded responses", () => {
  const KEY = "contractBinanceKey0000000000000000000000000000000000000000000000";
  const SECRET = "contractBinanceSecret000000000000000000000000000000000000000000";
  let fake: FakeBinance;
  beforeAll(async () => {
    fake = await startFakeBinance({
      keys: { [KEY]: { secret: SECRET, restrictions: BINANCE_DEFAULT_RESTRICTIONS } },
    });
  });
  afterAll(async () => {
    await fake.close();
  });

  it("when an order is placed and then looked up by its client id, then both answers have every field of a recorded USD-M order", async () => {
    const ex = new ccxt.binanceusdm({
      apiKey: KEY,
      secret: SECRET,
      enableRateLimit: false,
      options: { fetchCurrencies: false },
      urls: { api: rebaseUrls(new ccxt.binanceusdm().urls.api as never, fake.url) as never },
    });
    const venue = recorded("binanceusdm-order").response;
    const placed = await ex.fapiPrivatePostOrder({
      symbol: "BTCUSDT",
      side: "BUY",
      type: "MARKET",
      quantity: "0.01",
      newClientOrderId: "w-contract",
    });
    expect(missingFields(venue, placed)).toEqual([]);
    const found = await ex.fapiPrivateGetOrder({
      symbol: "BTCUSDT",
      origClientOrderId: "w-contract",
    });
    expect(missingFields(venue, found)).toEqual([]);
  });
});
