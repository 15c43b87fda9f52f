// A real Warden bot (createBot + startBot) talking to the Telegram emulator, with its own Redis
// prefix and a captured log, for integration tests of bot features.
import { Redis } from "ioredis";
import { type BotDeps, createBot } from "../../src/bot/bot";
import { type RunningBot, startBot } from "../../src/bot/runner";
import { createLogger } from "../../src/infra/logger";
import { createRateLimiter } from "../../src/infra/rate-limit";
import { createScrubber } from "../../src/infra/scrub";
import { createTestRedis, type TestRedis } from "./context";
import { captureLogs, type LogCapture } from "./log-capture";
import { startTelegramEmulator, type TelegramEmulator } from "./telegram";

export interface BotHarness {
  tg: TelegramEmulator;
  bot: ReturnType<typeof createBot>;
  logs: LogCapture;
  redis: TestRedis;
  close(): Promise<void>;
}

export async function startBotHarness(
  opts: { rateLimit?: BotDeps["rateLimit"]; polling?: boolean } = {},
): Promise<BotHarness> {
  const tg = await startTelegramEmulator();
  const redis = createTestRedis();
  const client = new Redis(redis.url, { keyPrefix: redis.prefix });
  const logs = captureLogs();
  const scrubber = createScrubber([tg.token]);
  const logger = createLogger({ level: "info", pretty: false, scrubber, destination: logs.stream });
  const bot = createBot({
    token: tg.token,
    apiRoot: tg.apiRoot,
    logger,
    rateLimiter: createRateLimiter(client),
    rateLimit: opts.rateLimit,
  });
  let running: RunningBot | undefined;
  if (opts.polling !== false) running = await startBot(bot, { logger });
  return {
    tg,
    bot,
    logs,
    redis,
    async close() {
      await running?.stop();
      await tg.close();
      client.disconnect();
      await redis.cleanup();
    },
  };
}
