// The api role: the HTTP API, the web pages, the alert WebSocket hub and, with
// TELEGRAM_WEBHOOK_SECRET, the bot's webhook. Through the services it is given it holds the
// account keys (sign-in reads TOTP secrets) and, only where this process runs the signer, the
// exchange-key ring; otherwise pasted keys are sealed to the signer and trades are its intents.
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { RequestContext } from "@mikro-orm/postgresql";
import { webhookCallback } from "grammy";
import { createAlertsRoutes } from "../api/alerts-routes";
import { createApi } from "../api/app";
import { createAuthRoutes } from "../api/auth-routes";
import { createKeysRoutes } from "../api/keys-routes";
import { createNotificationsRoutes } from "../api/notifications-routes";
import { createReportsRoutes } from "../api/reports-routes";
import { createTradingRoutes } from "../api/trading-routes";
import { buildWebAssets, createWebRoutes, MINI_APP_PATH } from "../api/web-routes";
import { WEBHOOK_PATH } from "../bot/runner";
import type { Logger } from "../infra/logger";
import { qrPngDataUrl } from "../infra/qr";
import type { ErrorReporter } from "../infra/sentry";
import { attachWebSocketHub, wsTicketConsumer } from "../infra/ws-hub";
import { createSandboxRoutes } from "../sandbox/routes";
import type { TelegramEmulator } from "../sandbox/telegram";
import { devMailboxRoutes } from "../startup/dev-mailbox";
import type { WardenBot } from "./bot";
import type { Services } from "./services";
import { type RoleConfig, type Shared, type Stop, stopStack } from "./shared";

export async function startApiRole(
  config: RoleConfig,
  deps: {
    shared: Pick<Shared, "orm" | "redis" | "appRedis" | "tokens">;
    /** Built by ./services: with the exchange-key ring only where the signer runs here. */
    services: Pick<
      Services,
      "accounts" | "keys" | "trade" | "cockpit" | "callerTrading" | "alerts"
    >;
    /** The bot whose webhook this role serves (and whose name the sign-in page shows). */
    bot: WardenBot | undefined;
    /** The local Telegram emulator behind /sandbox (development without a bot token). */
    sandbox: TelegramEmulator | undefined;
    logger: Logger;
    reporter: ErrorReporter;
    now: () => number;
  },
): Promise<{ port: number; stop: Stop }> {
  const { logger, bot, sandbox } = deps;
  const { orm, redis, appRedis } = deps.shared;
  const { accounts, keys, trade, cockpit, alerts, callerTrading } = deps.services;
  const stack = stopStack(logger);
  try {
    // Built wherever the api or bot role runs (./services.ts).
    if (!callerTrading) throw new Error("the api role needs the services' caller trading");
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
        deps.reporter.capture(err, {
          source: "api",
          tags: { method: req.method, path: req.path },
        }),
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
            now: deps.now,
          }),
        },
        {
          path: "/api",
          // Direct where this process runs the signer role; otherwise every venue call is an intent to the signer.
          router: createTradingRoutes({
            accounts,
            trading: callerTrading.trading,
            auditPage: trade.auditPage,
            quote: callerTrading.quote,
            partialClose: callerTrading.partialClose,
            placeOrder: callerTrading.placeOrder,
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
    const port = (server.address() as AddressInfo).port;
    stack.add("api", async () => {
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
      consumeTicket: wsTicketConsumer(deps.shared.tokens),
      redis: {
        publisher: redis.create("client", "ws-pub"),
        subscriber: redis.create("client", "ws-sub"),
      },
      logger,
    });
    hub.catch((err: unknown) => logger.error({ err }, "websocket hub failed to start"));
    stack.add("websockets", async () => {
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
    return { port, stop: () => stack.stop() };
  } catch (err) {
    await stack.stop().catch(() => {});
    throw err;
  }
}
