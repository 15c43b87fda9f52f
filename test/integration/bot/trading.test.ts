// Trading from Telegram on the paper venue (issue: trading and the audit log): /open, /modify,
// /close with confirmation, /positions, /trades, /audit; each action writes exactly one audit
// row with source telegram; a malformed command answers with the exact usage line.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHOOSE_VENUE } from "../../../src/bot/features/keys";
import { OPEN_USAGE } from "../../../src/bot/order-command";
import { USAGE } from "../../../src/bot/trade-commands";
import { type BotHarness, startBotHarness } from "../../support/bot-harness";
import {
  BINANCE_DEFAULT_RESTRICTIONS,
  type FakeBinance,
  startFakeBinance,
} from "../../support/venues/binance";

const bkey = {
  apiKey: `AK${randomBytes(30).toString("hex")}`,
  secret: `SK${randomBytes(30).toString("hex")}`,
};
let binance: FakeBinance;
let h: BotHarness;
let db: pg.Client;
beforeAll(async () => {
  binance = await startFakeBinance({
    keys: { [bkey.apiKey]: { secret: bkey.secret, restrictions: BINANCE_DEFAULT_RESTRICTIONS } },
  });
  h = await startBotHarness({ env: { VENUE_URL_BINANCEUSDM: binance.url } });
  db = new pg.Client({ connectionString: h.db.url });
  await db.connect();
});
afterAll(async () => {
  await db.end();
  await h.close();
  await binance.close();
});

const auditRows = async () =>
  (
    await db.query(
      "select action, trade_id::text as trade_id, source, ip, outcome, symbol from trade_audit_log order by id",
    )
  ).rows;

/** Presses Confirm on the order confirmation the bot just sent; returns the "Opened" answer. */
async function confirmOrder(u: ReturnType<BotHarness["tg"]["user"]>, timeoutMs = 5_000) {
  const q = await u.waitForBotMessage(
    (m) => (m.text ?? "").startsWith("Send this order?"),
    timeoutMs,
  );
  const kb = q.reply_markup as { inline_keyboard: Array<Array<{ callback_data: string }>> };
  u.pressButton(q.message_id, kb.inline_keyboard[0]![0]!.callback_data);
  return u.waitForBotMessage((m) => /^(✅ Opened|❌)/.test(m.text ?? ""), timeoutMs);
}

