// Fault: the bot process is killed (SIGKILL) in the middle of a user's order and started again.
// grammY's runner confirms updates as it fetches them, so Telegram does not hand the interrupted
// update over again: the user's next message must get a clear answer, and sending the order
// again must not open a second position. Real bot process, Telegram emulator, paper venue.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateIntakeKey } from "../../src/domain/vault";
import type { HistoryEntry } from "../../src/sandbox/telegram";
import {
  createTestDatabase,
  createTestRedis,
  type TestDatabase,
  testEnv,
} from "../support/context";
import { baseEnv, type Spawned, spawnProcess } from "../support/process";
import { startTelegramEmulator, type TelegramEmulator } from "../support/telegram";

const redis = createTestRedis();
let db: TestDatabase;
let tg: TelegramEmulator;
/** The bot's environment: no MASTER_KEYS (only the signer holds it), as in production. */
let env: NodeJS.ProcessEnv;
let bot: Spawned | undefined;
/** The signer in a process of its own, as in production: the bot sends its orders to it. */
let signer: Spawned | undefined;

async function startBot(): Promise<Spawned> {
  const p = spawnProcess("node", ["--import", "tsx", "src/main.ts", "--roles", "bot"], env);
  await p.waitForOutput(/Warden started/, 90_000);
  return p;
}

beforeAll(async () => {
  db = await createTestDatabase();
  tg = await startTelegramEmulator();
  const signerEnv = baseEnv(
    testEnv({
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      REDIS_PREFIX: redis.prefix,
      TELEGRAM_BOT_TOKEN: tg.token,
      TELEGRAM_API_ROOT: tg.apiRoot,
      HIBP_FAIL_MODE: "open",
      HIBP_API_URL: "http://127.0.0.1:9",
      LOG_LEVEL: "info",
      SIGNER_INTAKE_KEY: `1:${generateIntakeKey()}`,
    }),
  );
  const { MASTER_KEYS: _master, SIGNER_INTAKE_KEY: _intake, ...botEnv } = signerEnv;
  env = botEnv;
  signer = spawnProcess("node", ["--import", "tsx", "src/main.ts", "--roles", "signer"], signerEnv);
  await signer.waitForOutput(/Warden started/, 90_000);
  bot = await startBot();
}, 180_000);

afterAll(async () => {
  bot?.kill("SIGKILL");
  signer?.kill("SIGKILL");
  await bot?.exited;
  await signer?.exited;
  await tg?.close();
  await redis.cleanup();
  await db?.drop();
});

const text = (m: HistoryEntry) => m.text ?? m.caption ?? "";
function buttonData(m: HistoryEntry, re: RegExp): string | undefined {
  return m.reply_markup?.inline_keyboard?.flat().find((b) => re.test(b.text) && b.callback_data)
    ?.callback_data;
}

describe("fault: bot killed mid-order", () => {
  it("when the bot is killed while an /open is in flight and restarted, then the user's next message is answered and repeating the order opens no second position", async () => {
    const user = tg.user({ id: 6_600_001, first_name: "Kim" });
    user.sendText("/start");
    await user.waitForBotMessage(undefined, 20_000);
    user.sendText("/connect");
    const venues = await user.waitForBotMessage((m) => buttonData(m, /paper/i) !== undefined);
    user.pressButton(venues.message_id, buttonData(venues, /paper/i)!);
    await user.waitForBotMessage((m) => /paper/i.test(text(m)), 20_000);

    // The order goes out and the bot dies as soon as it has fetched it.
    const offsetBefore = Math.max(
      0,
      ...tg.callsTo("getUpdates").map((c) => Number(c.params.offset ?? 0)),
    );
    user.sendText("/open BTC long 0.01");
    // The runner's next getUpdates moves the offset past the order: fetched, and confirmed.
    await tg.waitForCall("getUpdates", (c) => Number(c.params.offset ?? 0) > offsetBefore, 20_000);
    bot?.kill("SIGKILL");
    await bot?.exited;
    bot = await startBot();
    // Whatever the old process still said before it died is not an answer to what comes next.
    tg.discardBotMessages(user.id);

    // The next message gets an answer; repeating the order answers too, with one position.
    user.sendText("/positions");
    expect(text(await user.waitForBotMessage(undefined, 30_000))).not.toBe("");
    user.sendText("/open BTC long 0.01");
    let answer = await user.waitForBotMessage(
      (m) => /opened|already open/i.test(text(m)) || buttonData(m, /confirm/i) !== undefined,
      30_000,
    );
    const confirm = buttonData(answer, /confirm/i);
    if (confirm) {
      user.pressButton(answer.message_id, confirm);
      answer = await user.waitForBotMessage((m) => /opened|already open/i.test(text(m)), 30_000);
    }
    expect(text(answer)).toMatch(/opened|already open/i);

    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      const open = await c.query("select count(*)::int as n from trades where status = 'open'");
      expect(open.rows[0].n).toBe(1);
      const positions = await c.query("select count(*)::int as n from paper_positions");
      expect(positions.rows[0].n).toBe(1);
      const audited = await c.query(
        "select count(*)::int as n from trade_audit_log where action = 'open' and outcome = 'ok'",
      );
      expect(audited.rows[0].n).toBe(1);
    } finally {
      await c.end();
    }
  }, 180_000);
});
