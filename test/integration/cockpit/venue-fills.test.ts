// A close made at the venue (issue 17): reconciliation records it with the exit price, fees and
// funding the venue's own fills and income history report (Binance: GET /fapi/v1/userTrades,
// GET /fapi/v1/income), and falls back to the mark only when the venue reports no fill, saying so.
// The closing fills' orders tell why (Binance): Warden's stop-loss trigger, a liquidation, or a
// close by hand in the app — recorded as the reason and named in the notice.
import type { MikroORM } from "@mikro-orm/postgresql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Notifier, reconcileCredential } from "../../../src/domain/trading/reconcile";
import type { Venue, VenueId } from "../../../src/domain/venues/types";
import { createCockpitStore } from "../../../src/infra/cockpit-store";
import { createOrm, sqlOf } from "../../../src/infra/database";
import { createTradingStore, tradeAuditWriter } from "../../../src/infra/trading-store";
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

const KEY = "fillsKey0000000000000000000000000000000000000000000000000000000";
const SECRET = "fillsSecret00000000000000000000000000000000000000000000000000";

let db: TestDatabase;
let orm: MikroORM;
let fake: FakeBinance;
let venue: Venue;
let bybit: FakeBybit;

beforeAll(async () => {
  db = await createTestDatabase();
  orm = await createOrm({ url: db.url });
  // Binance's default USDⓈ-M taker commission: 0.05 % of the notional.
  fake = await startFakeBinance({
    keys: { [KEY]: { secret: SECRET, restrictions: BINANCE_DEFAULT_RESTRICTIONS } },
    markPrice: 63_000,
    commissionRate: 0.0005,
  });
  venue = createBinanceUsdmVenue({ origin: fake.url });
  bybit = await startFakeBybit({
    keys: { [KEY]: { secret: SECRET, queryApi: BYBIT_TRADE_ONLY_QUERY_API } },
    markPrice: 63_000,
  });
});
afterAll(async () => {
  await fake.close();
  await bybit.close();
  await orm.close();
  await db.drop();
});

/** A user with a Binance key, an open 0.1 BTC long at 63,000, and a reconciliation run. */
async function openLong(
  telegramId: number,
  on: { id: VenueId; adapter: Venue } = { id: "binanceusdm", adapter: venue },
  stops: { stopLoss?: number; takeProfit?: number } = {},
) {
  const t = await tradingOn(orm, on.id, on.adapter, { apiKey: KEY, secret: SECRET }, telegramId);
  fake.setMarkPrice(63_000);
  const trade = await t.trading.openTrade(
    { userId: t.userId, source: "api", ip: null },
    { symbol: "BTC/USDT:USDT", side: "long", size: 0.1, leverage: 5, ...stops },
  );
  const sent: Array<{ event: string; text: string }> = [];
  const notifier: Notifier = {
    async notify(_userId, event, text) {
      sent.push({ event, text });
    },
  };
  const cockpit = createCockpitStore(sqlOf(orm));
  const reconcile = async () =>
    reconcileCredential(
      {
        keyRing: t.ring,
        venues: { [on.id]: on.adapter } as Record<VenueId, Venue>,
        store: createTradingStore(orm, tradeAuditWriter(Buffer.alloc(32, 7))),
        openTradesOf: cockpit.openTradesOf,
        notifier,
      },
      (await t.credentials.get(t.userId, t.credentialId))!,
    );
  const row = async () =>
    (
      await t.sql(
        "select status, exit_price::float8 as exit, fees::float8 as fees, funding::float8 as funding, realized_pnl::float8 as pnl, close_reason from trades where id = ?",
        [trade.id],
      )
    )[0];
  const audit = async () =>
    (
      await t.sql(
        "select source, details from trade_audit_log where trade_id = ? and action = 'close'",
        [trade.id],
      )
    ).map((r) => ({ source: r.source, details: r.details as Record<string, unknown> }));
  return { trade, sent, reconcile, row, audit };
}

