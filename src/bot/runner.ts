// Starts the bot role: long polling through @grammyjs/runner, or registering the webhook that
// the API role serves at WEBHOOK_PATH.
import { run } from "@grammyjs/runner";
import { type Bot, GrammyError } from "grammy";
import type { Logger } from "../infra/logger";
import { StartupError } from "../startup/errors";
import { BOT_COMMANDS } from "./commands";
import type { BotContext } from "./context";

export const WEBHOOK_PATH = "/telegram/webhook";

export interface RunningBot {
  stop(): Promise<void>;
}

/**
 * A set-up call the bot can live without (the command menu, webhook housekeeping): a refusal
 * is logged as a warning and start-up goes on.
 */
async function setUp(logger: Logger, method: string, call: () => Promise<unknown>): Promise<void> {
  try {
    await call();
  } catch (err) {
    const reason =
      err instanceof GrammyError ? `${err.error_code} ${err.description}` : String(err);
    logger.warn(
      { method, reason },
      "the Bot API refused a set-up call; the bot goes on without it",
    );
  }
}

/** getMe: a 401 means the token is wrong, the one failure that stops start-up. */
async function init(bot: Bot<BotContext>): Promise<void> {
  try {
    await bot.init();
  } catch (err) {
    if (err instanceof GrammyError && (err.error_code === 401 || err.error_code === 404)) {
      throw new StartupError(
        "TELEGRAM_BOT_TOKEN",
        "Telegram refused the bot token (getMe answered 401 Unauthorized): it is wrong or was revoked.",
        "Copy the token from @BotFather (/mybots → API Token) into TELEGRAM_BOT_TOKEN and restart",
      );
    }
    throw err;
  }
}

export async function startBot(
  bot: Bot<BotContext>,
  opts: { logger: Logger; webhook?: { url: string; secret: string } },
): Promise<RunningBot> {
  await init(bot);
  const log = opts.logger;
  await setUp(log, "setMyCommands", () =>
    bot.api.setMyCommands([...BOT_COMMANDS], { scope: { type: "all_private_chats" } }),
  );
  if (opts.webhook) {
    await bot.api.setWebhook(opts.webhook.url, {
      secret_token: opts.webhook.secret,
      allowed_updates: ["message", "callback_query"],
    });
    opts.logger.info({ bot: bot.botInfo.username }, "bot receives updates by webhook");
    return { stop: async () => {} };
  }
  await setUp(log, "deleteWebhook", () => bot.api.deleteWebhook());
  const runner = run(bot, {
    runner: { fetch: { allowed_updates: ["message", "callback_query"] } },
  });
  opts.logger.info({ bot: bot.botInfo.username }, "bot is polling for updates");
  return {
    async stop() {
      if (runner.isRunning()) await runner.stop();
    },
  };
}
