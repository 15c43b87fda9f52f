// /help and /help <command>.
import { Composer } from "grammy";
import type { BotContext } from "../context";
import { commandHelp, unknownHelpTopic } from "../help-topics";
import { helpText } from "../texts";

export function welcomeFeature(): Composer<BotContext> {
  const feature = new Composer<BotContext>();
  feature.command("help", (ctx) => {
    const arg = ctx.match.trim();
    if (arg === "") return ctx.reply(helpText());
    return ctx.reply(commandHelp(arg) ?? unknownHelpTopic(arg));
  });
  return feature;
}
