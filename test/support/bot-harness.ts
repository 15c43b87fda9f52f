// A real Warden bot (createBot + startBot) talking to the Telegram emulator, built as the bot role
// of a process without the signer role builds it (issue 19): over a configuration without
// MASTER_KEYS or SIGNER_INTAKE_KEY, through the real wiring (startShared, startServices with
// roles ["bot"]: ringless keys, trading and cockpit, pasted keys sealed to the signer, trades as
// intents). By default the signer is a process of its own (`--roles signer`, with MASTER_KEYS and
// an intake key) on the same database, Redis prefix and venues. A captured log.
import type { MikroORM } from "@mikro-orm/postgresql";
import { RequestContext } from "@mikro-orm/postgresql";
import { type BotDeps, createBot } from "../../src/bot/bot";
import { type RunningBot, startBot } from "../../src/bot/runner";
import { type Cockpit, createCockpit } from "../../src/cockpit";
import { cockpitBotDeps } from "../../src/cockpit-bot";
import type { AccountService } from "../../src/domain/accounts/service";
import { generateIntakeKey } from "../../src/domain/vault";
import type { KeyService } from "../../src/domain/venues/keys";
import { accountKeysOf, type Config, loadConfig, requireMasterKeys } from "../../src/infra/config";
import { createOrm, preparedSqlOf } from "../../src/infra/database";
import { createLogger } from "../../src/infra/logger";
import { qrPngBuffer } from "../../src/infra/qr";
import { createScrubber } from "../../src/infra/scrub";
import { createVenues } from "../../src/infra/venues";
import { createEmailOutbox } from "../../src/jobs/email-outbox";
import type { QueueRegistry } from "../../src/jobs/registry";
import { startServices } from "../../src/roles/services";
import { startShared, withoutKeyRing } from "../../src/roles/shared";
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
import { baseEnv, type Spawned, spawnProcess } from "./process";
import { startTelegramEmulator, type TelegramEmulator } from "./telegram";

