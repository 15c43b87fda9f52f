// /help.
import { Composer } from "grammy";
import type { BotContext } from "../context";
import { helpText } from "../texts";

export function welcomeFeature(): Composer<BotContext> {
  const feature = new Composer<BotContext>();
  feature.command("help", (ctx) => ctx.reply(helpText()));
  return feature;
}
