// /marginmode through the Telegram emulator (issue 16): a Hyperliquid key's margin mode is the
// user's setting, stored per key, listed by /keys, and sent to the (fake) venue with the next
// open as updateLeverage isCross; other venues' keys are refused with where to set it instead.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { evmAddressOf } from "../../../src/infra/venues/hyperliquid";
import { type BotHarness, startBotHarness } from "../../support/bot-harness";
import { type FakeHyperliquid, startFakeHyperliquid } from "../../support/venues/hyperliquid";

const masterPk = randomBytes(32);
const agentPk = randomBytes(32);
const master = evmAddressOf(masterPk);
const agent = evmAddressOf(agentPk);

let hl: FakeHyperliquid;
let h: BotHarness;

beforeAll(async () => {
  hl = await startFakeHyperliquid({
    roles: { [agent]: { role: "agent", master } },
    balances: { [master]: 25_000 },
  });
  h = await startBotHarness({ env: { VENUE_URL_HYPERLIQUID: hl.url } });
});
afterAll(async () => {
  await h.close();
  await hl.close();
});

describe("/marginmode", () => {
  it("when a user sets isolated on a Hyperliquid key, then /keys shows it and the next open sends updateLeverage with isCross false", async () => {
    const u = h.tg.user({ id: 6301, first_name: "Iso" });
    u.sendText("/start");
    await u.waitForBotMessage(() => true);
    const { user } = await h.accounts.ensureTelegramAccount(6301);
    const key = await h.keys.connect(user.id, "hyperliquid", "", {
      walletAddress: master,
      privateKey: Buffer.from(agentPk.toString("hex")),
    });
    expect(key.marginMode).toBe("cross");

    u.sendText(`/marginmode ${key.id} isolated`);
    const done = await u.waitForBotMessage((m) => (m.text ?? "").startsWith(`Key #${key.id}`));
    expect(done.text).toBe(
      `Key #${key.id} (Hyperliquid) now opens positions with isolated margin.`,
    );
    u.sendText("/keys");
    const list = await u.waitForBotMessage((m) => (m.text ?? "").startsWith("Your keys:"));
    expect(list.text).toContain("— isolated margin —");

    const before = hl.actions.length;
    // Through what the bot trades with: an intent the signer process executes.
    await h.callerTrading.trading.openTrade(
      { userId: user.id, source: "api", ip: null },
      { credentialId: key.id, symbol: "BTC/USDC:USDC", side: "long", size: 0.01, leverage: 3 },
    );
    const leverage = hl.actions.slice(before).filter((a) => a.type === "updateLeverage");
    expect(leverage.map((a) => a.action)).toEqual([
      { type: "updateLeverage", asset: 0, isCross: false, leverage: 3 },
    ]);
    expect(hl.positions(master)).toEqual([
      { coin: "BTC", szi: 0.01, entryPx: 63_000, leverage: 3, isCross: false },
    ]);
  });

  it("when the mode is not cross or isolated, or the key is a paper key, then the user is told why and nothing changes", async () => {
    const u = h.tg.user({ id: 6302, first_name: "Typo" });
    u.sendText("/start");
    await u.waitForBotMessage(() => true);
    const { user } = await h.accounts.ensureTelegramAccount(6302);
    const paper = await h.keys.connect(user.id, "paper", "Paper", {});

    u.sendText(`/marginmode ${paper.id} sideways`);
    const usage = await u.waitForBotMessage((m) => (m.text ?? "").startsWith("Usage: /marginmode"));
    expect(usage.text).toContain("cross|isolated");

    u.sendText(`/marginmode ${paper.id} isolated`);
    const refused = await u.waitForBotMessage((m) =>
      (m.text ?? "").startsWith("The margin mode is a Warden setting"),
    );
    expect(refused.text).toContain("Hyperliquid keys only");
    expect((await h.keys.list(user.id))[0]?.marginMode).toBe("cross");

    u.sendText("/marginmode 999999 isolated");
    await u.waitForBotMessage((m) => m.text === "No such active key. /keys lists your keys.");
  });

  it("when Hyperliquid refuses an open for lack of margin, then the user's error and the audit row carry the venue's reason, what to do and its name", async () => {
    const { user } = await h.accounts.ensureTelegramAccount(6301);
    const key = (await h.keys.list(user.id)).find((k) => k.venue === "hyperliquid")!;
    hl.setBalance(master, 50);
    const err = await h.callerTrading.trading
      .openTrade(
        { userId: user.id, source: "api", ip: null },
        { credentialId: key.id, symbol: "ETH/USDC:USDC", side: "long", size: 1 },
      )
      .then(
        () => null,
        (e: unknown) => e as Error,
      );
    const expected =
      "Hyperliquid refused the order: Insufficient margin to place order. Deposit USDC, lower the size or raise the leverage. (reason PerpMargin)";
    expect(err?.message).toBe(expected);
    const db = new pg.Client({ connectionString: h.db.url });
    await db.connect();
    try {
      const rows = await db.query(
        "select outcome, details from trade_audit_log where symbol = $1 order by id desc limit 1",
        ["ETH/USDC:USDC"],
      );
      expect(rows.rows[0]).toMatchObject({
        outcome: "failed",
        details: { error: "insufficient_funds", message: expected },
      });
    } finally {
      await db.end();
      hl.setBalance(master, 25_000);
    }
  });
});