export interface BotHarness {
  tg: TelegramEmulator;
  bot: ReturnType<typeof createBot>;
  /** The bot's account service (ACCOUNT_KEYS only). */
  accounts: AccountService;
  /**
   * The operator's fixtures, NEVER handed to the bot: a key service, trading use cases and a
   * cockpit built in the test process over MASTER_KEYS (`config`), for a test to seed a key or a
   * position, or to run a job (paper triggers, reconciliation, re-verification) when it chooses.
   * What the bot uses is built from `botConfig`, which has no MASTER_KEYS.
   */
  keys: ReturnType<typeof createKeys>;
  trading: ReturnType<typeof createTradingFromConfig>["trading"];
  cockpit: Cockpit;
  /** What the bot trades through: intents to the signer (`remote`). */
  callerTrading: CallerTrading;
  /** The bot's queue registry (trade notifications wait on `alerts` as `notice` jobs). */
  queues: QueueRegistry;
  /** The operator's configuration, the signer's: with MASTER_KEYS (the fixtures use it). */
  config: Config;
  /** The bot's configuration: no MASTER_KEYS, no SIGNER_INTAKE_KEY. */
  botConfig: Config;
  /** The signer's process (`signer: "process"`, the default) and its environment. */
  signer: { process: Spawned; env: Record<string, string | undefined> } | undefined;
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
    /**
     * What the bot connects keys with, given its own (ringless) key service: for a test that runs
     * the key intake's signer itself (test/support/key-signer.ts).
     */
    wrapKeys?: (
      direct: KeyService,
      ctx: { orm: MikroORM; queues: QueueRegistry; redisUrl: string; bullPrefix: string },
    ) => KeyService;
    /**
     * "process" (default): a signer process of its own (`node src/main.ts --roles signer`).
     * "test": no signer process; the test starts (and stops, or holds) its own signer in its
     * process (test/support/signer-fixtures.ts, key-signer.ts). Only for tests that control it.
     */
    signer?: "process" | "test";
    /** How long the bot waits for an intent's answer before "still working" (SIGNER_DEADLINE_MS). */
    intentDeadlineMs?: number;
  } = {},
): Promise<BotHarness> {
  const signerMode = opts.signer ?? "process";
  const tg = await startTelegramEmulator();
  const hibp = await startHibpServer({ breached: ["password123"] });
  const redis = createTestRedis();
  const db = await createTestDatabase();
  const env = testEnv({
    DATABASE_URL: db.url,
    REDIS_URL: redis.url,
    REDIS_PREFIX: redis.prefix,
    TELEGRAM_BOT_TOKEN: tg.token,
    TELEGRAM_API_ROOT: tg.apiRoot,
    BCRYPT_COST: "4",
    HIBP_API_URL: hibp.url,
    ...opts.env,
  });
  // The operator's view (the signer's environment): MASTER_KEYS, for the fixtures below.
  const config = loadConfig(env);
  // The bot's process: no exchange-key ring and no intake key, as in production.
  const { MASTER_KEYS: _master, SIGNER_INTAKE_KEY: _intake, ...botEnv } = env;
  const botConfig = loadConfig({ ...botEnv, WARDEN_ROLES: "bot" });

  let signer: BotHarness["signer"];
  let signerStarted: Promise<void> = Promise.resolve();
  if (signerMode === "process") {
    const signerEnv = {
      ...env,
      SIGNER_INTAKE_KEY: `1:${generateIntakeKey()}`,
      // "Warden started" is logged at info.
      LOG_LEVEL: "info",
    };
    const proc = spawnProcess(
      "node",
      ["--import", "tsx", "src/main.ts", "--roles", "signer"],
      baseEnv(signerEnv),
    );
    signer = { process: proc, env: signerEnv };
    // Its intake public key is published before the bot may seal a key to it: awaited below,
    // before the bot polls; the bot's wiring is built meanwhile.
    signerStarted = proc.waitForOutput(/Warden started/, 90_000).then(
      () => undefined,
      (err: unknown) => {
        throw new Error(`the signer process did not start: ${proc.stderr().slice(-2_000)}`, {
          cause: err,
        });
      },
    );
    signerStarted.catch(() => {}); // handled where it is awaited
  }
  const stopSigner = async () => {
    if (!signer) return;
    signer.process.kill("SIGTERM");
    await Promise.race([signer.process.exited, new Promise((r) => setTimeout(r, 15_000))]);
    signer.process.kill("SIGKILL");
  };

  const logs = captureLogs();
  const logger = createLogger({
    level: "info",
    pretty: false,
    scrubber: createScrubber(botConfig.secretValues),
    destination: logs.stream,
  });
  // The bot role's wiring, as src/main.ts does it for `--roles bot`.
  const roleConfig = withoutKeyRing(botConfig);
  const accountKeys = accountKeysOf(botConfig);
  const started = await startShared(roleConfig, {
    logger,
    keyRing: botConfig.masterKeys,
    accountKeyRing: accountKeys.ring,
  }).catch(async (err) => {
    await stopSigner();
    throw err;
  });
  const { shared } = started;
  const services = await startServices(roleConfig, {
    shared,
    accountKeys,
    logger,
    now: Date.now,
    roles: ["bot"],
  });
  const { orm, appRedis, queues } = shared;
  const bullPrefix = shared.redis.bullPrefix;
  // A test that says how long the bot waits for the signer.
  const callerTrading =
    opts.intentDeadlineMs !== undefined
      ? createCallerTrading("remote", {
          cockpit: services.cockpit,
          trade: services.trade,
          orm,
          queue: queues.get("signerIntents"),
          eventsConnection: () => ({ url: redis.url }),
          bullPrefix,
          redis: appRedis,
          deadlineMs: opts.intentDeadlineMs,
        })
      : services.callerTrading;
  if (!callerTrading) throw new Error("a bot process's services trade through the signer");
  const botKeys = opts.wrapKeys
    ? opts.wrapKeys(services.directKeys, { orm, queues, redisUrl: redis.url, bullPrefix })
    : services.keys;

  // The operator's fixtures (MASTER_KEYS): never passed to createBot below.
  const fixtureOrm: MikroORM = await createOrm({ url: db.url, poolMax: 4 });
  const venues = createVenues({ sql: preparedSqlOf(fixtureOrm), urls: config.venueUrls });
  const keys = createKeys(config, {
    keyRing: requireMasterKeys(config),
    orm: fixtureOrm,
    logger,
    venues,
  });
  const trade = createTradingFromConfig(config, {
    keyRing: requireMasterKeys(config),
    orm: fixtureOrm,
    keys,
    venues,
  });
  const cockpit = createCockpit({
    orm: fixtureOrm,
    keyRing: requireMasterKeys(config),
    venues,
    tradingStore: trade.store,
    alertsQueue: queues.get("alerts"),
    emailOutbox: createEmailOutbox({
      queue: queues.get("email"),
      accountKeys: accountKeysOf(config),
    }),
  });

  // As src/roles/bot.ts builds it, with the test's options.
  const bot = createBot({
    trading: callerTrading.trading,
    killSwitch: services.trade.killSwitch,
    recentAudit: services.trade.recentAudit,
    cockpit: cockpitBotDeps(services.cockpit, services.directKeys, callerTrading),
    keys: botKeys,
    alerts: { store: services.alerts.store, notMe: services.alerts.notMe, now: Date.now },
    egressIps: botConfig.egressIps,
    paperByDefault: opts.paperByDefault,
    reportError: opts.reportError,
    token: tg.token,
    apiRoot: tg.apiRoot,
    logger,
    rateLimiter: shared.rateLimiter,
    rateLimit: opts.rateLimit,
    accounts: services.accounts,
    redis: appRedis,
    qrPng: qrPngBuffer,
    settings: opts.settings,
    around: (_ctx, next) => RequestContext.create(orm.em, next),
  });
  try {
    await signerStarted;
  } catch (err) {
    await services.stop();
    await fixtureOrm.close();
    await started.stop();
    await stopSigner();
    throw err;
  }
  let running: RunningBot | undefined;
  if (opts.polling !== false) running = await startBot(bot, { logger });
  return {
    tg,
    bot,
    accounts: services.accounts,
    keys,
    trading: trade.trading,
    cockpit,
    callerTrading,
    queues,
    config,
    botConfig,
    signer,
    logs,
    redis,
    db,
    async close() {
      await running?.stop();
      if (callerTrading !== services.callerTrading) await callerTrading.close();
      await services.stop();
      await stopSigner();
      await tg.close();
      await hibp.close();
      await fixtureOrm.close();
      await started.stop();
      await redis.cleanup();
      await db.drop();
    },
  };
}

