// Live paper prices (issue 17): with PAPER_PRICES=ticker the paper venue fills at Binance's
// public ticker read through ccxt (here pointed at the fake), and when the ticker cannot be
// reached it falls back to the deterministic feed and says so once.
import type { MikroORM } from "@mikro-orm/postgresql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPaperVenue, paperPrice } from "../../../src/domain/venues/paper";
import { loadConfig } from "../../../src/infra/config";
import { createOrm, sqlOf } from "../../../src/infra/database";
import { createPaperStore } from "../../../src/infra/venues/paper-store";
import { createTickerPriceFeed } from "../../../src/infra/venues/paper-tickers";
import { createTestDatabase, type TestDatabase, testEnv } from "../../support/context";
import {
  BINANCE_DEFAULT_RESTRICTIONS,
  type FakeBinance,
  startFakeBinance,
} from "../../support/venues/binance";

let fake: FakeBinance;
let db: TestDatabase;
let orm: MikroORM;
beforeAll(async () => {
  db = await createTestDatabase();
  orm = await createOrm({ url: db.url });
  fake = await startFakeBinance({
    keys: { K: { secret: "S", restrictions: BINANCE_DEFAULT_RESTRICTIONS } },
    markPrice: 63_000,
  });
});
afterAll(async () => {
  await fake.close();
  await orm.close();
  await db.drop();
});

const paperCreds = (n: number) => ({
  apiKey: null,
  secret: null,
  privateKey: null,
  walletAddress: `paper-0123456789abcde${n}`,
});

const reports = () => {
  const seen: Array<[string, string]> = [];
  return { seen, report: (e: string, d: string) => void seen.push([e, d]) };
};

describe("paper prices from the venues' public tickers", () => {
  it("when the ticker answers, then its last price is the paper price, read without a key and reused for a moment", async () => {
    fake.setLastPrice(64_123.45);
    const r = reports();
    let clock = 1_000_000;
    const feed = createTickerPriceFeed({ origin: fake.url, report: r.report, now: () => clock });
    expect(await feed("BTC/USDT:USDT")).toBe(64_123.45);
    const tickerCalls = () => fake.requests.filter((q) => q.path === "/fapi/v1/ticker/24hr").length;
    const calls = tickerCalls();
    fake.setLastPrice(64_200);
    expect(await feed("BTC/USDT:USDT")).toBe(64_123.45);
    expect(tickerCalls()).toBe(calls);
    clock += 2_500;
    expect(await feed("BTC/USDT:USDT")).toBe(64_200);
    const asked = fake.requests.filter((q) => q.path === "/fapi/v1/ticker/24hr");
    expect(asked.every((q) => q.headers["x-mbx-apikey"] === undefined)).toBe(true);
    expect(r.seen).toEqual([]);
  });

  it("when the paper venue has a live feed, then an order fills at the ticker's price", async () => {
    fake.setLastPrice(64_500);
    const venue = createPaperVenue({
      store: createPaperStore(sqlOf(orm)),
      livePrice: createTickerPriceFeed({ origin: fake.url, report: () => {} }),
    });
    await venue.verifyScopes(paperCreds(1));
    const fill = await venue.openPosition(paperCreds(1), {
      symbol: "btc",
      side: "long",
      size: 0.01,
    });
    expect(fill.price).toBe(64_500);
    expect((await venue.positions(paperCreds(1)))[0]).toMatchObject({
      entryPrice: 64_500,
      markPrice: 64_500,
    });
  });

  it("when the ticker cannot be reached, then the deterministic feed stands in and the outage is reported once", async () => {
    const r = reports();
    let clock = 5_000_000;
    // Nothing listens on port 9 (discard) on the test machine: connection refused.
    const feed = createTickerPriceFeed({
      origin: "http://127.0.0.1:9",
      report: r.report,
      now: () => clock,
      timeoutMs: 2_000,
    });
    expect(await feed("BTC/USDT:USDT")).toBeNull();
    clock += 1_000;
    expect(await feed("ETH/USDT:USDT")).toBeNull();
    expect(r.seen).toEqual([
      [
        "unavailable",
        "Binance's public ticker cannot be reached (NetworkError): paper prices come from the deterministic feed until it answers.",
      ],
    ]);
    // The paper venue then prices from the deterministic feed.
    const venue = createPaperVenue({
      store: createPaperStore(sqlOf(orm)),
      livePrice: feed,
      now: () => clock,
    });
    const m = await venue.market!(paperCreds(2), "BTC");
    expect(m.markPrice).toBe(paperPrice("BTC", clock));
  });

  it("when a symbol is not listed at the venue, then that symbol uses the deterministic feed and it is said once", async () => {
    const r = reports();
    const feed = createTickerPriceFeed({ origin: fake.url, report: r.report });
    expect(await feed("DOGE/USDT:USDT")).toBeNull();
    expect(await feed("DOGE/USDT:USDT")).toBeNull();
    expect(r.seen).toEqual([
      [
        "unavailable",
        "Binance lists no DOGE/USDT:USDT: its paper price comes from the deterministic feed.",
      ],
    ]);
  });

  it("when PAPER_PRICES is unset, then development and tests use the deterministic feed (production: see config.test.ts); a bad value names the variable", () => {
    expect(loadConfig(testEnv({ NODE_ENV: "test" })).paperPrices).toBe("feed");
    expect(loadConfig(testEnv({ NODE_ENV: "development" })).paperPrices).toBe("feed");
    expect(loadConfig(testEnv({ NODE_ENV: "test", PAPER_PRICES: "ticker" })).paperPrices).toBe(
      "ticker",
    );
    expect(() => loadConfig(testEnv({ NODE_ENV: "test", PAPER_PRICES: "live" }))).toThrow(
      /PAPER_PRICES/,
    );
  });
});