describe("trading in the bot", () => {
  it("when a user opens, modifies and closes a paper trade, then each step answers and writes one audit row", async () => {
    const u = h.tg.user({ id: 8001, first_name: "Trader" });
    u.sendText("/connect");
    const menu = await u.waitForBotMessage((m) => m.text === CHOOSE_VENUE);
    u.pressButton(menu.message_id, "connect:paper");
    await u.waitForBotMessage((m) => (m.text ?? "").startsWith("✅ Stored"));

    u.sendText("/open BTC long 0.01 sl=50000 lev=3");
    const opened = await confirmOrder(u);
    expect(opened.text).toMatch(
      /^✅ Opened #(\d+): long 0\.01 BTC-PERP at [\d,.]+ \([\d,.]+ USDT\)$/,
    );
    const id = /#(\d+)/.exec(opened.text ?? "")![1]!;
    expect(await auditRows()).toEqual([
      {
        action: "open",
        trade_id: id,
        source: "telegram",
        ip: null,
        outcome: "ok",
        symbol: "BTC/USDT:USDT",
      },
    ]);

    u.sendText(`/modify ${id} tp=70000`);
    expect((await u.waitForBotMessage()).text).toContain(
      `✏️ Modified #${id} open long 0.01 BTC/USDT:USDT`,
    );
    u.sendText("/positions");
    const list = (await u.waitForBotMessage()).text ?? "";
    expect(list).toContain(`#${id} BTC-PERP long 0.01 · Paper`);
    expect(list).toMatch(/SL 50,000 · TP 70,000 · liq [\d,.]+ · 3x/);

    u.sendText(`/close ${id}`);
    const confirm = await u.waitForBotMessage((m) => (m.text ?? "").startsWith(`Close #${id}`));
    await u.waitForBotMessage((m) => m.text === "Waiting for your confirmation.");
    u.pressButton(confirm.message_id, `close:${id}`);
    expect((await u.waitForBotMessage()).text).toMatch(
      new RegExp(`^✅ Closed #${id} closed long 0\\.01 BTC/USDT:USDT [\\d.]+ → [\\d.]+ on Paper`),
    );
    expect((await auditRows()).map((r) => r.action)).toEqual(["open", "modify", "close"]);

    u.sendText("/audit");
    const audit = await u.waitForBotMessage();
    expect(audit.text?.split("\n")).toHaveLength(4);
    expect(audit.text).toContain(`close BTC/USDT:USDT on paper #${id} — ok (telegram)`);
  });

  it("when a command is malformed, then the answer says what was wrong with the usage and nothing is audited", async () => {
    const u = h.tg.user({ id: 8001, first_name: "Trader" });
    const before = (await auditRows()).length;
    for (const [cmd, answer] of [
      [
        "/open BTC sideways 1",
        `The side must be long or short, got \`sideways\`.\n\n${OPEN_USAGE}`,
      ],
      [
        "/open BTC long -1",
        `The size must be like 0.01, 500usdt, $500 or 10%, got \`-1\`.\n\n${OPEN_USAGE}`,
      ],
      [
        "/open BTC long 1 lev=500",
        `Leverage must be a whole number from 1 to 125, got \`500\`.\n\n${OPEN_USAGE}`,
      ],
      ["/modify abc sl=1", USAGE.modify],
      ["/modify 12", USAGE.modify],
      [
        "/close",
        "Usage: /close <#id|symbol|all> [percent]\nExamples: /close #12 · /close btc 50 · /close all",
      ],
    ] as const) {
      u.sendText(cmd);
      expect((await u.waitForBotMessage()).text, cmd).toBe(answer);
    }
    expect((await auditRows()).length).toBe(before);
  });

  it("when the paper venue does not list a symbol, then the pre-trade check refuses it and nothing is sent or written", async () => {
    const u = h.tg.user({ id: 8001, first_name: "Trader" });
    const trades = (await db.query("select count(*)::int as n from trades")).rows[0].n;
    const audited = (await auditRows()).length;
    u.sendText("/open NOPE long 1");
    expect((await u.waitForBotMessage()).text).toBe(
      "❌ Not sent: NOPE-PERP is not listed on paper.",
    );
    expect((await auditRows()).length).toBe(audited);
    expect((await db.query("select count(*)::int as n from trades")).rows[0].n).toBe(trades);
  });

  it("when Telegram delivers the same /open update twice, then one position is opened", async () => {
    const u = h.tg.user({ id: 8002, first_name: "Twice" });
    u.sendText("/connect");
    const menu = await u.waitForBotMessage((m) => m.text === CHOOSE_VENUE);
    u.pressButton(menu.message_id, "connect:paper");
    await u.waitForBotMessage((m) => (m.text ?? "").startsWith("✅ Stored"));
    const update = {
      update_id: 990_001,
      message: {
        message_id: 999,
        date: Math.floor(Date.now() / 1000),
        chat: { id: 8002, type: "private" as const, first_name: "Twice" },
        from: { id: 8002, is_bot: false, first_name: "Twice" },
        text: "/open ETH short 0.5",
        entities: [{ type: "bot_command" as const, offset: 0, length: 5 }],
      },
    };
    await h.bot.handleUpdate(update);
    await h.bot.handleUpdate(update);
    const count = async () =>
      (
        await db.query(
          "select count(*)::int as n from trades t join users u on u.id = t.user_id where u.telegram_user_id = 8002",
        )
      ).rows[0].n;
    // Each delivery only quotes; nothing is sent before Confirm.
    expect(await count()).toBe(0);
    const q = await u.waitForBotMessage((m) => (m.text ?? "").startsWith("Send this order?"));
    const kb = q.reply_markup as { inline_keyboard: Array<Array<{ callback_data: string }>> };
    const ok = kb.inline_keyboard[0]![0]!.callback_data;
    // The same Confirm pressed twice at once opens one position.
    u.pressButton(q.message_id, ok);
    u.pressButton(q.message_id, ok, { unchecked: true });
    await u.waitForBotMessage((m) => (m.text ?? "").startsWith("✅ Opened"));
    const { rows } = await db.query(
      "select count(*)::int as n from trades t join users u on u.id = t.user_id where u.telegram_user_id = 8002",
    );
    expect(rows[0].n).toBe(1);
  });

  it("when a trade is opened and closed on the fake Binance from Telegram, then the venue fills it and each step is audited once", async () => {
    const u = h.tg.user({ id: 8003, first_name: "Binance" });
    u.sendText("/connect");
    const menu = await u.waitForBotMessage((m) => m.text === CHOOSE_VENUE);
    u.pressButton(menu.message_id, "connect:binanceusdm");
    await u.waitForBotMessage((m) => (m.text ?? "").includes("paste in ONE message"));
    u.sendText(`${bkey.apiKey} ${bkey.secret}`);
    await u.waitForBotMessage((m) => (m.text ?? "").startsWith("✅ Stored"), 15_000);
    const before = (await auditRows()).length;
    u.sendText("/open BTC/USDT:USDT long 0.01");
    const opened = await confirmOrder(u, 15_000);
    expect(opened.text).toMatch(
      /^✅ Opened #(\d+): long 0\.01 BTC-PERP at 63,000 \(630\.00 USDT\)$/,
    );
    const id = /#(\d+)/.exec(opened.text ?? "")![1]!;
    expect(binance.positions(bkey.apiKey)).toEqual([
      expect.objectContaining({ symbol: "BTCUSDT", amount: 0.01 }),
    ]);
    u.sendText(`/close ${id}`);
    const confirm = await u.waitForBotMessage((m) => (m.text ?? "").startsWith(`Close #${id}`));
    await u.waitForBotMessage((m) => m.text === "Waiting for your confirmation.");
    u.pressButton(confirm.message_id, `close:${id}`);
    expect((await u.waitForBotMessage(undefined, 15_000)).text).toMatch(
      new RegExp(`^✅ Closed #${id} closed long`),
    );
    expect(binance.positions(bkey.apiKey)).toEqual([]);
    expect(binance.signatureFailures).toBe(0);
    const rows = (await auditRows()).slice(before);
    expect(rows.map((r) => [r.action, r.source, r.ip, r.outcome])).toEqual([
      ["open", "telegram", null, "ok"],
      ["close", "telegram", null, "ok"],
    ]);
  });
});