/** The signer's scheduled jobs (src/roles/signer.ts) and their queues. */
const SIGNER_JOBS = {
  "paper-triggers": "trading",
  reconcile: "trading",
  reverify: "venues",
  expiry: "venues",
} as const;

/**
 * What the signer process's runs of one of its scheduled jobs returned: waits until it has run
 * one queued at or after `since` (epoch ms, taken before the change the test makes), and returns
 * the results of all its runs of that job finished since then (a scheduled run may be among them).
 */
export async function signerRuns(
  h: Pick<BotHarness, "queues">,
  name: keyof typeof SIGNER_JOBS,
  since: number,
  timeoutMs = 20_000,
): Promise<Array<Record<string, unknown>>> {
  const queue = h.queues.get(SIGNER_JOBS[name]);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const runs = (await queue.getJobs(["completed", "failed"])).filter(
      (j) => j.name === name && (j.finishedOn ?? 0) >= since,
    );
    const failed = runs.find((j) => j.failedReason);
    if (failed) throw new Error(`the signer's ${name} run failed: ${failed.failedReason}`);
    if (runs.some((j) => j.timestamp >= since)) return runs.map((j) => j.returnvalue ?? {});
    if (Date.now() > deadline) {
      throw new Error(`no ${name} run of the signer finished within ${timeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Queues a run of one of the signer's scheduled jobs now, as its scheduler does, and waits for it. */
export async function runOnSigner(
  h: Pick<BotHarness, "queues">,
  name: keyof typeof SIGNER_JOBS,
): Promise<Array<Record<string, unknown>>> {
  const since = Date.now();
  await h.queues.get(SIGNER_JOBS[name]).add(name, {});
  return signerRuns(h, name, since);
}

/**
 * The paper triggers as production runs them after a price override: `paper-price` queues a
 * `paper-triggers` job and the signer process runs it (and again every 5 s on its schedule).
 * How many triggers its runs since `since` fired together.
 */
export async function signerPaperTriggers(
  h: Pick<BotHarness, "queues">,
  since: number,
): Promise<{ fired: number }> {
  const runs = await signerRuns(h, "paper-triggers", since);
  return { fired: runs.reduce((n, r) => n + Number(r.fired ?? 0), 0) };
}
