// Trading from Telegram with a separate signer (a process without the signer role, issue 19): the bot calls no
// venue itself; the quote, the confirmed order, /modify, /positions and /close are intents that
// a signer (the real processor on the paper venue, in this process) executes. The answers are the
// direct path's; a stopped signer gives "Still working on it — you'll be notified", the notice
// follows once a signer has opened the trade, and a redelivered update is done once.
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { CHOOSE_VENUE } from "../../../src/bot/features/keys";
import { requireMasterKeys } from "../../../src/infra/config";
import { createOrm } from "../../../src/infra/database";
import type { WorkerPool } from "../../../src/jobs/registry";
import { type BotHarness, startBotHarness } from "../../support/bot-harness";
import { startTestSigner } from "../../support/signer-fixtures";

let h: BotHarness;
let db: pg.Client;
let orm: Awaited<ReturnType<typeof createOrm>>;
const signers: WorkerPool[] = [];

beforeAll(async () => {
  // The test's own signer (started, stopped and restarted by the cases) instead of a process:
  // "still working" and the late notice need a signer that is down on cue.
  h = await startBotHarness({ signer: "test", intentDeadlineMs: 2_000 });
  db = new pg.Client({ connectionString: h.db.url });
  await db.connect();
  orm = await createOrm({ url: h.db.url, poolMax: 4 });
});
afterEach(async () => {
  await Promise.all(signers.splice(0).map((s) => s.close(2_000)));
});
afterAll(async () => {
  await orm.close();
  await db.end();
  await h.close();
});

function startSigner() {
  const pool = startTestSigner({
    orm,
    redisUrl: h.redis.url,
    bullPrefix: `${h.redis.prefix}bull`,
    keyRing: requireMasterKeys(h.config),
    pepper: h.config.auditPepper,
    // The signer keeps the notices promised to callers told "still working".
    appPrefix: h.redis.prefix,
  });
  signers.push(pool);
  return pool;
}

type User = ReturnType<BotHarness["tg"]["user"]>;
type Markup = { inline_keyboard: Array<Array<{ text: string; callback_data: string }>> };

async function connectPaper(u: User) {
  u.sendText("/connect");
  const menu = await u.waitForBotMessage((m) => m.text === CHOOSE_VENUE);
  u.pressButton(menu.message_id, "connect:paper");
  await u.waitForBotMessage((m) => (m.text ?? "").startsWith("✅ Stored"));
}

/** Sends the order and presses Confirm on its quote; returns the bot's next answer. */
async function confirmOrder(u: User, order: string, before?: () => Promise<void>) {
  u.sendText(order);
  const q = await u.waitForBotMessage((m) => (m.text ?? "").startsWith("Send this order?"));
  await before?.();
  u.pressButton(q.message_id, (q.reply_markup as Markup).inline_keyboard[0]![0]!.callback_data);
  return u.waitForBotMessage((m) => /^(✅ Opened|❌|⏳)/.test(m.text ?? ""), 10_000);
}

const tradesOf = async (telegramId: number) =>
  (
    await db.query(
      "select t.id::text as id from trades t join users u on u.id = t.user_id where u.telegram_user_id = $1 order by t.id",
      [telegramId],
    )
  ).rows as Array<{ id: string }>;

const auditOf = async (tradeId: string) =>
  (
    await db.query(
      "select action, source, outcome from trade_audit_log where trade_id = $1 order by id",
      [tradeId],
    )
  ).rows;

const STATES = ["waiting", "delayed", "active", "completed", "failed", "prioritized"] as const;
/** The Telegram notices queued for the chat (no alerts worker runs here). */
const notices = async (chatId: number) =>
  (await h.queues.get("alerts").getJobs([...STATES]))
    .filter((j) => j.name === "notice" && j.data.chatId === chatId)
    .map((j) => j.data.text as string);

function commandUpdate(updateId: number, telegramId: number, text: string) {
  return {
    update_id: updateId,
    message: {
      message_id: updateId,
      date: Math.floor(Date.now() / 1000),
      chat: { id: telegramId, type: "private" as const, first_name: "Again" },
      from: { id: telegramId, is_bot: false, first_name: "Again" },
      text,
      entities: [{ type: "bot_command" as const, offset: 0, length: text.indexOf(" ") }],
    },
  };
}

