// Trade notices beyond closes (issue 17): an entry, a partial fill, an SL/TP move and a
// liquidation warning (once per crossing, at the user's distance) are queued through the
// notification settings and the alerts outbox with the text the user reads.
import { randomBytes } from "node:crypto";
import type { MikroORM } from "@mikro-orm/postgresql";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHOOSE_VENUE } from "../../../src/bot/features/keys";
import { paperPriceCommand } from "../../../src/cli/paper-price";
import { createOrm } from "../../../src/infra/database";
import { createBinanceUsdmVenue } from "../../../src/infra/venues/binanceusdm";
import { type BotHarness, startBotHarness } from "../../support/bot-harness";
import { tradingOn } from "../../support/venue-trading";
import {
  BINANCE_DEFAULT_RESTRICTIONS,
  type FakeBinance,
  startFakeBinance,
} from "../../support/venues/binance";

let h: BotHarness;
let db: pg.Client;
let orm: MikroORM;
let binance: FakeBinance;
const bkey = {
  apiKey: `AK${randomBytes(30).toString("hex")}`,
  secret: `SK${randomBytes(30).toString("hex")}`,
};

beforeAll(async () => {
  binance = await startFakeBinance({
    keys: { [bkey.apiKey]: { secret: bkey.secret, restrictions: BINANCE_DEFAULT_RESTRICTIONS } },
    markPrice: 63_000,
  });
  // No alerts worker: the queued notice jobs show what would be sent.
  h = await startBotHarness();
  db = new pg.Client({ connectionString: h.db.url });
  await db.connect();
  orm = await createOrm({ url: h.db.url });
});
afterAll(async () => {
  await orm.close();
  await db.end();
  await h.close();
  await binance.close();
});

async function setPrice(symbol: string, price: number) {
  const out: string[] = [];
  const code = await paperPriceCommand(h.config, [symbol, String(price)], {
    out: (l) => out.push(l),
    err: (l) => out.push(l),
  });
  expect(code, out.join("\n")).toBe(0);
}

const STATES = ["waiting", "delayed", "active", "completed", "failed", "prioritized"] as const;
const notices = async (chatId: number) =>
  (await h.queues.get("alerts").getJobs([...STATES]))
    .filter((j) => j.name === "notice" && j.data.chatId === chatId)
    .sort((a, b) => Number(a.id) - Number(b.id))
    .map((j) => j.data.text as string);

type Markup = { inline_keyboard: Array<Array<{ text: string; callback_data: string }>> };

async function connectPaper(u: ReturnType<BotHarness["tg"]["user"]>) {
  u.sendText("/connect");
  const menu = await u.waitForBotMessage((m) => m.text === CHOOSE_VENUE);
  u.pressButton(menu.message_id, "connect:paper");
  await u.waitForBotMessage((m) => (m.text ?? "").startsWith("✅ Stored"));
}

async function openFromBot(u: ReturnType<BotHarness["tg"]["user"]>, order: string) {
  u.sendText(order);
  const q = await u.waitForBotMessage((m) => (m.text ?? "").startsWith("Send this order?"));
  u.pressButton(q.message_id, (q.reply_markup as Markup).inline_keyboard[0]![0]!.callback_data);
  const opened = await u.waitForBotMessage((m) => (m.text ?? "").startsWith("✅ Opened"));
  return /#(\d+)/.exec(opened.text ?? "")![1]!;
}

const userIdOf = async (telegramId: number) =>
  (await db.query("select id::text as id from users where telegram_user_id = $1", [telegramId]))
    .rows[0].id as string;

