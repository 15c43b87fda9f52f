// Trade notification settings (issue 17): /notifications lists every event with its channels
// and inline buttons switch them; a notice the user switched off is not sent, one switched to
// email only goes by email and not by Telegram; GET/PUT /api/notifications is covered in
// test/integration/api/notifications.test.ts.

import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHOOSE_VENUE } from "../../../src/bot/features/keys";
import { paperPriceCommand } from "../../../src/cli/paper-price";
import { accountKeysOf } from "../../../src/infra/config";
import { EMAIL_JOB, openEmail, sealedEmailData } from "../../../src/jobs/email-outbox";
import { type BotHarness, signerPaperTriggers, startBotHarness } from "../../support/bot-harness";

let h: BotHarness;
let db: pg.Client;

beforeAll(async () => {
  // No alerts or email worker: the queued jobs themselves show what would be sent.
  h = await startBotHarness();
  db = new pg.Client({ connectionString: h.db.url });
  await db.connect();
});
afterAll(async () => {
  await db.end();
  await h.close();
});

async function setPrice(symbol: string, price: number) {
  const out: string[] = [];
  const code = await paperPriceCommand(h.config, [symbol, String(price)], {
    out: (l) => out.push(l),
    err: (l) => out.push(l),
  });
  expect(code, out.join("\n")).toBe(0);
}

type Markup = { inline_keyboard: Array<Array<{ text: string; callback_data: string }>> };
const buttons = (m: { reply_markup?: unknown }) =>
  (m.reply_markup as Markup).inline_keyboard.flat().map((b) => [b.text, b.callback_data]);

const STATES = ["waiting", "delayed", "active", "completed", "failed", "prioritized"] as const;
const notices = async (chatId: number) =>
  (await h.queues.get("alerts").getJobs([...STATES]))
    .filter((j) => j.name === "notice" && j.data.chatId === chatId)
    .map((j) => j.data.text as string);
const emails = async () =>
  (await h.queues.get("email").getJobs([...STATES]))
    .filter((j) => j.name === EMAIL_JOB)
    .map((j) => openEmail(accountKeysOf(h.config), sealedEmailData.parse(j.data)));

async function connectPaper(u: ReturnType<BotHarness["tg"]["user"]>) {
  u.sendText("/connect");
  const menu = await u.waitForBotMessage((m) => m.text === CHOOSE_VENUE);
  u.pressButton(menu.message_id, "connect:paper");
  await u.waitForBotMessage((m) => (m.text ?? "").startsWith("✅ Stored"));
}

/** Opens a paper ETH long at 3,000 with SL 2,900 and returns its trade id. */
async function openEthLong(u: ReturnType<BotHarness["tg"]["user"]>): Promise<string> {
  await setPrice("ETH", 3_000);
  u.sendText("/open eth long 1 sl=2900 tp=3300 x2");
  const q = await u.waitForBotMessage((m) => (m.text ?? "").startsWith("Send this order?"));
  u.pressButton(q.message_id, (q.reply_markup as Markup).inline_keyboard[0]![0]!.callback_data);
  const opened = await u.waitForBotMessage((m) => (m.text ?? "").startsWith("✅ Opened"));
  return /#(\d+)/.exec(opened.text ?? "")![1]!;
}

const userIdOf = async (telegramId: number) =>
  (await db.query("select id::text as id from users where telegram_user_id = $1", [telegramId]))
    .rows[0].id as string;