describe("trading in the bot with a separate signer", () => {
  it("when an order is quoted and confirmed, modified, shown and closed, then each answers as the direct path does and writes exactly one trade and one audit row per action", async () => {
    startSigner();
    const u = h.tg.user({ id: 8801, first_name: "Remote" });
    await connectPaper(u);
    const opened = await confirmOrder(u, "/open btc long 0.01");
    expect(opened.text).toMatch(/^✅ Opened #\d+: long 0.01 BTC-PERP at /);
    const id = /#(\d+)/.exec(opened.text ?? "")![1]!;

    u.sendText(`/modify ${id} sl=50000`);
    expect((await u.waitForBotMessage()).text).toMatch(
      new RegExp(`^✏️ Modified #${id} open long 0.01 BTC/USDT:USDT .*SL 50000`),
    );
    u.sendText("/positions");
    const shown = await u.waitForBotMessage();
    expect(shown.text).toContain(`#${id} BTC-PERP long 0.01`);
    expect(shown.text).toContain("SL 50,000");

    u.sendText(`/close #${id}`);
    const ask = await u.waitForBotMessage((m) => (m.text ?? "").startsWith(`Close #${id}`));
    u.pressButton(
      ask.message_id,
      (ask.reply_markup as Markup).inline_keyboard[0]![0]!.callback_data,
    );
    expect((await u.waitForBotMessage((m) => /^(✅ Closed|❌)/.test(m.text ?? ""))).text).toMatch(
      new RegExp(`^✅ Closed #${id} closed long`),
    );

    expect(await tradesOf(8801)).toEqual([{ id }]);
    const row = { source: "telegram", outcome: "ok" };
    expect(await auditOf(id)).toEqual([
      { action: "open", ...row },
      { action: "modify", ...row },
      { action: "close", ...row },
    ]);
    // The bot's own answers were the news: no Telegram copy of the entry or the move.
    expect(await notices(8801)).toEqual([]);
  });

  it("when the signer is stopped before Confirm, then the bot answers that it is still working, and once a signer starts the order is opened once and the user is notified in the chat", async () => {
    startSigner();
    const u = h.tg.user({ id: 8802, first_name: "Waits" });
    await connectPaper(u);
    const answer = await confirmOrder(u, "/open sol long 1", async () => {
      await Promise.all(signers.splice(0).map((s) => s.close(2_000)));
    });
    expect(answer.text).toBe("⏳ Still working on it — you'll be notified.");
    expect(await tradesOf(8802)).toEqual([]);

    startSigner();
    await expect.poll(() => tradesOf(8802), { timeout: 30_000 }).toHaveLength(1);
    const id = (await tradesOf(8802))[0]!.id;
    await expect
      .poll(() => notices(8802), { timeout: 10_000 })
      .toEqual([expect.stringMatching(new RegExp(`^Opened: #${id} SOL-PERP long 1 at `))]);
    expect((await auditOf(id)).filter((r) => r.action === "open")).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await notices(8802)).toHaveLength(1);
  }, 60_000);

  it("when Telegram delivers the same /modify update twice, then the change is made once and both deliveries get its answer", async () => {
    startSigner();
    const u = h.tg.user({ id: 8803, first_name: "Again" });
    await connectPaper(u);
    const id = /#(\d+)/.exec((await confirmOrder(u, "/open eth short 0.5")).text ?? "")![1]!;
    const modify = commandUpdate(991_001, 8803, `/modify ${id} tp=1000`);
    await h.bot.handleUpdate(modify);
    await h.bot.handleUpdate(modify);
    expect((await auditOf(id)).map((r) => r.action)).toEqual(["open", "modify"]);
    const answers = u
      .history()
      .filter((m) => (m.text ?? "").startsWith(`✏️ Modified #${id}`))
      .map((m) => m.text);
    // Both deliveries are answered, with the one change.
    expect(answers).toHaveLength(2);
    expect(answers[1]).toBe(answers[0]);
    expect(await tradesOf(8803)).toEqual([{ id }]);
  });
});
