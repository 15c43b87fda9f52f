// An open whose answer is lost after the venue executed it (timeout, 502): Warden looks the
// order up by its client order id and records the real position — never a failure, never a
// second order on retry, one audit entry with the true size.
import type { MikroORM } from "@mikro-orm/postgresql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TradingError } from "../../../src/domain/trading/trading";
import { createOrm } from "../../../src/infra/database";
import { createBinanceUsdmVenue } from "../../../src/infra/venues/binanceusdm";
import { createBybitVenue } from "../../../src/infra/venues/bybit";
import { createTestDatabase, type TestDatabase } from "../../support/context";
import { tradingOn } from "../../support/venue-trading";
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
import type { LostAnswer } from "../../support/venues/common";

let db: TestDatabase;
let orm: MikroORM;
beforeAll(async () => {
  db = await createTestDatabase();
  orm = await createOrm({ url: db.url });
});
afterAll(async () => {
  await orm.close();
  await db.drop();
});

const caller = (userId: string) => ({ userId, source: "api" as const, ip: null });

async function openAudits(sql: ReturnType<typeof import("../../../src/infra/database").sqlOf>) {
  return sql(
    "select outcome, details from trade_audit_log where action = 'open' order by id",
  ) as Promise<Array<{ outcome: string; details: Record<string, unknown> }>>;
}

describe("Binance: an open whose answer is lost", () => {
  const KEY = "lostAnswerKey00000000000000000000000000000000000000000000000000";
  const SECRET = "lostAnswerSecret000000000000000000000000000000000000000000000";
  let fake: FakeBinance;
  beforeAll(async () => {
    fake = await startFakeBinance({
      keys: { [KEY]: { secret: SECRET, restrictions: BINANCE_DEFAULT_RESTRICTIONS } },
    });
  });
  afterAll(async () => {
    await fake.close();
  });

  it.each<[LostAnswer, number]>([
    ["timeout", 7_100_001],
    [502, 7_100_002],
  ])(
    "when the fake executes the open and then answers %s, then Warden reports the filled position, a retry places no second order, and the audit has one open with the true size",
    async (lost, telegramId) => {
      const venue = createBinanceUsdmVenue({ origin: fake.url, timeoutMs: 1_000 });
      const { trading, userId, sql } = await tradingOn(
        orm,
        "binanceusdm",
        venue,
        { apiKey: KEY, secret: SECRET },
        telegramId,
      );
      const okOpens = (await openAudits(sql)).filter((a) => a.outcome === "ok").length;
      const before = fake.executedOrders(KEY).length;
      fake.loseNextAnswer(KEY, lost);
      const input = {
        symbol: "BTC/USDT:USDT",
        side: "long" as const,
        size: 0.01,
        idempotencyKey: `api:lost-${lost}`,
      };
      const trade = await trading.openTrade(caller(userId), input);
      expect(trade).toMatchObject({ status: "open", side: "long", size: 0.01, entryPrice: 63_000 });

      const again = await trading.openTrade(caller(userId), input);
      expect(again.id).toBe(trade.id);
      expect(fake.executedOrders(KEY).length - before).toBe(1);
      expect(fake.positions(KEY)).toEqual([
        { symbol: "BTCUSDT", amount: 0.01, entryPrice: 63_000 },
      ]);

      const audits = (await openAudits(sql)).filter((a) => a.outcome === "ok");
      expect(audits.length - okOpens).toBe(1);
      expect(audits.at(-1)?.details).toMatchObject({ filled: 0.01, price: 63_000 });
      await trading.closeTrade(caller(userId), trade.id);
      expect(fake.positions(KEY)).toEqual([]);
    },
    20_000,
  );

  it("when the venue cannot be reached at all, then the outcome stays unknown and the request stays on hold so a retry cannot open twice", async () => {
    const venue = createBinanceUsdmVenue({ origin: "http://127.0.0.1:9", timeoutMs: 500 });
    const { trading, userId } = await tradingOn(
      orm,
      "binanceusdm",
      venue,
      { apiKey: KEY, secret: SECRET },
      7_100_003,
    );
    const err = await trading
      .openTrade(caller(userId), {
        symbol: "BTC/USDT:USDT",
        side: "long",
        size: 0.01,
        idempotencyKey: "api:unreachable",
      })
      .catch((e: unknown) => e);
    // Unreachable the whole time: Warden cannot tell, so the request stays on hold.
    expect(err).toBeInstanceOf(TradingError);
    expect((err as TradingError).code).toBe("outcome_unknown");
    const again = await trading
      .openTrade(caller(userId), {
        symbol: "BTC/USDT:USDT",
        side: "long",
        size: 0.01,
        idempotencyKey: "api:unreachable",
      })
      .catch((e: unknown) => e);
    expect((again as TradingError).code).toBe("in_progress");
  }, 20_000);
});

describe("Bybit: an open whose answer is lost", () => {
  const KEY = "lostBybitKey0000000";
  const SECRET = "lostBybitSecret0000000000000000000000";
  let fake: FakeBybit;
  beforeAll(async () => {
    fake = await startFakeBybit({
      keys: { [KEY]: { secret: SECRET, queryApi: BYBIT_TRADE_ONLY_QUERY_API } },
    });
  });
  afterAll(async () => {
    await fake.close();
  });

  it.each<[LostAnswer, number]>([
    ["timeout", 7_200_001],
    [502, 7_200_002],
  ])(
    "when the fake executes the open and then answers %s, then Warden reports the filled position, a retry places no second order, and the audit has one open with the true size",
    async (lost, telegramId) => {
      const venue = createBybitVenue({ origin: fake.url, timeoutMs: 1_000 });
      const { trading, userId, sql } = await tradingOn(
        orm,
        "bybit",
        venue,
        { apiKey: KEY, secret: SECRET },
        telegramId,
      );
      const okOpens = (await openAudits(sql)).filter((a) => a.outcome === "ok").length;
      const before = fake.executedOrders(KEY).length;
      fake.loseNextAnswer(KEY, lost);
      const input = {
        symbol: "BTC/USDT:USDT",
        side: "short" as const,
        size: 0.02,
        idempotencyKey: `api:bybit-lost-${lost}`,
      };
      const trade = await trading.openTrade(caller(userId), input);
      expect(trade).toMatchObject({
        status: "open",
        side: "short",
        size: 0.02,
        entryPrice: 63_000,
      });
      const again = await trading.openTrade(caller(userId), input);
      expect(again.id).toBe(trade.id);
      expect(fake.executedOrders(KEY).length - before).toBe(1);
      expect(fake.positions(KEY)).toEqual([expect.objectContaining({ side: "Sell", size: 0.02 })]);
      const audits = (await openAudits(sql)).filter((a) => a.outcome === "ok");
      expect(audits.length - okOpens).toBe(1);
      expect(audits.at(-1)?.details).toMatchObject({ filled: 0.02, price: 63_000 });
      await trading.closeTrade(caller(userId), trade.id);
      expect(fake.positions(KEY)).toEqual([]);
    },
    20_000,
  );
});