describe("/notifications in the bot", () => {
  const u = () => h.tg.user({ id: 9501, first_name: "Notify" });

  it("when /notifications is sent, then every event is listed on by Telegram and Web, and a tap switches an event off and back on", async () => {
    u().sendText("/notifications");
    const m = await u().waitForBotMessage();
    expect(m.text).toBe(
      [
        "Trade notifications",
        "",
        "✅ Entries: Telegram, Web",
        "✅ Partial fills: Telegram, Web",
        "✅ SL/TP moved: Telegram, Web",
        "✅ Exits: Telegram, Web",
        "✅ Stop loss hit: Telegram, Web",
        "✅ Take profit hit: Telegram, Web",
        "✅ Liquidations: Telegram, Web",
        "✅ Liquidation warnings within 5 %: Telegram, Web",
        "🔕 Daily summary: off",
        "",
        "Tap an event to switch it on or off, a channel to add or remove it.",
        "/notifications summary <hour 0-23|off> sets the daily summary's hour (UTC).",
        "/notifications liquidation <percent> sets how close to the liquidation price a warning comes.",
      ].join("\n"),
    );
    expect(buttons(m).slice(0, 4)).toEqual([
      ["✅ Entries", "ntf:entry:enabled"],
      ["☑ Telegram", "ntf:entry:telegram"],
      ["☐ Email", "ntf:entry:email"],
      ["☑ Web", "ntf:entry:web"],
    ]);

    let press = u().pressButton(m.message_id, "ntf:stop_loss:enabled");
    expect((await h.tg.waitForCallbackAnswer(press)).text).toBe("Stop loss hit: off.");
    await h.tg.waitForHistory(9501, (hist) =>
      hist.some((e) => e.message_id === m.message_id && /🔕 Stop loss hit: off/.test(e.text ?? "")),
    );
    const row = await db.query(
      "select enabled, telegram, email, web from notification_settings where user_id = $1 and event = 'stop_loss'",
      [await userIdOf(9501)],
    );
    expect(row.rows).toEqual([{ enabled: false, telegram: true, email: false, web: true }]);

    press = u().pressButton(m.message_id, "ntf:stop_loss:enabled");
    expect((await h.tg.waitForCallbackAnswer(press)).text).toBe("Stop loss hit: on.");
    press = u().pressButton(m.message_id, "ntf:exit:web");
    expect((await h.tg.waitForCallbackAnswer(press)).text).toBe("Exits by Web: off.");
    await h.tg.waitForHistory(9501, (hist) =>
      hist.some(
        (e) =>
          e.message_id === m.message_id &&
          (e.text ?? "").includes("✅ Stop loss hit: Telegram, Web\n") &&
          (e.text ?? "").includes("✅ Exits: Telegram\n"),
      ),
    );
  });

  it("when a Telegram-only account taps Email, then it is refused and nothing changes", async () => {
    u().sendText("/notifications");
    const m = await u().waitForBotMessage();
    const press = u().pressButton(m.message_id, "ntf:take_profit:email");
    expect((await h.tg.waitForCallbackAnswer(press)).text).toBe(
      "Your account has no email address: add one on the settings page first.",
    );
    const row = await db.query(
      "select 1 from notification_settings where user_id = $1 and event = 'take_profit'",
      [await userIdOf(9501)],
    );
    expect(row.rowCount).toBe(0);
  });
});