describe("reconciliation of a close made at the venue", () => {
  it("when a position is closed by hand in Binance's app at a price other than the mark, then the trade is recorded with the fill's price, both fills' fees and the funding, and the notice shows the net result", async () => {
    const { trade, sent, reconcile, row, audit } = await openLong(9801);
    fake.payFunding(KEY, "BTCUSDT", -1.25);
    // The mark says 64,000; the close in the exchange's app filled at 64,500.
    fake.setMarkPrice(64_000);
    fake.closeBehindBack(KEY, "BTCUSDT", 64_500);

    const run = await reconcile();
    expect(run.closed.map((t) => t.id)).toEqual([trade.id]);
    // Fees: 0.1 × 63,000 × 0.0005 = 3.15 at the entry, 0.1 × 64,500 × 0.0005 = 3.225 at the exit.
    // P&L: (64,500 − 63,000) × 0.1 = 150 − 6.375 fees − 1.25 funding = 142.375.
    expect(await row()).toEqual({
      status: "closed",
      exit: 64_500,
      fees: 6.375,
      funding: -1.25,
      pnl: 142.375,
      close_reason: "closed_at_venue",
    });
    expect(sent).toEqual([
      {
        event: "exit",
        text: `Closed at Binance: #${trade.id} BTC-PERP long closed at 64,500 — +142.38 USDT (+2.3 %)`,
      },
    ]);
    const [a] = await audit();
    expect(a?.source).toBe("venue");
    expect(a?.details).toMatchObject({
      reason: "closed_at_venue",
      price: 64_500,
      fees: 6.375,
      funding: -1.25,
      realizedPnl: 142.375,
      exitFrom: "venue_fills",
    });
    expect(a?.details).not.toHaveProperty("exitNote");
    expect((await reconcile()).closed).toEqual([]);
  });

  it('when Warden\'s stop-loss trigger order closes the position at Binance, then the close is recorded with reason stop_loss and the user gets "Stop loss hit"', async () => {
    // The earlier tests' BTC fills out of the way: only this trade's fees count.
    fake.expireFills(KEY);
    const { trade, sent, reconcile, row, audit } = await openLong(9804, undefined, {
      stopLoss: 62_000,
    });
    const stop = fake.algoOrders(KEY).find((o) => o.orderType === "STOP_MARKET");
    expect(stop).toMatchObject({ triggerPrice: "62000", side: "SELL", closePosition: true });
    // The mark fell through the stop: Binance's trigger fills at 61,990.
    fake.setMarkPrice(61_990);
    fake.fireTrigger(KEY, stop!.algoId);

    await reconcile();
    // Fees: 3.15 at the entry, 0.1 × 61,990 × 0.0005 = 3.0995 at the stop; P&L −101 − 6.2495.
    expect(await row()).toEqual({
      status: "closed",
      exit: 61_990,
      fees: 6.2495,
      funding: 0,
      pnl: -107.2495,
      close_reason: "stop_loss",
    });
    expect(sent).toEqual([
      {
        event: "stop_loss",
        text: `Stop loss hit: #${trade.id} BTC-PERP long closed at 61,990 — −107.25 USDT (−1.7 %)`,
      },
    ]);
    const [a] = await audit();
    expect(a?.source).toBe("venue");
    expect(a?.details).toMatchObject({ reason: "stop_loss", price: 61_990 });
  });

  it('when Binance liquidates the position (an autoclose- order of type LIQUIDATION), then the close is recorded with reason liquidation and the user gets "Liquidated"', async () => {
    // The earlier tests' BTC fills out of the way: only this trade's fees count.
    fake.expireFills(KEY);
    const { trade, sent, reconcile, row, audit } = await openLong(9805);
    fake.setMarkPrice(55_000);
    fake.liquidate(KEY, "BTCUSDT", 55_000);

    await reconcile();
    // P&L: (55,000 − 63,000) × 0.1 = −800, fees 3.15 + 2.75.
    expect(await row()).toMatchObject({
      status: "closed",
      exit: 55_000,
      fees: 5.9,
      pnl: -805.9,
      close_reason: "liquidation",
    });
    expect(sent).toEqual([
      {
        event: "liquidation",
        text: `Liquidated: #${trade.id} BTC-PERP long closed at 55,000 — −805.90 USDT (−12.8 %)`,
      },
    ]);
    expect((await audit())[0]?.details).toMatchObject({ reason: "liquidation" });
  });

  it("when the venue reports no fill for the close, then the exit is the mark, no fee is invented, and the audit says the mark was used", async () => {
    const { trade, sent, reconcile, row, audit } = await openLong(9802);
    fake.setMarkPrice(62_000);
    fake.closeBehindBack(KEY, "BTCUSDT", 61_900);
    fake.expireFills(KEY);

    await reconcile();
    expect(await row()).toEqual({
      status: "closed",
      exit: 62_000,
      fees: 0,
      funding: null,
      pnl: -100,
      close_reason: "venue",
    });
    expect(sent.map((s) => s.text)).toEqual([
      `Closed at Binance: #${trade.id} BTC-PERP long closed at 62,000 — −100.00 USDT (−1.6 %)`,
    ]);
    const [a] = await audit();
    expect(a?.details).toMatchObject({
      exitFrom: "mark",
      exitNote:
        "The venue reported no fills for this close: exit taken at the mark price when the close was noticed.",
    });
  });

  it("when a Bybit position is closed behind Warden's back, then its executions give the exit price and both fees", async () => {
    const { trade, sent, reconcile, row } = await openLong(9803, {
      id: "bybit",
      adapter: createBybitVenue({ origin: bybit.url }),
    });
    bybit.setMarkPrice(64_000);
    bybit.closeBehindBack(KEY, "BTCUSDT", 63_800);
    await reconcile();
    // Fees at 0.055 %: 0.1 × 63,000 → 3.465 and 0.1 × 63,800 → 3.509; P&L 80 − 6.974.
    expect(await row()).toEqual({
      status: "closed",
      exit: 63_800,
      fees: 6.974,
      funding: null,
      pnl: 73.026,
      close_reason: "venue",
    });
    expect(sent.map((x) => x.text)).toEqual([
      `Closed at Bybit: #${trade.id} BTC-PERP long closed at 63,800 — +73.03 USDT (+1.2 %)`,
    ]);
  });
});
