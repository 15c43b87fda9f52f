// /help <command> explains a command with examples; /trades [n] pages the user's trades with
// "Older" / "Newer" buttons (issue 17).
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHOOSE_VENUE } from "../../../src/bot/features/keys";
import { helpText } from "../../../src/bot/texts";
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

type Markup = { inline_keyboard: Array<Array<{ text: string; callback_data: string }>> };
const buttons = (m: { reply_markup?: unknown }) =>
  ((m.reply_markup as Markup | undefined)?.inline_keyboard ?? []).flat().map((b) => b.text);
const data = (m: { reply_markup?: unknown }, text: string) =>
  (m.reply_markup as Markup).inline_keyboard.flat().find((b) => b.text === text)!.callback_data;

describe("/help <command>", () => {
  const u = () => h.tg.user({ id: 9801, first_name: "Help" });

  it("when /help open is sent, then the usage, the sizing forms and worked examples are shown", async () => {
    u().sendText("/help open");
    const m = await u().waitForBotMessage();
    expect(m.text).toContain("sends it after\nyou press Confirm");
    expect(m.text).toContain(
      "Size: 0.01 (coins), 500usdt or $500 (order value), 10% (of free margin).",
    );
    expect(m.text).toContain("Example: /open btc long 500usdt sl=58000 tp=70000 x5");
  });

  it("when /help is asked about other commands (with a slash, an alias, any case), then each is explained with an example", async () => {
    const cases: Array<[string, string]> = [
      ["/help /close", "Examples: /close #12 · /close btc 50 · /close all"],
      ["/help STATUS", "/positions (or /status)"],
      ["/help trades", "Examples: /trades · /trades 25"],
      ["/help profit", "Examples: /profit · /profit 30"],
      ["/help daily", "Example: /daily 14"],
      ["/help notifications", "Email needs an address on your account."],
      ["/help modify", "Examples: /modify 12 sl=61000 · /modify 12 tp=none"],
    ];
    for (const [cmd, part] of cases) {
      u().sendText(cmd);
      expect((await u().waitForBotMessage()).text, cmd).toContain(part);
    }
  });

  it("when /help names no known command, then it says so and lists the commands; plain /help points to /help <command>", async () => {
    u().sendText("/help frobnicate");
    const m = await u().waitForBotMessage();
    expect(m.text).toMatch(/^No help for `frobnicate`\. Try \/help open, or one of: start, help, /);
    u().sendText("/help");
    const all = await u().waitForBotMessage();
    expect(all.text).toBe(helpText());
    expect(all.text).toContain("Send /help <command> for details and examples, e.g. /help open.");
  });
});

describe("/trades [n] with paging", () => {
  const u = () => h.tg.user({ id: 9802, first_name: "Trades" });
  let ids: string[] = [];

  beforeAll(async () => {
    u().sendText("/connect");
    const menu = await u().waitForBotMessage((m) => m.text === CHOOSE_VENUE);
    u().pressButton(menu.message_id, "connect:paper");
    await u().waitForBotMessage((m) => (m.text ?? "").startsWith("✅ Stored"));
    const { rows } = await db.query(
      `select c.id::text as cid, c.user_id::text as uid from exchange_credentials c
       join users u on u.id = c.user_id where u.telegram_user_id = 9802`,
    );
    const { cid, uid } = rows[0];
    // Seven closed trades: i-th has entry 100, exit 100 + i, P&L i (the 4th a loss of 4).
    for (let i = 1; i <= 7; i++) {
      const pnl = i === 4 ? -4 : i;
      const r = await db.query(
        `insert into trades (user_id, credential_id, venue, symbol, side, size, entry_price,
           exit_price, status, source, opened_at, closed_at, realized_pnl, fees, close_reason)
         values ($1, $2, 'paper', 'BTC/USDT:USDT', 'long', 1, 100, $3, 'closed', 'telegram',
           now() - interval '2 hours', now() - interval '1 hour', $4, 0, 'manual')
         returning id::text as id`,
        [uid, cid, 100 + pnl, pnl],
      );
      ids.push(r.rows[0].id);
    }
    ids = ids.reverse(); // newest first
  });

  const line = (id: string) => {
    const i = ids.length - ids.indexOf(id);
    const pnl = i === 4 ? -4 : i;
    return `#${id} closed long 1 BTC-PERP 100 → ${100 + pnl} · ${pnl < 0 ? "−" : "+"}${Math.abs(pnl)}.00 USDT`;
  };

  it("when /trades 3 is sent, then the newest three show with Older; Older and Newer page through all seven", async () => {
    u().sendText("/trades 3");
    const m = await u().waitForBotMessage();
    expect(m.text).toBe(["Your trades (newest first):", ...ids.slice(0, 3).map(line)].join("\n"));
    expect(buttons(m)).toEqual(["Older ▶"]);

    const pageShows = async (want: string[], wantButtons: string[]) => {
      const [entry] = await h.tg
        .waitForHistory(9802, (hist) =>
          hist.some(
            (e) =>
              e.message_id === m.message_id &&
              e.text === ["Your trades (newest first):", ...want.map(line)].join("\n"),
          ),
        )
        .then((hist) => hist.filter((e) => e.message_id === m.message_id));
      expect(buttons(entry!)).toEqual(wantButtons);
      return entry!;
    };

    u().pressButton(m.message_id, data(m, "Older ▶"));
    let page = await pageShows(ids.slice(3, 6), ["◀ Newer", "Older ▶"]);
    u().pressButton(m.message_id, data(page, "Older ▶"));
    page = await pageShows(ids.slice(6), ["◀ Newer"]);
    u().pressButton(m.message_id, data(page, "◀ Newer"));
    page = await pageShows(ids.slice(3, 6), ["◀ Newer", "Older ▶"]);
    u().pressButton(m.message_id, data(page, "◀ Newer"));
    await pageShows(ids.slice(0, 3), ["Older ▶"]);
  });

  it("when /trades is sent without a number, then up to ten show and no button when all fit", async () => {
    u().sendText("/trades");
    const m = await u().waitForBotMessage();
    expect(m.text).toBe(["Your trades (newest first):", ...ids.map(line)].join("\n"));
    expect(buttons(m)).toEqual([]);
  });

  it("when the number is out of range or not a number, then the usage says what was wrong", async () => {
    for (const arg of ["0", "51", "abc"]) {
      u().sendText(`/trades ${arg}`);
      expect((await u().waitForBotMessage()).text).toBe(
        `The number must be 1–50, got \`${arg}\`.\nUsage: /trades [n] — n from 1 to 50, e.g. /trades 25`,
      );
    }
  });

  it("when a user without trades presses another user's Older button data, then only their own (empty) history shows", async () => {
    const v = h.tg.user({ id: 9803, first_name: "Nosy" });
    v.sendText("/trades");
    const own = await v.waitForBotMessage();
    expect(own.text).toBe("No trades yet. /open places one.");
    // Callback data names only a cursor: pressed by this user, it pages this user's trades.
    v.pressButton(own.message_id, `trh:3:b:${ids[0]}`, { unchecked: true });
    await h.tg.waitForHistory(9803, (hist) =>
      hist.some((e) => e.message_id === own.message_id && e.text === "No more trades."),
    );
  });
});
