// The bot role: the grammY bot, polling (or, with TELEGRAM_WEBHOOK_SECRET, fed by the api role's
// webhook route). Through the services it is given it holds the exchange-key ring only where
// this process runs the signer; otherwise pasted keys are sealed to it and trades are intents.
import { RequestContext } from "@mikro-orm/postgresql";
import type { Bot } from "grammy";
import { MINI_APP_PATH } from "../api/web-routes";
import { createBot } from "../bot/bot";
import type { BotContext } from "../bot/context";
import { startBot, WEBHOOK_PATH } from "../bot/runner";
import { cockpitBotDeps } from "../cockpit-bot";
import { ConfigError, type Role } from "../infra/config";
import type { Logger } from "../infra/logger";
import { qrPngBuffer } from "../infra/qr";
import type { ErrorReporter } from "../infra/sentry";
import type { Services } from "./services";
import type { RoleConfig, Shared, Stop } from "./shared";

export type WardenBot = Bot<BotContext>;

/**
 * The bot, where this process runs the bot role or serves its webhook; undefined without a
 * token. Without a token the bot role stops start-up in production and warns elsewhere.
 */
export function createRoleBot(
  config: RoleConfig,
  deps: {
    shared: Pick<Shared, "orm" | "appRedis" | "rateLimiter">;
    /** Built by ./services: with the exchange-key ring only where the signer runs here. */
    services: Pick<
      Services,
      "accounts" | "keys" | "trade" | "cockpit" | "callerTrading" | "alerts"
    >;
    logger: Logger;
    reporter: ErrorReporter;
    now: () => number;
  },
  opts: {
    roles: Role[];
    /** TELEGRAM_BOT_TOKEN as configured (the sandbox's emulator token does not count). */
    tokenConfigured: boolean;
    sandbox: boolean;
  },
): WardenBot | undefined {
  const { logger } = deps;
  const { orm, appRedis } = deps.shared;
  const { accounts, keys, trade, cockpit, alerts, callerTrading } = deps.services;
  const token = config.telegram.botToken;
  const wantBot =
    opts.roles.includes("bot") || (opts.roles.includes("api") && config.telegram.webhookSecret);
  // Built wherever the api or bot role runs (./services.ts).
  if (token && wantBot && !callerTrading) throw new Error("the bot needs the services' trading");
  const bot =
    token && wantBot && callerTrading
      ? createBot({
          token,
          apiRoot: config.telegram.apiRoot,
          logger,
          reportError: (err, context) =>
            deps.reporter.capture(err, { source: "bot", extra: { updateId: context.updateId } }),
          rateLimiter: deps.shared.rateLimiter,
          accounts,
          keys,
          // Direct where this process runs the signer role; otherwise every venue call is an intent to the signer.
          trading: callerTrading.trading,
          killSwitch: trade.killSwitch,
          recentAudit: trade.recentAudit,
          cockpit: cockpitBotDeps(cockpit, keys, callerTrading),
          alerts: {
            store: alerts.store,
            notMe: alerts.notMe,
            now: deps.now,
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
  if (opts.roles.includes("bot") && !opts.tokenConfigured) {
    if (config.nodeEnv === "production") {
      throw new ConfigError("TELEGRAM_BOT_TOKEN", "is required for the bot role in production");
    }
    logger.warn(
      "Telegram bot is not connected: set TELEGRAM_BOT_TOKEN (from @BotFather) and restart. " +
        (opts.sandbox
          ? `Until then the bot talks to a local Telegram emulator: chat with it at ${config.publicUrl}/sandbox`
          : "The API and workers run without it."),
    );
  }
  return bot;
}

/** Starts taking updates: long polling, or registers the webhook the api role serves. */
export async function startBotRole(
  config: RoleConfig,
  bot: WardenBot,
  deps: { logger: Logger },
): Promise<Stop> {
  const running = await startBot(bot, {
    logger: deps.logger,
    webhook: config.telegram.webhookSecret
      ? { url: `${config.publicUrl}${WEBHOOK_PATH}`, secret: config.telegram.webhookSecret }
      : undefined,
  });
  return () => running.stop();
}
