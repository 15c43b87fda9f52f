// /start (creates the Telegram-only account, or links a web account with a one-time code from
// the web settings) and /link (a code to enter in the web settings, the other direction).
import { Composer } from "grammy";
import { AccountError } from "../../domain/accounts/errors";
import type { AccountService } from "../../domain/accounts/service";
import type { BotContext } from "../context";
import { LINKED, linkCodeMessage, WELCOME } from "../texts";

export function accountFeature(accounts: AccountService): Composer<BotContext> {
  const feature = new Composer<BotContext>();

  feature.command("start", async (ctx) => {
    const telegramId = ctx.from!.id;
    const code = ctx.match.trim();
    await accounts.ensureTelegramAccount(telegramId);
    if (code) {
      // A deep link from the web settings: the code itself is never echoed back.
      try {
        await accounts.linkTelegramWithWebCode(telegramId, code);
        await ctx.reply(LINKED);
      } catch (err) {
        if (!(err instanceof AccountError)) throw err;
        await ctx.reply(err.message);
      }
      return;
    }
    await ctx.reply(WELCOME);
  });

  feature.command("link", async (ctx) => {
    await accounts.ensureTelegramAccount(ctx.from!.id);
    const code = await accounts.issueBotLinkCode(ctx.from!.id);
    await ctx.reply(linkCodeMessage(code));
  });

  return feature;
}
