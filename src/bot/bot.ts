// createBot: the grammY bot with its middleware chain. Starting it (polling or webhook) is
// separate, in ./runner, so the API role can serve webhooks with the same bot.
import { autoRetry } from "@grammyjs/auto-retry";
import { sequentialize } from "@grammyjs/runner";
import { Bot, GrammyError, HttpError, type MiddlewareFn } from "grammy";
import type { Redis } from "ioredis";
import type { AccountService } from "../domain/accounts/service";
import type { KillSwitch } from "../domain/trading/pause";
import type { Trading } from "../domain/trading/trading";
import type { KeyService } from "../domain/venues/keys";
import type { Logger } from "../infra/logger";
import type { RateLimiter } from "../infra/rate-limit";
import { sharedTelegramLimits } from "../infra/telegram-limits";
import { isServiceUnavailable } from "../infra/unavailable";
import type { BotContext } from "./context";
import { accountFeature } from "./features/account";
import { adminFeature } from "./features/admin";
import { type AlertsBotDeps, alertsFeature } from "./features/alerts";
import { keysFeature } from "./features/keys";
import { notificationsFeature } from "./features/notifications";
import { type OrdersFeatureDeps, ordersFeature } from "./features/orders";
import { reportsFeature } from "./features/reports";
import { type SettingsLinks, settingsFeature } from "./features/settings";
import { tradeHistoryFeature } from "./features/trade-history";
import { type TradingFeatureDeps, tradingFeature } from "./features/trading";
import { twoFactorFeature } from "./features/two-factor";
import { unhandledFeature } from "./features/unhandled";
import { welcomeFeature } from "./features/welcome";
import { privateOnly } from "./middleware/private-only";
import { type UserRateLimit, userRateLimit } from "./middleware/rate-limit";
import { createBotVerifications, createPendingStore } from "./pending";
import { BRIEFLY_UNAVAILABLE, SOMETHING_WENT_WRONG } from "./texts";

export interface BotDeps {
  accounts: AccountService;
  keys: KeyService;
  trading: Trading;
  /** The kill switch, for the admins' /pause and /resume. */
  killSwitch: KillSwitch;
  recentAudit: TradingFeatureDeps["recentAudit"];
  /** The web settings page (the /settings command opens it). */
  settings?: SettingsLinks;
  /** /alerts, the alert buttons and /anomalies (absent: those commands are unknown). */
  alerts?: AlertsBotDeps;
  /** Development: new users get a paper account on /start. */
  paperByDefault?: boolean;
  egressIps?: readonly string[];
  /** Redis with the deployment's key prefix: pending inputs and bot verifications. */
  redis: Redis;
  /** The trader's cockpit: quotes and confirmation, positions, reports. */
  cockpit?: Omit<OrdersFeatureDeps, "accounts" | "trading" | "redis"> & {
    ledger: import("../domain/reports").LedgerStore;
    notificationSettings?: import("./features/notifications").NotificationSettingsDeps;
    tradeHistory?: import("../domain/trading/history").TradeHistoryStore;
    dailySummary?: import("../domain/notifications").DailySummaryStore;
    liquidationWarnings?: import("../domain/trading/liquidation-warnings").LiquidationWarningStore;
  };
  qrPng: (text: string) => Promise<Buffer>;
  token: string;
  apiRoot: string;
  logger: Logger;
  /** Unexpected update failures go here too, e.g. to the error reporter. */
  reportError?: (err: unknown, context: { updateId: number }) => void;
  rateLimiter: RateLimiter;
  rateLimit?: UserRateLimit;
  /** Wraps each update, e.g. in an ORM RequestContext. */
  around?: MiddlewareFn<BotContext>;
  /**
   * Telegram's limits: ~30 messages/s overall, ~1/s per chat. Off only where a test measures
   * something else and the emulator does not enforce them.
   */
  throttle?: boolean;
}

