// A real Warden bot (createBot + startBot) talking to the Telegram emulator, with the real
// account service on a database and Redis prefix of its own, and a captured log.
import type { MikroORM } from "@mikro-orm/postgresql";
import { Redis } from "ioredis";
import { type BotDeps, createBot } from "../../src/bot/bot";
import { type RunningBot, startBot } from "../../src/bot/runner";
import { type Cockpit, createCockpit } from "../../src/cockpit";
import { cockpitBotDeps } from "../../src/cockpit-bot";
import type { AccountService } from "../../src/domain/accounts/service";
import { accountKeysOf, type Config, loadConfig, requireMasterKeys } from "../../src/infra/config";
import { createOrm, preparedSqlOf } from "../../src/infra/database";
import { createLogger } from "../../src/infra/logger";
import { createOneTimeTokenStore } from "../../src/infra/one-time-tokens";
import { qrPngBuffer } from "../../src/infra/qr";
import { createRateLimiter } from "../../src/infra/rate-limit";
import { createScrubber } from "../../src/infra/scrub";
import { createVenues } from "../../src/infra/venues";
import { createEmailOutbox } from "../../src/jobs/email-outbox";
import { createQueueRegistry, type QueueRegistry } from "../../src/jobs/registry";
import { createAccounts } from "../../src/wiring/accounts";
import { type CallerTrading, createCallerTrading } from "../../src/wiring/caller-trading";
import { createKeys } from "../../src/wiring/keys";
import { createTradingFromConfig } from "../../src/wiring/trading";
import {
  createTestDatabase,
  createTestRedis,
  type TestDatabase,
  type TestRedis,
  testEnv,
} from "./context";
import { startHibpServer } from "./hibp/server";
import { captureLogs, type LogCapture } from "./log-capture";
import { startTelegramEmulator, type TelegramEmulator } from "./telegram";

export interface BotHarness {
  tg: TelegramEmulator;
  bot: ReturnType<typeof createBot>;
  accounts: AccountService;
  keys: ReturnType<typeof createKeys>;
  trading: ReturnType<typeof createTradingFromConfig>["trading"];
  cockpit: Cockpit;
  /** What the bot trades through: the use cases here, or (opts.signer) intents to a signer. */
  callerTrading: CallerTrading;
  /** The queue registry (trade notifications wait on `alerts` as `notice` jobs). */
  queues: QueueRegistry;
  config: Config;
  logs: LogCapture;
  redis: TestRedis;
  db: TestDatabase;
  close(): Promise<void>;
}

export async function startBotHarness(
  opts: {
    rateLimit?: BotDeps["rateLimit"];
    polling?: boolean;
    env?: Record<string, string>;
    paperByDefault?: boolean;
    reportError?: BotDeps["reportError"];
    settings?: BotDeps["settings"];
    /** What the bot connects keys with, given the direct service (e.g. the sealed path). */
    wrapKeys?: (
      direct: ReturnType<typeof createKeys>,
      ctx: { orm: MikroORM; queues: QueueRegistry; redisUrl: string; bullPrefix: string },
    ) => ReturnType<typeof createKeys>;
    /**
     * Trade through a separate signer (as a bot process without the signer role does): every venue call is an intent on the
     * signer-intents queue; the test starts the signer (test/support/signer-fixtures.ts).
     */
    signer?: { deadlineMs: number };
  } = {},
): Promise<BotHarness> {
  const tg = await startTelegramEmulator();
  const hibp = await startHibpServer({ breached: ["password123"] });
  const redis = createTestRedis();
  const db = await createTestDatabase();
  const config = loadConfig(
    testEnv({
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      REDIS_PREFIX: redis.prefix,
      TELEGRAM_BOT_TOKEN: tg.token,
      TELEGRAM_API_ROOT: tg.apiRoot,
      BCRYPT_COST: "4",
      HIBP_API_URL: hibp.url,
      ...opts.env,
    }),
  );
  const client = new Redis(redis.url, { keyPrefix: redis.prefix });
  const producer = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  const orm: MikroORM = await createOrm({ url: db.url });
  const queues: QueueRegistry = createQueueRegistry(producer, `${redis.prefix}bull`);
  const logs = captureLogs();
  const logger = createLogger({
    level: "info",
    pretty: false,
    scrubber: createScrubber(config.secretValues),
    destination: logs.stream,
  });
  const rateLimiter = createRateLimiter(client);
  const accounts = createAccounts(config, {
    accountKeys: accountKeysOf(config),
    orm,
    redis: client,
    tokens: createOneTimeTokenStore(client),
    queues,
    rateLimiter,
    logger,
  });
  const venues = createVenues({ sql: preparedSqlOf(orm), urls: config.venueUrls });
  const keys = createKeys(config, { keyRing: requireMasterKeys(config), orm, logger, venues });
  const botKeys = opts.wrapKeys
    ? opts.wrapKeys(keys, { orm, queues, redisUrl: redis.url, bullPrefix: `${redis.prefix}bull` })
    : keys;
  const trade = createTradingFromConfig(config, {
    keyRing: requireMasterKeys(config),
    orm,
    keys,
    venues,
  });
  const cockpit = createCockpit({
    orm,
    keyRing: requireMasterKeys(config),
    venues,
    tradingStore: trade.store,
    alertsQueue: queues.get("alerts"),
    emailOutbox: createEmailOutbox({
      queue: queues.get("email"),
      accountKeys: accountKeysOf(config),
    }),
  });
  const callerTrading = createCallerTrading(opts.signer ? "remote" : "direct", {
    cockpit,
    trade,
    orm,
    queue: queues.get("signerIntents"),
    eventsConnection: () => ({ url: redis.url }),
    bullPrefix: `${redis.prefix}bull`,
    redis: client,
    deadlineMs: opts.signer?.deadlineMs,
  });
  const bot = createBot({
    trading: callerTrading.trading,
    killSwitch: trade.killSwitch,
    recentAudit: trade.recentAudit,
    cockpit: cockpitBotDeps(cockpit, keys, callerTrading),
    keys: botKeys,
    egressIps: config.egressIps,
    paperByDefault: opts.paperByDefault,
    reportError: opts.reportError,
    token: tg.token,
    apiRoot: tg.apiRoot,
    logger,
    rateLimiter,
    rateLimit: opts.rateLimit,
    accounts,
    redis: client,
    qrPng: qrPngBuffer,
    settings: opts.settings,
  });
  let running: RunningBot | undefined;
  if (opts.polling !== false) running = await startBot(bot, { logger });
  return {
    tg,
    bot,
    accounts,
    keys,
    trading: trade.trading,
    cockpit,
    callerTrading,
    queues,
    config,
    logs,
    redis,
    db,
    async close() {
      await running?.stop();
      await callerTrading.close();
      await tg.close();
      await hibp.close();
      await queues.close();
      client.disconnect();
      producer.disconnect();
      await orm.close();
      await redis.cleanup();
      await db.drop();
    },
  };
}
