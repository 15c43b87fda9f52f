// The bot's context type: grammY's Context plus nothing yet; features extend it here.
import type { Context } from "grammy";

export type BotContext = Context;
