// Last in the chain: anything no feature handled gets a short pointer to /help.
import { Composer } from "grammy";
import type { BotContext } from "../context";
import { NOT_A_COMMAND, unknownCommand } from "../texts";

export function unhandledFeature(): Composer<BotContext> {
  const feature = new Composer<BotContext>();
  feature.on("message:text", (ctx) => {
    const text = ctx.message.text;
    if (text.startsWith("/")) {
      const command = text.split(/[\s@]/, 1)[0] ?? text;
      return ctx.reply(unknownCommand(command));
    }
    return ctx.reply(NOT_A_COMMAND);
  });
  feature.on("callback_query", (ctx) =>
    ctx.answerCallbackQuery({ text: "This button has expired." }),
  );
  feature.on("message", (ctx) => ctx.reply(NOT_A_COMMAND));
  return feature;
}
