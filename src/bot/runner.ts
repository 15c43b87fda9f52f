// Starts the bot role: long polling through @grammyjs/runner, or registering the webhook that
// the API role serves at WEBHOOK_PATH.
import { run } from "@grammyjs/runner";
import type { Bot } from "grammy";
import type { Logger } from "../infra/logger";
import { BOT_COMMANDS } from "./commands";
import type { BotContext } from "./context";

export const WEBHOOK_PATH = "/telegram/webhook";

export interface RunningBot {
  stop(): Promise<void>;
}

export async function startBot(
  bot: Bot<BotContext>,
  opts: { logger: Logger; webhook?: { url: string; secret: string } },
): Promise<RunningBot> {
  await bot.init();
  await bot.api.setMyCommands([...BOT_COMMANDS], { scope: { type: "all_private_chats" } });
  if (opts.webhook) {
    await bot.api.setWebhook(opts.webhook.url, {
      secret_token: opts.webhook.secret,
      allowed_updates: ["message", "callback_query"],
    });
    opts.logger.info({ bot: bot.botInfo.username }, "bot receives updates by webhook");
    return { stop: async () => {} };
  }
  await bot.api.deleteWebhook();
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