describe("trade notices honour the settings", () => {
  const u = () => h.tg.user({ id: 9601, first_name: "Stops" });

  it("when stop-loss notices are off, then a fired paper stop is recorded but no notice is queued", async () => {
    await connectPaper(u());
    u().sendText("/notifications");
    const m = await u().waitForBotMessage();
    const press = u().pressButton(m.message_id, "ntf:stop_loss:enabled");
    expect((await h.tg.waitForCallbackAnswer(press)).text).toBe("Stop loss hit: off.");

    const id = await openEthLong(u());
    // The signer process runs the triggers the override queues (and every 5 s).
    const since = Date.now();
    await setPrice("ETH", 2_850);
    expect(await signerPaperTriggers(h, since)).toEqual({ fired: 1 });
    const trade = await db.query("select status, close_reason from trades where id = $1", [id]);
    expect(trade.rows).toEqual([{ status: "closed", close_reason: "stop_loss" }]);
    expect(await notices(9601)).toEqual([]);
    expect(await emails()).toEqual([]);
  });

  it("when stop-loss notices go by email only, then the notice is emailed to the account and not sent on Telegram", async () => {
    const userId = await userIdOf(9601);
    await db.query(
      "update users set email = 'stops@example.com', email_confirmed_at = now(), password_hash = '$2b$12$notarealhashnotarealhashnotarealhashnotarealhashnotar' where id = $1",
      [userId],
    );
    u().sendText("/notifications");
    const m = await u().waitForBotMessage();
    for (const [data, answer] of [
      ["ntf:stop_loss:enabled", "Stop loss hit: on."],
      ["ntf:stop_loss:telegram", "Stop loss hit by Telegram: off."],
      ["ntf:stop_loss:email", "Stop loss hit by Email: on."],
    ] as const) {
      const press = u().pressButton(m.message_id, data);
      expect((await h.tg.waitForCallbackAnswer(press)).text).toBe(answer);
    }

    const id = await openEthLong(u());
    // The signer process runs the triggers the override queues (and every 5 s).
    const since = Date.now();
    await setPrice("ETH", 2_850);
    expect(await signerPaperTriggers(h, since)).toEqual({ fired: 1 });
    expect(await notices(9601)).toEqual([]);
    expect(await emails()).toEqual([
      {
        to: "stops@example.com",
        subject: "Warden: Stop loss hit",
        text: `Stop loss hit: #${id} ETH-PERP long closed at 2,900 — −100.00 USDT (−3.3 %)`,
      },
    ]);
  });

  it("when exits are on by Telegram (the default), then a close at the venue is queued as a Telegram notice", async () => {
    const v = h.tg.user({ id: 9701, first_name: "Default" });
    await connectPaper(v);
    const id = await openEthLong(v);
    // Take-profit: the default settings send it on Telegram.
    // The signer process runs the triggers the override queues (and every 5 s).
    const since = Date.now();
    await setPrice("ETH", 3_400);
    expect(await signerPaperTriggers(h, since)).toEqual({ fired: 1 });
    expect(await notices(9701)).toEqual([
      `Take profit hit: #${id} ETH-PERP long closed at 3,300 — +300.00 USDT (+10.0 %)`,
    ]);
  });
});

describe("the daily summary", () => {
  const u = () => h.tg.user({ id: 9601, first_name: "Stops" });

  it("when the hour is malformed, then the usage says what was wrong and nothing is saved", async () => {
    u().sendText("/notifications summary 24");
    expect((await u().waitForBotMessage()).text).toBe(
      "The hour must be 0–23, got `24`.\nUsage: /notifications summary <hour 0-23|off> — e.g. /notifications summary 20 (UTC)",
    );
    const rows = await db.query("select 1 from daily_summary_settings");
    expect(rows.rowCount).toBe(0);
  });

  it("when a user turns the summary on at 00:00 UTC, then one run sends it once with the last 24 hours' trades, and a second run sends nothing", async () => {
    u().sendText("/notifications summary 0");
    expect((await u().waitForBotMessage()).text).toBe("Daily summary: on, every day at 00:00 UTC.");
    u().sendText("/notifications");
    expect((await u().waitForBotMessage()).text).toContain(
      "✅ Daily summary at 00:00 UTC: Telegram, Web",
    );
    const before = (await notices(9601)).length;
    expect(await h.cockpit.dailySummaries()).toEqual({ sent: 1 });
    const day = new Date().toISOString().slice(0, 10);
    const sent = (await notices(9601)).slice(before);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatch(
      new RegExp(
        `^Daily summary ${day}: 2 closed trade\\(s\\) in the last 24 hours\nRealised P&L: −200\\.00 \\(0 won, 2 lost\\)\nBest: #\\d+ ETH-PERP −100\\.00\nWorst: #\\d+ ETH-PERP −100\\.00$`,
      ),
    );
    // Users who never asked (9501, 9701) get none; a second run the same day sends nothing.
    expect(await notices(9701)).toHaveLength(1);
    expect(await h.cockpit.dailySummaries()).toEqual({ sent: 0 });
    expect(await notices(9601)).toHaveLength(before + 1);

    u().sendText("/notifications summary off");
    expect((await u().waitForBotMessage()).text).toBe("Daily summary: off.");
  });
});
