// An open whose answer is lost after the venue executed it (timeout, 502): Warden looks the
// order up by its client order id and records the real position — never a failure, never a
// second order on retry, one audit entry with the true size.
import { randomBytes } from "node:crypto";
import type { MikroORM } from "@mikro-orm/postgresql";
import ccxt from "ccxt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TradingError } from "../../../src/domain/trading/trading";
import { createOrm } from "../../../src/infra/database";
import { createBinanceUsdmVenue } from "../../../src/infra/venues/binanceusdm";
import { createBybitVenue } from "../../../src/infra/venues/bybit";
import { createHyperliquidVenue } from "../../../src/infra/venues/hyperliquid";
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
import { type FakeHyperliquid, startFakeHyperliquid } from "../../support/venues/hyperliquid";

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

describe("Hyperliquid: an open whose answer is lost, and an entry whose stop is refused", () => {
  const oracle = new ccxt.hyperliquid();
  const wallet = () => {
    const key = randomBytes(32).toString("hex");
    return { key, address: oracle.ethGetAddressFromPrivateKey(`0x${key}`).toLowerCase() };
  };
  const master = wallet();
  const agent = wallet();
  const BTC = "BTC/USDC:USDC";
  let fake: FakeHyperliquid;
  beforeAll(async () => {
    fake = await startFakeHyperliquid({
      roles: { [agent.address]: { role: "agent", master: master.address } },
      balances: { [master.address]: 25_000 },
    });
  });
  afterAll(async () => {
    await fake.close();
  });

  const orders = () => fake.actions.filter((a) => a.type === "order" && a.actingFor !== null);

  it.each<[LostAnswer, number]>([
    ["timeout", 7_300_001],
    [502, 7_300_002],
  ])(
    "when the fake executes the open and then answers %s, then Warden reports the filled position, a retry places no second order, and the audit has one open with the true size",
    async (lost, telegramId) => {
      const venue = createHyperliquidVenue({ origin: fake.url, timeoutMs: 1_000 });
      const { trading, userId, sql } = await tradingOn(
        orm,
        "hyperliquid",
        venue,
        { privateKey: agent.key, walletAddress: master.address },
        telegramId,
      );
      const okOpens = (await openAudits(sql)).filter((a) => a.outcome === "ok").length;
      const before = orders().length;
      fake.loseNextAnswer(lost);
      const input = {
        symbol: BTC,
        side: "long" as const,
        size: 0.01,
        idempotencyKey: `api:hl-${lost}`,
      };
      const trade = await trading.openTrade(caller(userId), input);
      expect(trade).toMatchObject({ status: "open", side: "long", size: 0.01, entryPrice: 63_000 });
      const again = await trading.openTrade(caller(userId), input);
      expect(again.id).toBe(trade.id);
      expect(orders().length - before).toBe(1);
      expect(fake.positions(master.address)).toEqual([expect.objectContaining({ szi: 0.01 })]);
      const audits = (await openAudits(sql)).filter((a) => a.outcome === "ok");
      expect(audits.length - okOpens).toBe(1);
      expect(audits.at(-1)?.details).toMatchObject({ filled: 0.01, price: 63_000 });
      await trading.closeTrade(caller(userId), trade.id);
      expect(fake.positions(master.address)).toEqual([]);
    },
    20_000,
  );

  it("when the entry fills but its stop-loss child is refused, then the position is recorded, the answer says the stop was not placed, and a retry opens nothing more", async () => {
    const venue = createHyperliquidVenue({ origin: fake.url });
    const { trading, userId, sql } = await tradingOn(
      orm,
      "hyperliquid",
      venue,
      { privateKey: agent.key, walletAddress: master.address },
      7_300_003,
    );
    fake.rejectNextTrigger();
    const input = {
      symbol: BTC,
      side: "long" as const,
      size: 0.01,
      stopLoss: 60_000,
      idempotencyKey: "api:hl-child-refused",
    };
    const before = orders().length;
    const trade = await trading.openTrade(caller(userId), input);
    expect(trade).toMatchObject({ status: "open", size: 0.01, stopLoss: null });
    expect(trade.protectionError).toContain("opened the position but refused its stop loss");
    expect(fake.positions(master.address)).toEqual([expect.objectContaining({ szi: 0.01 })]);

    const again = await trading.openTrade(caller(userId), input);
    expect(again.id).toBe(trade.id);
    expect(orders().length - before).toBe(1);
    expect(fake.positions(master.address)).toEqual([expect.objectContaining({ szi: 0.01 })]);
    const audit = (await openAudits(sql)).at(-1);
    expect(audit).toMatchObject({
      outcome: "ok",
      details: { protection: "not_placed", filled: 0.01 },
    });
    // No builder fee approval was ever sent by the agent.
    expect(fake.actions.some((a) => a.type === "approveBuilderFee")).toBe(false);
    await trading.closeTrade(caller(userId), trade.id);
  }, 20_000);
});