describe("entry and SL/TP notices", () => {
  it("when an order is opened and its SL/TP moved through the API, then the entry and the move are queued for Telegram with their numbers", async () => {
    const u = h.tg.user({ id: 9901, first_name: "Api" });
    await connectPaper(u);
    const userId = await userIdOf(9901);
    await setPrice("ETH", 3_000);
    // A caller without MASTER_KEYS (api or bot): intents to the signer process, notices here.
    const trading = h.callerTrading.trading;
    const caller = { userId, source: "api" as const, ip: "203.0.113.9" };
    const t = await trading.openTrade(caller, {
      symbol: "ETH/USDT:USDT",
      side: "long",
      size: 1,
      leverage: 2,
      stopLoss: 2_900,
      takeProfit: 3_300,
      idempotencyKey: "entry-notice-1",
    });
    // A retried request is answered with the same trade and notifies nothing more.
    await trading.openTrade(caller, {
      symbol: "ETH/USDT:USDT",
      side: "long",
      size: 1,
      leverage: 2,
      stopLoss: 2_900,
      takeProfit: 3_300,
      idempotencyKey: "entry-notice-1",
    });
    await trading.modifyTrade(caller, t.id, { stopLoss: 3_000 });
    await trading.modifyTrade(caller, t.id, { takeProfit: null });
    expect(await notices(9901)).toEqual([
      `Opened: #${t.id} ETH-PERP long 1 at 3,000 x2 — SL 2,900, TP 3,300`,
      `SL/TP moved: #${t.id} ETH-PERP long — SL 2,900 → 3,000`,
      `SL/TP moved: #${t.id} ETH-PERP long — TP 3,300 → none`,
    ]);
  });

  it("when the order is opened in the bot, then its answer is the Telegram message and no second entry notice is queued there", async () => {
    const u = h.tg.user({ id: 9902, first_name: "Bot" });
    await connectPaper(u);
    await setPrice("SOL", 150);
    await openFromBot(u, "/open sol long 10");
    expect(await notices(9902)).toEqual([]);
  });

  it("when entries are switched off, then an API entry queues nothing", async () => {
    const u = h.tg.user({ id: 9903, first_name: "Quiet" });
    await connectPaper(u);
    u.sendText("/notifications");
    const m = await u.waitForBotMessage();
    const press = u.pressButton(m.message_id, "ntf:entry:enabled");
    expect((await h.tg.waitForCallbackAnswer(press)).text).toBe("Entries: off.");
    await setPrice("BNB", 550);
    await h.callerTrading.trading.openTrade(
      { userId: await userIdOf(9903), source: "api", ip: null },
      { symbol: "BNB/USDT:USDT", side: "short", size: 1 },
    );
    expect(await notices(9903)).toEqual([]);
  });
});

describe("partial fills", () => {
  it("when the venue fills only part of an entry, then a partial-fill notice says how much of what was asked", async () => {
    const venue = createBinanceUsdmVenue({ origin: binance.url });
    const t = await tradingOn(orm, "binanceusdm", venue, bkey, 9904);
    binance.fillNextPartly(bkey.apiKey, 0.03);
    const trade = await h.cockpit
      .withNotices(t.trading)
      .openTrade(
        { userId: t.userId, source: "api", ip: null },
        { symbol: "BTC/USDT:USDT", side: "long", size: 0.1, leverage: 5 },
      );
    expect(trade.size).toBe(0.03);
    expect(await notices(9904)).toEqual([
      `Opened: #${trade.id} BTC-PERP long 0.03 at 63,000 x5`,
      `Partially filled: #${trade.id} BTC-PERP long 0.03 of 0.1 at 63,000 — the rest was not filled`,
    ]);
  });
});

describe("liquidation warnings", () => {
  it("when the distance is malformed, then the usage says what was wrong and nothing is saved", async () => {
    const u = h.tg.user({ id: 9905, first_name: "Liq" });
    u.sendText("/notifications liquidation 80");
    expect((await u.waitForBotMessage()).text).toBe(
      "The distance must be a percentage from 0.1 to 50, got `80`.\nUsage: /notifications liquidation <percent 0.1-50> — e.g. /notifications liquidation 5 warns when the mark is within 5 % of the liquidation price",
    );
    expect((await db.query("select 1 from liquidation_warning_settings")).rowCount).toBe(0);
  });

  it("when the mark comes within the user's distance of liquidation, then one warning is queued per crossing, not per run", async () => {
    const u = h.tg.user({ id: 9905, first_name: "Liq" });
    await connectPaper(u);
    u.sendText("/notifications liquidation 3");
    expect((await u.waitForBotMessage()).text).toBe(
      "Liquidation warnings: when the mark is within 3 % of the liquidation price.",
    );
    u.sendText("/notifications");
    expect((await u.waitForBotMessage()).text).toContain(
      "✅ Liquidation warnings within 3 %: Telegram, Web",
    );
    await setPrice("XRP", 0.6);
    // 10x long at 0.6: liquidation at 0.6 × (1 − (0.1 − 0.005)) = 0.543.
    const id = await openFromBot(u, "/open xrp long 1000 x10");
    await setPrice("XRP", 0.58);
    await h.cockpit.reconcileAll();
    expect(await notices(9905)).toEqual([]);
    // 0.555 is 2.2 % above 0.543: inside 3 %.
    await setPrice("XRP", 0.555);
    await h.cockpit.reconcileAll();
    await h.cockpit.reconcileAll();
    const warning = `Liquidation warning: #${id} XRP-PERP long — mark 0.555 is 2.2 % from liquidation at 0.543 (you are warned within 3 %)`;
    expect(await notices(9905)).toEqual([warning]);
    // Out of the zone and back in: a second crossing, a second warning.
    await setPrice("XRP", 0.6);
    await h.cockpit.reconcileAll();
    await setPrice("XRP", 0.555);
    await h.cockpit.reconcileAll();
    expect(await notices(9905)).toEqual([warning, warning]);
  });
});
