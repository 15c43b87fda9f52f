import { requireMasterKeys } from "../../../src/infra/config";
// The trader's cockpit in the bot (issue 17): every pre-trade rule refuses with its numbers; an
// order goes only after Confirm (not on Cancel, an expired or a foreign confirmation); a paper
// stop-loss fires after a price change and is closed, audited with actor `venue`, notified and
// counted by /profit; /positions shows two keys; quote and percent sizing on the fake's lot step;
// reconciliation records a close behind Warden's back and shows an external position.

import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHOOSE_VENUE } from "../../../src/bot/features/keys";
import { paperPriceCommand } from "../../../src/cli/paper-price";
import { accountKeysOf } from "../../../src/infra/config";
import { createOrm, preparedSqlOf } from "../../../src/infra/database";
import { createLogger } from "../../../src/infra/logger";
import { createScrubber } from "../../../src/infra/scrub";
import { createVenues } from "../../../src/infra/venues";
import { createAlertsProcessor } from "../../../src/jobs/processors/alerts";
import { startWorkers, type WorkerPool } from "../../../src/jobs/registry";
import { createAlertsFromConfig } from "../../../src/wiring/alerts";
import { createKeys } from "../../../src/wiring/keys";
import {
  type BotHarness,
  runOnSigner,
  signerPaperTriggers,
  startBotHarness,
} from "../../support/bot-harness";
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
let workers: WorkerPool;
let closeExtra: () => Promise<void>;

