// Composition root: reads configuration, builds the adapters, starts the requested roles
// (api, bot, worker) and stops them in reverse order on SIGINT/SIGTERM.

import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { RequestContext } from "@mikro-orm/postgresql";
import { webhookCallback } from "grammy";
import { createAlertsRoutes } from "./api/alerts-routes";
import { createApi } from "./api/app";
import { createAuthRoutes } from "./api/auth-routes";
import { createKeysRoutes } from "./api/keys-routes";
import { createNotificationsRoutes } from "./api/notifications-routes";
import { createReportsRoutes } from "./api/reports-routes";
import { createTradingRoutes } from "./api/trading-routes";
import { buildWebAssets, createWebRoutes, MINI_APP_PATH } from "./api/web-routes";
import { createBot } from "./bot/bot";
import { startBot, WEBHOOK_PATH } from "./bot/runner";
import { cockpitApiDeps, cockpitBotDeps, createCockpit } from "./cockpit";
import { ENCRYPTED_TABLES, verifyKeyRingCoverage } from "./domain/vault";
import { type Config, ConfigError, type Env, loadConfig, ROLES, type Role } from "./infra/config";
import { createOrm, prepareDatabase, preparedSqlOf } from "./infra/database";
import { createLogger, type Logger } from "./infra/logger";
import { createMailer } from "./infra/mailer";
import { createOneTimeTokenStore } from "./infra/one-time-tokens";
import { qrPngBuffer, qrPngDataUrl } from "./infra/qr";
import { createRateLimiter } from "./infra/rate-limit";
import { createRedisFactory } from "./infra/redis";
import { createScrubber } from "./infra/scrub";
import { createErrorReporter, type ErrorReporter } from "./infra/sentry";
import { createShutdown, type Shutdown } from "./infra/shutdown";
import { createTelegramSender } from "./infra/telegram";
import { createVaultStore } from "./infra/vault-store";
import { createVenuesFor } from "./infra/venues";
import { paperPriceFeedFromConfig } from "./infra/venues/paper-tickers";
import { attachWebSocketHub, createWebSocketPublisher, wsTicketConsumer } from "./infra/ws-hub";
import { createEmailOutbox } from "./jobs/email-outbox";
import { createAlertsProcessor, scheduleAnomalyScan } from "./jobs/processors/alerts";
import { createBackupProcessor, scheduleBackups } from "./jobs/processors/backup";
import { createEmailProcessor } from "./jobs/processors/email";
import { processSystemJob } from "./jobs/processors/system";
import { createTradingProcessor, scheduleTradingJobs } from "./jobs/processors/trading";
import { createVaultProcessor, scheduleRotation } from "./jobs/processors/vault";
import { createVenuesProcessor, scheduleReverification } from "./jobs/processors/venues";
import { createQueueRegistry, startWorkers } from "./jobs/registry";
import { createSandboxRoutes } from "./sandbox/routes";
import { startTelegramEmulator, type TelegramEmulator } from "./sandbox/telegram";
import { startupBanner } from "./startup/banner";
import { devMailboxRoutes, mailerOptions } from "./startup/dev-mailbox";
import { startDevServices } from "./startup/dev-services";
import { reportStartupFailure } from "./startup/errors";
import { createAccounts } from "./wiring/accounts";
import { createAlertsFromConfig } from "./wiring/alerts";
import { createKeys } from "./wiring/keys";
import { createTradingFromConfig } from "./wiring/trading";

export interface StartOptions {
  env?: Env;
  /** Overrides WARDEN_ROLES (the --roles flag). */
  roles?: Role[];
  logger?: Logger;
  /** The domain clock (epoch ms) of trade activity, the anomaly scan and alert dedup; tests drive it. */
  now?: () => number;
  /** Print the start-up banner (the `npm start` process). */
  banner?: boolean;
}

export interface RunningWarden {
  config: Config;
  logger: Logger;
  /** The API's port when the api role runs. */
  port: number | undefined;
  /** The Telegram emulator behind /sandbox (development without a bot token only). */
  sandbox: TelegramEmulator | undefined;
  shutdown: Shutdown;
  /** Sentry when SENTRY_DSN is set; a no-op otherwise. */
  reporter: ErrorReporter;
}

