// S6.1: Warden acts only in private chats with a human; groups, channels, inline queries and
// other bots are ignored without an answer.
import type { MiddlewareFn } from "grammy";
import type { BotContext } from "../context";

export const privateOnly: MiddlewareFn<BotContext> = async (ctx, next) => {
  if (ctx.chat?.type !== "private" || !ctx.from || ctx.from.is_bot) return;
  if (ctx.chat.id !== ctx.from.id) return;
  await next();
};
