// The paper venue on its PostgreSQL book: deterministic fills, averaging, partial and full
// closes with realised PnL, and clear errors for bad orders.
import type { MikroORM } from "@mikro-orm/postgresql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createPaperVenue,
  PAPER_INITIAL_BALANCE,
  paperPrice,
} from "../../../src/domain/venues/paper";
import { VenueError } from "../../../src/domain/venues/types";
import { createOrm, sqlOf } from "../../../src/infra/database";
import { createPaperStore } from "../../../src/infra/venues/paper-store";
import { createTestDatabase, type TestDatabase } from "../../support/context";

let db: TestDatabase;
let orm: MikroORM;
let clock = Date.UTC(2026, 10, 24, 12, 0, 0);
const creds = (account: string) => ({
  apiKey: null,
  secret: null,
  privateKey: null,
  walletAddress: account,
});

beforeAll(async () => {
  db = await createTestDatabase();
  orm = await createOrm({ url: db.url });
});
afterAll(async () => {
  await orm.close();
  await db.drop();
});

const venue = () => createPaperVenue({ store: createPaperStore(sqlOf(orm)), now: () => clock });

describe("paper venue", () => {
  it("when the same time is asked twice, then the price is the same, and it moves with time", () => {
    expect(paperPrice("BTC/USDT:USDT", clock)).toBe(paperPrice("btc", clock));
    expect(paperPrice("BTC", clock + 15 * 60_000)).not.toBe(paperPrice("BTC", clock));
  });

  it("when a long is opened, added to, partly closed and closed, then sizes, entry and balance follow", async () => {
    const v = venue();
    const c = creds("paper-00000000000000a1");
    const p0 = paperPrice("BTC", clock);
    const f1 = await v.openPosition(c, {
      symbol: "BTC/USDT:USDT",
      side: "long",
      size: 0.1,
      leverage: 5,
    });
    expect(f1).toMatchObject({ symbol: "BTC/USDT:USDT", side: "long", size: 0.1, price: p0 });
    clock += 15 * 60_000;
    const p1 = paperPrice("BTC", clock);
    await v.openPosition(c, { symbol: "BTCUSDT", side: "long", size: 0.1 });
    const [pos] = await v.positions(c);
    expect(pos).toMatchObject({ side: "long", size: 0.2 });
    expect(pos!.entryPrice).toBeCloseTo((p0 + p1) / 2, 6);

    await v.modifyPosition(c, { symbol: "BTC", size: 0.05, stopLoss: 50_000 });
    const [reduced] = await v.positions(c);
    expect(reduced).toMatchObject({ size: 0.05 });
    const closed = await v.closePosition(c, { symbol: "BTC" });
    expect(closed).toMatchObject({ side: "long", size: 0.05, price: p1 });
    expect(await v.positions(c)).toEqual([]);
    const realised = (p1 - pos!.entryPrice) * 0.2;
    const [bal] = await v.balance(c);
    expect(bal!.free).toBeCloseTo(PAPER_INITIAL_BALANCE + realised, 4);
  });

  it("when an order is invalid, then the venue says why", async () => {
    const v = venue();
    const c = creds("paper-00000000000000a2");
    await expect(
      v.openPosition(c, { symbol: "NOPE", side: "long", size: 1 }),
    ).rejects.toMatchObject({ code: "unknown_symbol" });
    await expect(
      v.openPosition(c, { symbol: "ETH", side: "long", size: -1 }),
    ).rejects.toMatchObject({ code: "invalid_order" });
    await v.openPosition(c, { symbol: "ETH", side: "short", size: 1 });
    await expect(v.openPosition(c, { symbol: "ETH", side: "long", size: 1 })).rejects.toEqual(
      new VenueError("invalid_order", "You hold a short ETH/USDT:USDT position; close it first."),
    );
    expect(await v.positions(c)).toMatchObject([{ side: "short", size: 1 }]);
    expect(await v.closePosition(c, { symbol: "SOL" })).toBeNull();
    await expect(v.positions(creds("not-paper"))).rejects.toMatchObject({
      code: "unsupported_credentials",
    });
  });

  it("when 10 orders add to one position at the same time, then every fill counts and the entry is their size-weighted average", async () => {
    const v = venue();
    const c = creds("paper-00000000000000a3");
    const sizes = Array.from({ length: 10 }, (_, i) => 0.01 * (i + 1));
    const prices: number[] = [];
    await Promise.all(
      sizes.map(async (size, i) => {
        const at = clock + i * 60_000;
        const f = await createPaperVenue({
          store: createPaperStore(sqlOf(orm)),
          now: () => at,
        }).openPosition(c, { symbol: "SOL", side: "long", size });
        prices[i] = f.price;
      }),
    );
    const [pos] = await v.positions(c);
    const total = sizes.reduce((a, b) => a + b, 0);
    expect(pos!.size).toBeCloseTo(total, 8);
    const weighted = sizes.reduce((a, s, i) => a + s * prices[i]!, 0) / total;
    expect(pos!.entryPrice).toBeCloseTo(weighted, 5);
  });

  it("when two closes of one position race, then its profit or loss is credited once", async () => {
    const v = venue();
    const c = creds("paper-00000000000000a4");
    await v.openPosition(c, { symbol: "ETH", side: "short", size: 2 });
    const entry = paperPrice("ETH", clock);
    clock += 20 * 60_000;
    const exit = paperPrice("ETH", clock);
    const results = await Promise.all([
      v.closePosition(c, { symbol: "ETH" }),
      v.closePosition(c, { symbol: "ETH" }),
    ]);
    expect(results.filter((r) => r !== null)).toHaveLength(1);
    const [bal] = await v.balance(c);
    expect(bal!.free).toBeCloseTo(PAPER_INITIAL_BALANCE + (entry - exit) * 2, 4);
  });
});