/** How long running jobs may finish after a stop signal before they are left for redelivery. */
const JOB_GRACE_MS = 6_000;

export async function startWarden(opts: StartOptions = {}): Promise<RunningWarden> {
  const dev = await startDevServices(opts.env ?? process.env);
  const loaded = await Promise.resolve()
    .then(() => loadConfig(dev.env))
    .catch(async (err) => {
      await dev.stop();
      throw err;
    });
  const roles = opts.roles ?? loaded.roles;
  let config = loaded;
  const scrubber = createScrubber(config.secretValues);
  const logger =
    opts.logger ??
    createLogger({ level: config.logLevel, pretty: config.nodeEnv === "development", scrubber });
  if (dev.generated.length > 0) {
    logger.warn(
      { variables: dev.generated, file: dev.secretsFile },
      "generated development secrets (never use them in production)",
    );
  }

  const shutdown = createShutdown(logger);
  shutdown.add("development services", dev.stop); // the embedded database stops last
  // First in, last out: reports of errors during shutdown are still sent.
  const reporter = createErrorReporter({
    dsn: config.sentryDsn,
    environment: config.nodeEnv,
    roles,
    scrubber,
    logger,
  });
  shutdown.add("error reports", () => reporter.close(2_000));
  let sandbox: TelegramEmulator | undefined;
  try {
    // The local sandbox: the bot talks to an in-process Telegram emulator that /sandbox shows as
    // a web chat. Development without a bot token only (config.sandbox is never true in
    // production), and only where this process runs both the bot and the API.
    if (config.sandbox && roles.includes("bot") && roles.includes("api")) {
      const tg = await startTelegramEmulator({ botUsername: "warden_sandbox_bot" });
      sandbox = tg;
      shutdown.add("sandbox telegram", () => tg.close());
      config = {
        ...config,
        telegram: { ...config.telegram, botToken: tg.token, apiRoot: tg.apiRoot },
      };
    }
    const prepared = await prepareDatabase({
      url: config.databaseUrl,
      ownerUrl: config.databaseOwnerUrl,
      sslCa: config.databaseSslCa,
      create: config.nodeEnv !== "production",
    });
    if (prepared.created) logger.info("created the database");
    if (prepared.applied.length > 0)
      logger.info({ migrations: prepared.applied }, "applied migrations");
    const orm = await createOrm({ url: config.databaseUrl, sslCa: config.databaseSslCa, logger });
    shutdown.add("database", () => orm.close());
    // S1.2: refuse to run with a key ring that cannot decrypt what is stored.
    const vaultStore = createVaultStore(preparedSqlOf(orm));
    await verifyKeyRingCoverage({
      store: vaultStore,
      keyRing: config.masterKeys,
      tables: ENCRYPTED_TABLES,
    });

    const redis = createRedisFactory({ url: config.redisUrl, keyPrefix: config.redisPrefix });
    shutdown.add("redis", () => redis.closeAll());
    const appRedis = redis.create("client", "app");
    const rateLimiter = createRateLimiter(appRedis);
    const queues = createQueueRegistry(redis.create("producer", "queues"), redis.bullPrefix);
    shutdown.add("queues", () => queues.close());
    // Connect the producer now, without making start-up wait for Redis: /readyz reports it.
    queues
      .get("email")
      .waitUntilReady()
      .catch(() => {});

    const tokens = createOneTimeTokenStore(appRedis);
    const accounts = createAccounts(config, {
      orm,
      redis: appRedis,
      tokens,
      queues,
      rateLimiter,
      logger,
    });
    // Admin status follows ADMIN_TELEGRAM_IDS on every start, demotions included.
    await accounts.syncAdminRoles();
    // One registry: the key service and trading share the adapters and their market caches.
    const paperPrices = paperPriceFeedFromConfig(config, logger);
    const venues = createVenuesFor(config, { orm, redis: appRedis, paperPrices });
    const keys = createKeys(config, { orm, logger, venues });
    const now = opts.now ?? Date.now;
    const trade = createTradingFromConfig(config, { orm, keys, venues, now });
    const cockpit = createCockpit({
      orm,
      warn: (fields, message) => logger.warn(fields, message),
      paperPrices,
      keyRing: config.masterKeys,
      venues,
      tradingStore: trade.store,
      alertsQueue: queues.get("alerts"),
      emailOutbox: createEmailOutbox({ queue: queues.get("email"), keyRing: config.masterKeys }),
      webPush: (() => {
        const publish = createWebSocketPublisher(appRedis);
        return async (userId: string, event: object) => {
          await publish(Number(userId), event);
        };
      })(),
    });
    const alerts = createAlertsFromConfig(config, {
      orm,
      redis: appRedis,
      queues,
      keys,
      now,
      // Publishing is an ordinary command: the app connection carries it (same key prefix).
      wsPublisher: appRedis,
      telegram: config.telegram.botToken
        ? createTelegramSender({
            token: config.telegram.botToken,
            apiRoot: config.telegram.apiRoot,
            // Telegram's overall limit holds for all worker processes together.
            redis: appRedis,
          })
        : undefined,
    });
    if (roles.includes("worker")) {
      const mailer = createMailer({ ...mailerOptions(config), logger });
      shutdown.add("mailer", async () => mailer.close());
      const pool = startWorkers({
        connection: () => redis.create("worker", "worker"),
        prefix: redis.bullPrefix,
        processors: {
          system: processSystemJob,
          vault: createVaultProcessor({ store: vaultStore, keyRing: config.masterKeys, logger }),
          email: createEmailProcessor({
            resetRequest: (request) => accounts.processResetRequest(request),
            mailer,
            keyRing: config.masterKeys,
            logger,
            // Alert mails: each attempt goes to the alert's delivery log.
            onAttempt: (ref, attempt, outcome, detail) =>
              alerts.store.logDelivery({
                anomalyId: ref.id,
                audience: ref.audience,
                recipientUserId: ref.recipient,
                channel: "email",
                attempt,
                outcome,
                detail,
              }),
          }),
          venues: createVenuesProcessor({ keys }),
          trading: createTradingProcessor(cockpit),
          ...(config.backup.dir !== undefined && {
            backup: createBackupProcessor({
              source: { url: config.backup.databaseUrl, sslCa: config.databaseSslCa },
              key: config.backupEncryptionKey,
              dir: config.backup.dir,
              keep: config.backup.keep,
              tools: { binDir: config.backup.pgBinDir },
              logger,
            }),
          }),
          alerts: createAlertsProcessor({
            scan: alerts.scan,
            dispatch: alerts.dispatch,
            store: alerts.store,
            queue: queues.get("alerts"),
            telegram: alerts.telegram,
            logger,
          }),
        },
        logger,
        reportError: (err, context) =>
          reporter.capture(err, {
            source: "worker",
            tags: { queue: context.queue, job: context.job },
            extra: { jobId: context.jobId, attempts: context.attempts },
          }),
        around: (fn) => RequestContext.create(orm.em, fn),
        lockMaxMs: config.jobLockMaxMs,
      });
      shutdown.add("workers", async () => {
        const { abandoned } = await pool.close(JOB_GRACE_MS);
        if (abandoned) logger.warn("jobs still running were left for redelivery");
      });
      await scheduleRotation(queues.get("vault"), config.vaultRotationCron);
      await scheduleReverification(queues.get("venues"), config.keyReverifyHours);
      if (config.backup.dir !== undefined) {
        await scheduleBackups(queues.get("backup"), config.backup.cron);
      } else if (config.nodeEnv === "production") {
        logger.warn("BACKUP_DIR is not set: no scheduled backups (S9.3)");
      }
      await scheduleAnomalyScan(queues.get("alerts"), config.anomaly.scanEveryMinutes);
      await scheduleTradingJobs(queues.get("trading"), {
        paperTriggersMs: 5_000,
        reconcileMs: 60_000,
      });
      logger.info("worker role started");
    }

    const token = config.telegram.botToken;
    const wantBot =
      roles.includes("bot") || (roles.includes("api") && config.telegram.webhookSecret);
    const bot =
      token && wantBot
        ? createBot({
            token,
            apiRoot: config.telegram.apiRoot,
            logger,
            reportError: (err, context) =>
              reporter.capture(err, { source: "bot", extra: { updateId: context.updateId } }),
            rateLimiter,
            accounts,
            keys,
            trading: cockpit.withNotices(trade.trading),
            killSwitch: trade.killSwitch,
            recentAudit: trade.recentAudit,
            cockpit: cockpitBotDeps(cockpit, keys),
            alerts: {
              store: alerts.store,
              notMe: alerts.notMe,
              now,
            },
            paperByDefault: config.nodeEnv === "development",
            egressIps: config.egressIps,
            redis: appRedis,
            qrPng: qrPngBuffer,
            settings: {
              page: `${config.publicUrl}/settings`,
              miniApp: `${config.publicUrl}${MINI_APP_PATH}`,
            },
            around: (_ctx, next) => RequestContext.create(orm.em, next),
          })
        : undefined;
    if (roles.includes("bot") && !loaded.telegram.botToken) {
      if (config.nodeEnv === "production") {
        throw new ConfigError("TELEGRAM_BOT_TOKEN", "is required for the bot role in production");
      }
      logger.warn(
        "Telegram bot is not connected: set TELEGRAM_BOT_TOKEN (from @BotFather) and restart. " +
          (sandbox
            ? `Until then the bot talks to a local Telegram emulator: chat with it at ${config.publicUrl}/sandbox`
            : "The API and workers run without it."),
      );
    }

    let port: number | undefined;
    if (roles.includes("api")) {
      const web = await buildWebAssets();
      const sandboxRoutes = sandbox
        ? createSandboxRoutes({
            tg: sandbox,
            publicHost: new URL(config.publicUrl).hostname,
            page: web.pages.sandbox,
            script: web.assets.get("sandbox.js")!,
          })
        : undefined;
      const app = createApi({
        logger,
        trustedProxies: config.trustedProxies,
        reportError: (err, req) =>
          reporter.capture(err, { source: "api", tags: { method: req.method, path: req.path } }),
        readiness: {
          postgres: async () => {
            await orm.em.getConnection().execute("select 1");
          },
          redis: async () => {
            await appRedis.ping();
          },
        },
        around: (_req, _res, next) => RequestContext.create(orm.em, next),
        miniAppPaths: [MINI_APP_PATH],
        pages: [
          createWebRoutes({
            web,
            securityTxt: {
              ...config.securityTxt,
              canonicalUrl: `${config.publicUrl}/.well-known/security.txt`,
            },
          }),
          ...(sandboxRoutes ? [sandboxRoutes.router] : []),
          ...devMailboxRoutes(config),
        ],
        routes: [
          {
            path: "/api/auth",
            router: createAuthRoutes({
              accounts,
              allowedOrigins: config.allowedOrigins,
              qrDataUrl: qrPngDataUrl,
              botUsername: () => {
                try {
                  return bot?.botInfo.username;
                } catch {
                  return undefined; // not initialised yet
                }
              },
            }),
          },
          { path: "/api/keys", router: createKeysRoutes({ accounts, keys }) },
          {
            path: "/api/alerts",
            router: createAlertsRoutes({
              accounts,
              store: alerts.store,
              notMe: alerts.notMe,
              now,
            }),
          },
          {
            path: "/api",
            router: createTradingRoutes({
              accounts,
              trading: cockpit.withNotices(trade.trading),
              auditPage: trade.auditPage,
              ...cockpitApiDeps(cockpit),
            }),
          },
          { path: "/api", router: createReportsRoutes({ accounts, ...cockpit }) },
          {
            path: "/api",
            router: createNotificationsRoutes({
              accounts,
              settings: cockpit.notificationSettings,
              dailySummary: cockpit.dailySummary,
              liquidationWarnings: cockpit.liquidationWarnings,
            }),
          },
        ],
        telegramWebhook:
          bot && config.telegram.webhookSecret
            ? {
                path: WEBHOOK_PATH,
                secret: config.telegram.webhookSecret,
                handler: webhookCallback(bot, "express", {
                  secretToken: config.telegram.webhookSecret,
                }),
              }
            : undefined,
      });
      const server: Server = await new Promise((res, rej) => {
        // Express 5 hands listen errors (EADDRINUSE) to the callback.
        const s = app.listen(config.port, (err?: Error) => (err ? rej(err) : res(s)));
      });
      port = (server.address() as AddressInfo).port;
      shutdown.add("api", async () => {
        sandboxRoutes?.closeStreams();
        await new Promise<void>((res) => {
          server.close(() => res());
          server.closeIdleConnections();
        });
      });
      // The hub waits for its Redis subscription; start-up does not wait for Redis (/readyz
      // reports it), and shutdown closes the sockets before the HTTP server.
      const hub = attachWebSocketHub({
        server,
        allowedOrigins: config.allowedOrigins,
        consumeTicket: wsTicketConsumer(tokens),
        redis: {
          publisher: redis.create("client", "ws-pub"),
          subscriber: redis.create("client", "ws-sub"),
        },
        logger,
      });
      hub.catch((err: unknown) => logger.error({ err }, "websocket hub failed to start"));
      shutdown.add("websockets", async () => {
        const ready = await Promise.race([
          hub,
          new Promise<null>((r) => setTimeout(() => r(null), 2_000)),
        ]);
        await ready?.close();
      });
      logger.info({ port, url: config.publicUrl }, "api listening");
      if (sandbox) {
        logger.info(
          { url: `${config.publicUrl}/sandbox` },
          "sandbox: talk to the bot in your browser (local Telegram emulator, paper venue)",
        );
      }
    }

    if (bot && roles.includes("bot")) {
      const running = await startBot(bot, {
        logger,
        webhook: config.telegram.webhookSecret
          ? { url: `${config.publicUrl}${WEBHOOK_PATH}`, secret: config.telegram.webhookSecret }
          : undefined,
      });
      shutdown.add("bot", () => running.stop());
    }

    logger.info({ roles }, "Warden started");
    if (opts.banner) process.stdout.write(startupBanner({ ...dev, config, roles, port, sandbox }));
    return { config, logger, port, sandbox, shutdown, reporter };
  } catch (err) {
    await shutdown.run("start-up failed");
    throw err;
  }
}

