// Hyperliquid against its fake, issue 16: the key's margin mode (cross or isolated, the user's
// setting) goes out in updateLeverage's isCross; the venue's refusals reach the user as its
// reason and what to do, with the reason's name kept for the log; a 429 pauses the key.
import { randomBytes } from "node:crypto";
import ccxt from "ccxt";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { VenueCredentials } from "../../../src/domain/venues/types";
import { createHyperliquidVenue } from "../../../src/infra/venues/hyperliquid";
import { venueError } from "../../support/venues/expect";
import { type FakeHyperliquid, startFakeHyperliquid } from "../../support/venues/hyperliquid";

const BTC = "BTC/USDC:USDC";
const oracle = new ccxt.hyperliquid();

function wallet() {
  const key = randomBytes(32).toString("hex");
  return { key, address: oracle.ethGetAddressFromPrivateKey(`0x${key}`).toLowerCase() };
}

const master = wallet();
const agent = wallet();
const otherMaster = wallet();
const otherAgent = wallet();
let fake: FakeHyperliquid;
let venue: ReturnType<typeof createHyperliquidVenue>;

function creds(
  m = master,
  a = agent,
  marginMode?: "cross" | "isolated",
): VenueCredentials & { marginMode?: "cross" | "isolated" } {
  return {
    apiKey: null,
    secret: null,
    privateKey: Buffer.from(a.key, "utf8"),
    walletAddress: m.address,
    ...(marginMode === undefined ? {} : { marginMode }),
  };
}

beforeAll(async () => {
  fake = await startFakeHyperliquid({
    roles: {
      [agent.address]: { role: "agent", master: master.address },
      [otherAgent.address]: { role: "agent", master: otherMaster.address },
    },
    balances: { [master.address]: 25_000 },
  });
  venue = createHyperliquidVenue({ origin: fake.url });
});

afterAll(async () => {
  await fake.close();
});

afterEach(async () => {
  await venue.closePosition(creds(), { symbol: BTC });
  fake.setBalance(master.address, 25_000);
});

const leverageActions = (from: number) =>
  fake.actions.slice(from).filter((a) => a.type === "updateLeverage");

describe("Hyperliquid margin mode per key", () => {
  it("when the key's margin mode is isolated and a leverage is asked, then updateLeverage carries isCross false and the position is isolated", async () => {
    const before = fake.actions.length;
    await venue.openPosition(creds(master, agent, "isolated"), {
      symbol: BTC,
      side: "long",
      size: 0.01,
      leverage: 4,
    });
    expect(leverageActions(before).map((a) => a.action)).toEqual([
      { type: "updateLeverage", asset: 0, isCross: false, leverage: 4 },
    ]);
    expect(fake.positions(master.address)).toEqual([
      { coin: "BTC", szi: 0.01, entryPx: 63_000, leverage: 4, isCross: false },
    ]);
  });

  it("when the key's mode is isolated and no leverage is asked, then the coin's current leverage is kept and only the mode changes; once it matches nothing is sent", async () => {
    const before = fake.actions.length;
    await venue.openPosition(creds(master, agent, "cross"), {
      symbol: BTC,
      side: "long",
      size: 0.01,
      leverage: 7,
    });
    await venue.closePosition(creds(), { symbol: BTC });
    await venue.openPosition(creds(master, agent, "isolated"), {
      symbol: BTC,
      side: "short",
      size: 0.01,
    });
    expect(fake.positions(master.address)).toEqual([
      { coin: "BTC", szi: -0.01, entryPx: 63_000, leverage: 7, isCross: false },
    ]);
    await venue.closePosition(creds(), { symbol: BTC });
    const middle = fake.actions.length;
    await venue.openPosition(creds(master, agent, "isolated"), {
      symbol: BTC,
      side: "long",
      size: 0.01,
    });
    expect(leverageActions(middle)).toEqual([]);
    expect(leverageActions(before).map((a) => a.action.isCross)).toEqual([true, false]);
    expect(fake.leverageSetting(master.address, "BTC")).toEqual({ value: 7, isCross: false });
  });

  it("when a key has no margin mode set, then its orders stay cross (isCross true)", async () => {
    const before = fake.actions.length;
    await venue.openPosition(creds(), { symbol: BTC, side: "long", size: 0.01, leverage: 3 });
    expect(leverageActions(before).map((a) => a.action)).toEqual([
      { type: "updateLeverage", asset: 0, isCross: true, leverage: 3 },
    ]);
    expect(fake.positions(master.address)[0]).toMatchObject({ isCross: true, leverage: 3 });
  });
});

