// The bot role against a Bot API that refuses set-up calls: only a token Telegram rejects
// (getMe 401) stops start-up; a refused setMyCommands or deleteWebhook is a warning.
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { WELCOME } from "../../src/bot/texts";
import {
  createTestDatabase,
  createTestRedis,
  fernetKey,
  randomSecret,
  type TestDatabase,
} from "../support/context";
import { baseEnv, type Spawned, spawnProcess } from "../support/process";
import { startTelegramEmulator, type TelegramEmulator } from "../support/telegram";

const redis = createTestRedis();
const databases: TestDatabase[] = [];
const running: Spawned[] = [];
const emulators: TelegramEmulator[] = [];
afterEach(async () => {
  for (const p of running.splice(0)) {
    p.kill("SIGTERM");
    await Promise.race([p.exited, new Promise((r) => setTimeout(r, 10_000))]);
    p.kill("SIGKILL");
  }
  for (const tg of emulators.splice(0)) await tg.close();
});
afterAll(async () => {
  await redis.cleanup();
  for (const db of databases) await db.drop();
});

async function startBotRole(tg: TelegramEmulator): Promise<Spawned> {
  const db = await createTestDatabase();
  databases.push(db);
  const p = spawnProcess(
    "node",
    ["--import", "tsx", "src/main.ts"],
    baseEnv({
      NODE_ENV: "test",
      WARDEN_ROLES: "bot",
      LOG_LEVEL: "info",
      MASTER_KEYS: `1:${fernetKey()}`,
      ACCOUNT_KEYS: `1:${fernetKey()}`,
      BACKUP_ENCRYPTION_KEY: fernetKey(),
      JWT_SECRET: randomSecret(),
      PASSWORD_PEPPER: randomSecret(),
      AUDIT_PEPPER: randomSecret(),
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      REDIS_PREFIX: redis.prefix,
      TELEGRAM_BOT_TOKEN: tg.token,
      TELEGRAM_API_ROOT: tg.apiRoot,
    }),
  );
  running.push(p);
  return p;
}

async function emulator(): Promise<TelegramEmulator> {
  const tg = await startTelegramEmulator();
  emulators.push(tg);
  return tg;
}

describe("bot start-up against a refusing Bot API", () => {
  for (const method of ["setMyCommands", "deleteWebhook"]) {
    it(`when the Bot API refuses ${method}, then the bot logs a warning and still answers /start`, async () => {
      const tg = await emulator();
      tg.failNext(method, { error_code: 400, description: `Bad Request: ${method} refused` }, 5);
      const p = await startBotRole(tg);
      await p.waitForOutput(/bot is polling for updates/);
      expect(p.output()).toContain("the Bot API refused a set-up call; the bot goes on without it");
      expect(p.output()).toContain(`Bad Request: ${method} refused`);
      const user = tg.user({ id: 5151, first_name: "New" });
      user.sendText("/start");
      expect((await user.waitForBotMessage(undefined, 15_000)).text).toBe(WELCOME);
      expect(p.output()).not.toContain(tg.token);
    });
  }

  it("when getMe answers 401, then the process exits 1 naming TELEGRAM_BOT_TOKEN without a stack trace", async () => {
    const tg = await emulator();
    tg.failNext("getMe", { error_code: 401, description: "Unauthorized" }, 100);
    const p = await startBotRole(tg);
    const { code } = await p.exited;
    expect(code).toBe(1);
    const stderr = p.stderr().trim();
    expect(stderr).toMatch(
      /^Warden cannot start: TELEGRAM_BOT_TOKEN: Telegram refused the bot token/,
    );
    expect(stderr).toContain("@BotFather");
    expect(stderr).not.toMatch(/^\s+at /m);
    expect(p.output()).not.toContain(tg.token);
  });
});
