// Last in the chain: anything no feature handled gets a short pointer to /help.
import { Composer } from "grammy";
import type { BotContext } from "../context";
import { DELETED_SECRET, NOT_A_COMMAND, unknownCommand } from "../texts";

/** A run of 24+ key-like characters, or a 0x-prefixed 64-hex private key. */
const SECRET_SHAPED = /[A-Za-z0-9_+/=-]{24,}|0x[0-9a-fA-F]{64}/;

export function unhandledFeature(): Composer<BotContext> {
  const feature = new Composer<BotContext>();
  feature.on("message:text", async (ctx) => {
    const text = ctx.message.text;
    // S1.5: a key pasted outside /connect (or after its prompt expired) leaves the chat at once.
    if (!text.startsWith("/") && SECRET_SHAPED.test(text)) {
      await ctx.deleteMessage().catch(() => {});
      return ctx.reply(DELETED_SECRET);
    }
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