export function createBot(deps: BotDeps): Bot<BotContext> {
  const bot = new Bot<BotContext>(deps.token, { client: { apiRoot: deps.apiRoot } });
  // Installed first, so it runs last: auto-retry → shared limits → HTTP. Replies count against
  // the same Redis-held limits as the workers' alerts, so together they stay under Telegram's.
  if (deps.throttle !== false) {
    bot.api.config.use(
      sharedTelegramLimits({
        redis: deps.redis,
        onFallback: (err) =>
          deps.logger.warn(
            { err },
            "Telegram send limits: Redis unavailable, limiting this process alone",
          ),
      }),
    );
  }
  bot.api.config.use(autoRetry({ maxRetryAttempts: 3, maxDelaySeconds: 60 }));

  // The runner handles updates concurrently; one chat's updates must still be handled in order
  // (a pasted key, then the reply to it), while different chats proceed in parallel.
  bot.use(sequentialize((ctx) => ctx.chat?.id.toString()));
  bot.use(privateOnly);
  if (deps.around) bot.use(deps.around);
  bot.use(userRateLimit(deps.rateLimiter, deps.rateLimit ?? { limit: 20, windowMs: 10_000 }));
  const pending = createPendingStore(deps.redis);
  bot.use(
    accountFeature(deps.accounts, {
      keys: deps.keys,
      paperByDefault: deps.paperByDefault,
      pending,
    }),
  );
  bot.use(welcomeFeature());
  if (deps.settings) bot.use(settingsFeature(deps.settings));
  const verified = createBotVerifications(deps.redis);
  bot.use(twoFactorFeature({ accounts: deps.accounts, pending, verified, qrPng: deps.qrPng }));
  bot.use(adminFeature({ accounts: deps.accounts, verified, killSwitch: deps.killSwitch }));
  bot.use(
    keysFeature({
      accounts: deps.accounts,
      keys: deps.keys,
      pending,
      verified,
      egressIps: deps.egressIps ?? [],
    }),
  );
  if (deps.cockpit) {
    // Before the trading feature: /open with confirmation, /positions, /close by symbol.
    bot.use(
      ordersFeature({
        ...deps.cockpit,
        accounts: deps.accounts,
        trading: deps.trading,
        redis: deps.redis,
      }),
    );
    bot.use(reportsFeature({ accounts: deps.accounts, ledger: deps.cockpit.ledger }));
    if (deps.cockpit.tradeHistory) {
      // Before the trading feature's plain /trades.
      bot.use(tradeHistoryFeature({ accounts: deps.accounts, history: deps.cockpit.tradeHistory }));
    }
    if (deps.cockpit.notificationSettings && deps.cockpit.dailySummary) {
      bot.use(
        notificationsFeature({
          accounts: deps.accounts,
          settings: deps.cockpit.notificationSettings,
          dailySummary: deps.cockpit.dailySummary,
          liquidationWarnings: deps.cockpit.liquidationWarnings,
        }),
      );
    }
  }
  bot.use(
    tradingFeature({
      accounts: deps.accounts,
      trading: deps.trading,
      recentAudit: deps.recentAudit,
    }),
  );
  if (deps.alerts) {
    bot.use(alertsFeature({ ...deps.alerts, accounts: deps.accounts, pending, verified }));
  }
  bot.use(unhandledFeature());

  bot.catch((err) => {
    // Never the update, and never a failed call's payload: both may hold secrets (a pasted key,
    // backup codes the bot was sending). A Bot API error is logged by method and description.
    const e = err.error;
    const detail =
      e instanceof GrammyError
        ? { method: e.method, errorCode: e.error_code, description: e.description }
        : e instanceof HttpError
          ? { httpError: e.message }
          : { err: e };
    const unavailable = isServiceUnavailable(e);
    deps.logger[unavailable ? "warn" : "error"](
      { ...detail, updateId: err.ctx.update.update_id, userId: err.ctx.from?.id },
      unavailable ? "bot update failed: a dependency is unavailable" : "bot update failed",
    );
    if (!unavailable) deps.reportError?.(e, { updateId: err.ctx.update.update_id });
    // The user is never left without an answer, unless Telegram itself refused the bot's call
    // (answering would fail the same way).
    const chat = err.ctx.chat;
    if (chat?.type === "private" && !(e instanceof GrammyError || e instanceof HttpError)) {
      err.ctx.api
        .sendMessage(chat.id, unavailable ? BRIEFLY_UNAVAILABLE : SOMETHING_WENT_WRONG)
        .catch(() => {});
    }
  });
  return bot;
}