describe("Hyperliquid refusals in plain words", () => {
  it("when the master lacks margin, then the user reads Hyperliquid's reason, what to do, and the reason's name (PerpMargin)", async () => {
    fake.setBalance(master.address, 50);
    const err = await venueError(
      venue.openPosition(creds(), { symbol: BTC, side: "long", size: 0.1 }),
    );
    expect(err.code).toBe("insufficient_funds");
    expect(err.message).toBe(
      "Hyperliquid refused the order: Insufficient margin to place order. Deposit USDC, lower the size or raise the leverage. (reason PerpMargin)",
    );
    expect(fake.positions(master.address)).toEqual([]);
  });

  it("when the order is worth less than $10, then MinTradeNtl with the minimum named", async () => {
    const err = await venueError(
      venue.openPosition(creds(), { symbol: BTC, side: "long", size: 0.0001 }),
    );
    expect(err.code).toBe("invalid_order");
    expect(err.message).toBe(
      "Hyperliquid refused the order: Order must have minimum value of $10. Raise the size so that the order is worth at least $10. (reason MinTradeNtl)",
    );
  });

  it("when the leverage is above the market's maximum, then InvalidLeverage and nothing is ordered", async () => {
    const before = fake.actions.length;
    const err = await venueError(
      venue.openPosition(creds(), { symbol: BTC, side: "long", size: 0.01, leverage: 41 }),
    );
    expect(err.code).toBe("invalid_order");
    expect(err.message).toMatch(
      /^Hyperliquid refused the order: Invalid leverage value.*\(reason InvalidLeverage\)$/,
    );
    expect(fake.actions.slice(before).some((a) => a.type === "order")).toBe(false);
  });

  it("when a refusal is not in the table, then the venue's own sentence is shown, marked unlisted, never the signed request", async () => {
    await venue.openPosition(creds(), {
      symbol: BTC,
      side: "long",
      size: 0.01,
      clientOrderId: "0123456789abcdef0123456789abcdef",
    });
    await venue.closePosition(creds(), { symbol: BTC });
    const err = await venueError(
      venue.openPosition(creds(), {
        symbol: BTC,
        side: "long",
        size: 0.01,
        clientOrderId: "0123456789abcdef0123456789abcdef",
      }),
    );
    expect(err.code).toBe("venue_error");
    expect(err.message).toBe("Hyperliquid refused the request: Duplicate cloid. (reason unlisted)");
    expect(err.message).not.toMatch(/signature|nonce/);
  });
});

describe("Hyperliquid rate limit", () => {
  it("when Hyperliquid answers 429, then the key is told to wait, sends nothing more until the pause ends, and another key still trades", async () => {
    // Its own adapter, so that the pause it earns stays in this test.
    const limited = createHyperliquidVenue({ origin: fake.url });
    // The venue refuses every request of the minute; ccxt sends two reads at once at first.
    fake.limitNext(2);
    const first = await venueError(
      limited.openPosition(creds(), { symbol: BTC, side: "long", size: 0.01 }),
    );
    expect(first.code).toBe("rate_limited");
    expect(first.message).toMatch(
      /^Hyperliquid is rate-limiting this key; try again in (59|60) s\.$/,
    );
    await new Promise((r) => setTimeout(r, 100));
    const after = fake.requests.length;
    // Retries do not reach the venue: no retry storm.
    for (let i = 0; i < 3; i++) {
      const again = await venueError(
        limited.openPosition(creds(), { symbol: BTC, side: "long", size: 0.01 }),
      );
      expect(again.code).toBe("rate_limited");
    }
    await venueError(limited.positions(creds()));
    expect(fake.requests.length).toBe(after);
    expect(fake.positions(master.address)).toEqual([]);
    // The pause is the key's (its master address), not every user's.
    const fill = await limited.openPosition(creds(otherMaster, otherAgent), {
      symbol: BTC,
      side: "long",
      size: 0.01,
    });
    expect(fill.size).toBe(0.01);
    await limited.closePosition(creds(otherMaster, otherAgent), { symbol: BTC });
  });
});
