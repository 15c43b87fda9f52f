// The bot's cockpit details of issue 17: a tiny paper P&L is shown, never rounded to 0.00, and
// the ½ button / `/close #id <percent>` close a share on the market's lot step (half of
// 0.01 BTC is 0.005 at a 0.001 step), refusing a part below the venue's minimum.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHOOSE_VENUE } from "../../../src/bot/features/keys";
import { paperPriceCommand } from "../../../src/cli/paper-price";
import { type BotHarness, startBotHarness } from "../../support/bot-harness";

let h: BotHarness;
let db: pg.Client;

beforeAll(async () => {
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

type Message = { message_id: number; text?: string; reply_markup?: unknown };

/** The callback data of every inline button of `m`. */
function buttons(m: Message): string[] {
  const kb = m.reply_markup as { inline_keyboard: Array<Array<{ callback_data: string }>> };
  return kb.inline_keyboard.flat().map((b) => b.callback_data);
}

async function openBtc(u: ReturnType<BotHarness["tg"]["user"]>, size: string): Promise<string> {
  u.sendText(`/open btc long ${size}`);
  const q = await u.waitForBotMessage((m) => (m.text ?? "").startsWith("Send this order?"));
  u.pressButton(q.message_id, buttons(q)[0]!);
  const o = await u.waitForBotMessage((m) => (m.text ?? "").startsWith("✅ Opened"));
  return /#(\d+)/.exec(o.text ?? "")![1]!;
}

const sizeOf = async (id: string) =>
  (await db.query("select status, size::float8 as size from trades where id = $1", [id])).rows[0];

describe("positions and partial closes in the bot", () => {
  const u = () => h.tg.user({ id: 9701, first_name: "Half" });

  beforeAll(async () => {
    u().sendText("/connect");
    const menu = await u().waitForBotMessage((m) => m.text === CHOOSE_VENUE);
    u().pressButton(menu.message_id, "connect:paper");
    await u().waitForBotMessage((m) => (m.text ?? "").startsWith("✅ Stored"));
  });

  it("when a paper position's unrealised P&L is 0.004 USDT, then /positions shows +0.004, not 0.00", async () => {
    await setPrice("BTC", 60_000);
    const id = await openBtc(u(), "0.001");
    await setPrice("BTC", 60_004);
    u().sendText("/positions");
    const list = (await u().waitForBotMessage((m) => (m.text ?? "").includes(`#${id}`))).text;
    expect(list).toContain("Entry 60,000 · mark 60,004 · P&L +0.004 USDT (+0.007 %)");
    u().sendText(`/close #${id}`);
    const c = await u().waitForBotMessage((m) => (m.text ?? "").startsWith(`Close #${id}`));
    u().pressButton(c.message_id, buttons(c)[0]!);
    await u().waitForBotMessage((m) => (m.text ?? "").includes("Closed"));
  });

  it("when ½ is pressed on a 0.01 BTC position, then 0.005 is closed on the 0.001 lot step; 1 % of the rest (0.00005) is refused as below the minimum", async () => {
    await setPrice("BTC", 60_000);
    const id = await openBtc(u(), "0.01");
    u().sendText("/positions");
    const list = await u().waitForBotMessage((m) => (m.text ?? "").includes(`#${id}`));
    u().pressButton(list.message_id, `pos:half:${id}`);
    const ask = await u().waitForBotMessage((m) => (m.text ?? "").startsWith("Close 50 % of"));
    expect(ask.text).toBe(`Close 50 % of #${id} BTC-PERP long 0.01?`);
    u().pressButton(ask.message_id, buttons(ask)[0]!);
    const done = await u().waitForBotMessage((m) => (m.text ?? "").startsWith("✅ Reduced"));
    expect(done.text).toBe(`✅ Reduced #${id} BTC-PERP to 0.005.`);
    expect(await sizeOf(id)).toEqual({ status: "open", size: 0.005 });

    u().sendText(`/close #${id} 1`);
    const ask1 = await u().waitForBotMessage((m) => (m.text ?? "").startsWith("Close 1 % of"));
    u().pressButton(ask1.message_id, buttons(ask1)[0]!);
    const refused = await u().waitForBotMessage((m) => (m.text ?? "").startsWith("Closing 1 %"));
    expect(refused.text).toBe(
      `Closing 1 % of #${id} is 0.00005, below the minimum 0.001 of BTC-PERP on Paper (lot step 0.001).`,
    );
    expect(await sizeOf(id)).toEqual({ status: "open", size: 0.005 });
  });
});