beforeAll(async () => {
  binance = await startFakeBinance({
    keys: { [bkey.apiKey]: { secret: bkey.secret, restrictions: BINANCE_DEFAULT_RESTRICTIONS } },
    markPrice: 63_000,
  });
  h = await startBotHarness({ env: { VENUE_URL_BINANCEUSDM: binance.url } });
  db = new pg.Client({ connectionString: h.db.url });
  await db.connect();
  // The real alerts worker, so trade notices reach the chat through the outbox and throttle.
  const orm = await createOrm({ url: h.db.url });
  const redis = new Redis(h.redis.url, { keyPrefix: h.redis.prefix });
  const logger = createLogger({
    level: "error",
    pretty: false,
    scrubber: createScrubber(h.config.secretValues),
  });
  const venues = createVenues({ sql: preparedSqlOf(orm), urls: h.config.venueUrls });
  const alerts = createAlertsFromConfig(h.config, {
    accountKeys: accountKeysOf(h.config),
    orm,
    redis,
    queues: h.queues,
    keys: createKeys(h.config, { keyRing: requireMasterKeys(h.config), orm, logger, venues }),
    now: Date.now,
    wsPublisher: redis,
    telegram: h.bot.api,
  });
  workers = startWorkers({
    connection: () => new Redis(h.redis.url, { maxRetriesPerRequest: null }),
    prefix: `${h.redis.prefix}bull`,
    processors: {
      alerts: createAlertsProcessor({ ...alerts, queue: h.queues.get("alerts"), logger }),
    },
    logger,
  });
  closeExtra = async () => {
    await workers.close(5_000);
    redis.disconnect();
    await orm.close();
  };
  await setPrice("BTC", 60_000);
  await setPrice("DOGE", 0.15);
  await setPrice("SOL", 150);
});
afterAll(async () => {
  await closeExtra();
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

const opens = async () =>
  (
    await db.query(
      "select count(*)::int as n from trade_audit_log where action = 'open' and outcome = 'ok'",
    )
  ).rows[0].n as number;

/** The callback data of the confirmation's first-row button `i` (0 Confirm, 1 Cancel). */
function button(m: { reply_markup?: unknown }, i: number): string {
  const kb = m.reply_markup as { inline_keyboard: Array<Array<{ callback_data: string }>> };
  return kb.inline_keyboard[0]![i]!.callback_data;
}

async function connectPaper(u: ReturnType<BotHarness["tg"]["user"]>) {
  u.sendText("/connect");
  const menu = await u.waitForBotMessage((m) => m.text === CHOOSE_VENUE);
  u.pressButton(menu.message_id, "connect:paper");
  await u.waitForBotMessage((m) => (m.text ?? "").startsWith("✅ Stored"));
}

describe("pre-trade checks and confirmation in the bot", () => {
  const u = () => h.tg.user({ id: 9101, first_name: "Checks" });

  it("when an order breaks a rule, then the refusal names the rule with its numbers and nothing is sent", async () => {
    await connectPaper(u());
    const { rows } = await db.query(
      "select user_id::text as id from exchange_credentials order by id desc limit 1",
    );
    await db.query(
      "insert into trading_settings (user_id, max_order_notional) values ($1, 20000)",
      [rows[0].id],
    );
    const cases: Array<[string, string]> = [
      ["/open nope long 1", "❌ Not sent: NOPE-PERP is not listed on paper."],
      [
        "/open btc long 0.0015",
        "❌ Not sent: Size 0.0015 is not a multiple of BTC-PERP's lot step 0.001.",
      ],
      ["/open btc long 101", "❌ Not sent: Size 101 is above BTC-PERP's maximum of 100."],
      [
        "/open doge long 10",
        "❌ Not sent: Order value 1.50 USDT is below DOGE-PERP's minimum of 5.00 USDT.",
      ],
      ["/open sol long 1 x75", "❌ Not sent: Leverage 75x is outside SOL-PERP's bracket of 1–50x."],
      [
        "/open btc long 0.5 x5",
        "❌ Not sent: Order value 30,000.00 USDT is above your limit of 20,000.00 USDT per order (/limits).",
      ],
      [
        "/open doge long 10000000",
        "❌ Not sent: Order value 1,500,000.00 USDT is above your limit of 20,000.00 USDT per order (/limits).",
      ],
      [
        "/open btc long 0.2",
        "❌ Not sent: Needs 12,000.00 USDT margin (incl. 0.00 fee), 10,000.00 free.",
      ],
      [
        "/open btc long 0.01 sl=61000",
        "❌ Not sent: Stop-loss 61,000 must be below the mark 60,000 for a long.",
      ],
      [
        "/open btc short 0.01 tp=61000",
        "❌ Not sent: Take-profit 61,000 must be below the mark 60,000 for a short.",
      ],
    ];
    for (const [cmd, answer] of cases) {
      u().sendText(cmd);
      expect((await u().waitForBotMessage()).text, cmd).toBe(answer);
    }
    expect(await opens()).toBe(0);
  });

  it("when a command is malformed, then the answer says what was wrong with the usage and an example", async () => {
    u().sendText("/open btc long 0.01 sl=abc");
    const m = await u().waitForBotMessage();
    expect(m.text).toContain("`sl` must be a price, got `abc`.");
    expect(m.text).toContain("Example: /open btc long 500usdt sl=58000 tp=70000 x5");
  });

  it("when an order within every rule is confirmed, then it is sent once; Cancel, expired and foreign confirmations send nothing", async () => {
    const before = await opens();
    // Cancel.
    u().sendText("/open btc long 0.01 sl=58000 tp=70000 x5");
    let q = await u().waitForBotMessage((m) => (m.text ?? "").startsWith("Send this order?"));
    expect(q.text).toContain("LONG 0.01 BTC-PERP");
    expect(q.text).toContain("notional 600.00 USDT");
    expect(q.text).toContain("Margin 120.00 USDT of 10,000.00 free");
    expect(q.text).toContain("Est. liquidation 48,300");
    expect(q.text).toContain("SL 58,000 · TP 70,000");
    u().pressButton(q.message_id, button(q, 1));
    expect((await u().waitForBotMessage()).text).toBe("Cancelled: nothing was sent.");
    expect(await opens()).toBe(before);

    // Expired: the confirmation's 60 s run out.
    u().sendText("/open btc long 0.01");
    q = await u().waitForBotMessage((m) => (m.text ?? "").startsWith("Send this order?"));
    const ok = button(q, 0);
    const token = ok.split(":")[2]!;
    const raw = new Redis(h.redis.url, { keyPrefix: h.redis.prefix });
    // The pending order is stored once the confirmation message is out.
    await expect.poll(() => raw.ttl(`bot:order:9101:${token}`)).toBeGreaterThan(55);
    await raw.pexpire(`bot:order:9101:${token}`, 1);
    await new Promise((r) => setTimeout(r, 20));
    const press = u().pressButton(q.message_id, ok);
    expect((await h.tg.waitForCallbackAnswer(press)).text).toBe(
      "This confirmation has expired or is not yours.",
    );
    expect(await opens()).toBe(before);

    // Foreign: another user replays the button's data from their own chat.
    u().sendText("/open btc long 0.01");
    q = await u().waitForBotMessage((m) => (m.text ?? "").startsWith("Send this order?"));
    const ok2 = button(q, 0);
    const mallory = h.tg.user({ id: 9102, first_name: "Mallory" });
    mallory.sendText("/help");
    const own = await mallory.waitForBotMessage();
    const p2 = mallory.pressButton(own.message_id, ok2, { unchecked: true });
    expect((await h.tg.waitForCallbackAnswer(p2)).text).toBe(
      "This confirmation has expired or is not yours.",
    );
    expect(await opens()).toBe(before);

    // Confirm, then a second press of the same button does nothing.
    u().pressButton(q.message_id, ok2);
    const opened = await u().waitForBotMessage((m) => (m.text ?? "").startsWith("✅ Opened"));
    expect(opened.text).toMatch(/^✅ Opened #\d+: long 0\.01 BTC-PERP at 60,000 \(600\.00 USDT\)$/);
    expect(await opens()).toBe(before + 1);
    const again = u().pressButton(q.message_id, ok2, { unchecked: true });
    expect((await h.tg.waitForCallbackAnswer(again)).text).toBe(
      "This confirmation has expired or is not yours.",
    );
    expect(await opens()).toBe(before + 1);
    raw.disconnect();
  });
});

describe("paper stops, reconciliation, positions and sizing", () => {
  const u = () => h.tg.user({ id: 9201, first_name: "Stops" });

  it("when the price crosses a paper stop-loss, then the trade closes at the SL, is audited by the venue, notified, and counted by /profit", async () => {
    await connectPaper(u());
    u().sendText("/open eth long 1 sl=2900 tp=3300 x2");
    await setPrice("ETH", 3_000);
    // The first answer may be the quote at the feed price; reopen at the fixed price.
    const q = await u().waitForBotMessage((m) => (m.text ?? "").startsWith("Send this order?"));
    u().pressButton(q.message_id, button(q, 0));
    const opened = await u().waitForBotMessage((m) => (m.text ?? "").startsWith("✅ Opened"));
    const id = /#(\d+)/.exec(opened.text ?? "")![1]!;

    // The signer process runs the triggers the override queues (and every 5 s).
    const since = Date.now();
    await setPrice("ETH", 2_850);
    expect(await signerPaperTriggers(h, since)).toEqual({ fired: 1 });
    const notice = await u().waitForBotMessage((m) => (m.text ?? "").startsWith("Stop loss hit"));
    expect(notice.text).toBe(
      `Stop loss hit: #${id} ETH-PERP long closed at 2,900 — −100.00 USDT (−3.3 %)`,
    );
    const trade = (
      await db.query(
        "select status, exit_price::float as exit, realized_pnl::float as pnl, close_reason from trades where id = $1",
        [id],
      )
    ).rows[0];
    expect(trade).toEqual({ status: "closed", exit: 2900, pnl: -100, close_reason: "stop_loss" });
    const audit = (
      await db.query(
        "select action, source, details->>'reason' as reason from trade_audit_log where trade_id = $1 order by id",
        [id],
      )
    ).rows;
    expect(audit).toEqual([
      { action: "open", source: "telegram", reason: null },
      { action: "close", source: "venue", reason: "stop_loss" },
    ]);
    // A second run finds nothing to fire and records nothing twice.
    expect(await h.cockpit.paperTriggers()).toEqual({ fired: 0 });

    u().sendText("/profit");
    const profit = await u().waitForBotMessage();
    expect(profit.text).toContain("Profit: 1 closed trade(s)");
    expect(profit.text).toContain("Realised P&L: −100.00");
    expect(profit.text).toContain("Win rate: 0.0 % (0 won, 1 lost)");
  });

  it("when quote and percent sizes are used on the fake Binance, then the base size is on its 0.001 lot step", async () => {
    const v = h.tg.user({ id: 9301, first_name: "Binance" });
    v.sendText("/connect");
    const menu = await v.waitForBotMessage((m) => m.text === CHOOSE_VENUE);
    v.pressButton(menu.message_id, "connect:binanceusdm");
    await v.waitForBotMessage((m) => (m.text ?? "").includes("paste in ONE message"));
    v.sendText(`${bkey.apiKey} ${bkey.secret}`);
    await v.waitForBotMessage((m) => (m.text ?? "").startsWith("✅ Stored"), 15_000);
    const { user } = await h.accounts.ensureTelegramAccount(9301);
    // 500 USDT at 63,000 = 0.0079365… → 0.007.
    const byQuote = await h.cockpit.quote(user.id, {
      symbol: "BTCUSDT",
      side: "long",
      size: { kind: "quote", value: 500 },
      leverage: 5,
    });
    expect(byQuote).toMatchObject({ symbol: "BTC/USDT:USDT", display: "BTC-PERP", size: 0.007 });
    // 10 % of 10,000 free at 5x = 5,000 notional → 0.0793650… → 0.079.
    const byPercent = await h.cockpit.quote(user.id, {
      symbol: "btc",
      side: "long",
      size: { kind: "percent", value: 10 },
      leverage: 5,
    });
    expect(byPercent.size).toBe(0.079);
    expect(byPercent.freeMargin).toBe(10_000);
  });

  it("when a position is closed behind Warden's back and another opened outside it, then one reconciliation run records and notifies the close and /positions shows the external one", async () => {
    const v = h.tg.user({ id: 9301, first_name: "Binance" });
    v.sendText("/open btc long 0.01");
    const q = await v.waitForBotMessage(
      (m) => (m.text ?? "").startsWith("Send this order?"),
      15_000,
    );
    v.pressButton(q.message_id, button(q, 0));
    const opened = await v.waitForBotMessage((m) => (m.text ?? "").startsWith("✅ Opened"), 15_000);
    const id = /#(\d+)/.exec(opened.text ?? "")![1]!;
    binance.setMarkPrice(64_000);
    binance.closeBehindBack(bkey.apiKey, "BTCUSDT");
    // The signer process's reconciliation (every 60 s), queued now as its scheduler does.
    const runs = await runOnSigner(h, "reconcile");
    expect(runs.reduce((n, r) => n + Number(r.closed ?? 0), 0)).toBe(1);
    const notice = await v.waitForBotMessage((m) => (m.text ?? "").startsWith("Closed at Binance"));
    expect(notice.text).toBe(
      `Closed at Binance: #${id} BTC-PERP long closed at 64,000 — +10.00 USDT (+1.6 %)`,
    );
    const audit = (
      await db.query(
        "select source, details->>'reason' as reason from trade_audit_log where trade_id = $1 and action = 'close'",
        [id],
      )
    ).rows;
    expect(audit).toEqual([{ source: "venue", reason: "closed_at_venue" }]);
    expect((await h.cockpit.reconcileAll()).closed).toBe(0);

    binance.openBehindBack(bkey.apiKey, "BTCUSDT", -0.02);
    v.sendText("/positions");
    const list = await v.waitForBotMessage(undefined, 15_000);
    expect(list.text).toContain("⚠️ external BTC-PERP short 0.02 on key");
    expect(
      (
        await db.query(
          "select count(*)::int as n from trades where status = 'open' and venue = 'binanceusdm'",
        )
      ).rows[0].n,
    ).toBe(0);
  });

  it("when a user holds positions on two keys, then /positions lists id, SL, TP, P&L and liquidation for each", async () => {
    const w = h.tg.user({ id: 9401, first_name: "Two" });
    await connectPaper(w);
    await connectPaper(w);
    const keys = (
      await db.query(
        "select c.id::text as id from exchange_credentials c join users u on u.id = c.user_id where u.telegram_user_id = 9401 order by c.id",
      )
    ).rows.map((r) => r.id as string);
    expect(keys).toHaveLength(2);
    await setPrice("SOL", 150);
    const ids: string[] = [];
    for (const [cmd] of [
      [`/open sol long 10 sl=140 tp=170 x5 key=${keys[0]}`],
      [`/open sol short 20 sl=160 tp=130 x10 key=${keys[1]}`],
    ]) {
      w.sendText(cmd!);
      const q = await w.waitForBotMessage((m) => (m.text ?? "").startsWith("Send this order?"));
      w.pressButton(q.message_id, button(q, 0));
      const o = await w.waitForBotMessage((m) => (m.text ?? "").startsWith("✅ Opened"));
      ids.push(/#(\d+)/.exec(o.text ?? "")![1]!);
    }
    await setPrice("SOL", 151.5);
    w.sendText("/status");
    const list = (await w.waitForBotMessage()).text ?? "";
    expect(list).toContain(`#${ids[0]} SOL-PERP long 10 · Paper "Paper" (#${keys[0]})`);
    expect(list).toContain("Entry 150 · mark 151.5 · P&L +15.00 USDT (+1.00 %)");
    expect(list).toContain("SL 140 · TP 170 · liq 120.75 · 5x");
    expect(list).toContain(`#${ids[1]} SOL-PERP short 20 · Paper "Paper" (#${keys[1]})`);
    expect(list).toContain("Entry 150 · mark 151.5 · P&L −30.00 USDT (−1.00 %)");
    expect(list).toContain("SL 160 · TP 130 · liq 164.25 · 10x");
  });
});

describe("reports over a seeded ledger", () => {
  it("when /daily 7 and /performance are asked, then their figures equal the hand computation", async () => {
    const r = h.tg.user({ id: 9501, first_name: "Ledger" });
    await connectPaper(r);
    const { rows } = await db.query(
      `select c.id::text as cid, c.user_id::text as uid from exchange_credentials c
       join users u on u.id = c.user_id where u.telegram_user_id = 9501`,
    );
    const { cid, uid } = rows[0];
    // [days ago, symbol, realised P&L]
    const seeded: Array<[number, string, number]> = [
      [0, "BTC/USDT:USDT", 120.25],
      [0, "ETH/USDT:USDT", -20],
      [2, "BTC/USDT:USDT", -50.5],
      [6, "SOL/USDT:USDT", 7.1],
      [9, "ETH/USDT:USDT", 300],
    ];
    for (const [ago, symbol, pnl] of seeded) {
      await db.query(
        `insert into trades (user_id, credential_id, venue, symbol, side, size, entry_price,
           exit_price, status, source, opened_at, closed_at, realized_pnl, fees, close_reason)
         values ($1, $2, 'paper', $3, 'long', 1, 100, 100, 'closed', 'telegram',
           date_trunc('day', now() at time zone 'utc') at time zone 'utc' - make_interval(days => $4) + interval '11 hours',
           date_trunc('day', now() at time zone 'utc') at time zone 'utc' - make_interval(days => $4) + interval '12 hours',
           $5, 0, 'manual')`,
        [uid, cid, symbol, ago, pnl],
      );
    }
    const day = (ago: number) => new Date(Date.now() - ago * 86_400_000).toISOString().slice(0, 10);
    r.sendText("/daily 7");
    expect((await r.waitForBotMessage()).text).toBe(
      [
        "Daily P&L (UTC):",
        `${day(0)}  +100.25  2 trade(s)`,
        `${day(1)}  +0.00  0 trade(s)`,
        `${day(2)}  −50.50  1 trade(s)`,
        `${day(3)}  +0.00  0 trade(s)`,
        `${day(4)}  +0.00  0 trade(s)`,
        `${day(5)}  +0.00  0 trade(s)`,
        `${day(6)}  +7.10  1 trade(s)`,
      ].join("\n"),
    );
    r.sendText("/performance");
    expect((await r.waitForBotMessage()).text).toBe(
      [
        "Performance per market:",
        "1. ETH-PERP  +280.00  2 trade(s), 50 % won",
        "2. BTC-PERP  +69.75  2 trade(s), 50 % won",
        "3. SOL-PERP  +7.10  1 trade(s), 100 % won",
      ].join("\n"),
    );
  });
});