export function parseRolesFlag(argv: string[]): Role[] | undefined {
  const i = argv.findIndex((a) => a === "--roles" || a.startsWith("--roles="));
  if (i < 0) return undefined;
  const arg = argv[i] ?? "";
  const value = arg.includes("=") ? arg.slice(arg.indexOf("=") + 1) : argv[i + 1];
  if (!value) throw new ConfigError("--roles", "needs a value such as api,worker");
  const roles = value.split(",").map((r) => r.trim());
  if (roles.includes("all")) return [...ROLES];
  for (const r of roles) {
    if (!(ROLES as readonly string[]).includes(r)) {
      throw new ConfigError("--roles", `unknown role "${r}" (use api, bot, worker or all)`);
    }
  }
  return roles as Role[];
}

async function main(): Promise<void> {
  let warden: RunningWarden;
  try {
    warden = await startWarden({ roles: parseRolesFlag(process.argv.slice(2)), banner: true });
  } catch (err) {
    const env = process.env;
    process.exit(reportStartupFailure(err, { databaseUrl: env.DATABASE_URL, port: env.PORT }));
  }
  const { shutdown, logger, reporter } = warden;
  const stop = (reason: string, exitCode: number) => {
    if (shutdown.started) {
      logger.warn({ reason }, "already shutting down; send SIGKILL to force");
      return;
    }
    const hard = setTimeout(() => {
      logger.error("shutdown took too long; exiting");
      process.exit(1);
    }, JOB_GRACE_MS + 10_000);
    hard.unref();
    void shutdown.run(reason).then((ok) => process.exit(ok ? exitCode : 1));
  };
  process.on("SIGINT", (signal) => stop(signal, 0));
  process.on("SIGTERM", (signal) => stop(signal, 0));
  // A crash is logged (scrubbed) and reported, then the process stops as on a signal (the
  // error report is flushed last) and exits 1: a supervisor restarts it, and running jobs are
  // redelivered. Node's default would print the raw error and skip both.
  const crash = (kind: string) => (err: unknown) => {
    logger.fatal({ err }, kind);
    reporter.capture(err, { source: "process", tags: { mechanism: kind } });
    stop(kind, 1);
  };
  process.on("uncaughtException", crash("uncaught exception"));
  process.on("unhandledRejection", crash("unhandled promise rejection"));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  void main();
}
