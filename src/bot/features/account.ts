// /start (creates the Telegram-only account, or links a web account with a one-time code from
// the web settings) and /link (a code to enter in the web settings, the other direction).
import { Composer } from "grammy";
import { AccountError } from "../../domain/accounts/errors";
import type { AccountService } from "../../domain/accounts/service";
import type { KeyService } from "../../domain/venues/keys";
import type { BotContext } from "../context";
import { LINKED, linkCodeMessage, PAPER_READY, WELCOME } from "../texts";

export function accountFeature(
  accounts: AccountService,
  opts: { keys?: KeyService; paperByDefault?: boolean } = {},
): Composer<BotContext> {
  const feature = new Composer<BotContext>();

  feature.command("start", async (ctx) => {
    const telegramId = ctx.from!.id;
    const code = ctx.match.trim();
    const { user, created } = await accounts.ensureTelegramAccount(telegramId);
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
    // In development the paper venue is the default: a new user can trade at once.
    if (created && opts.paperByDefault && opts.keys) {
      await opts.keys.connect(user.id, "paper", "Paper", {});
      await ctx.reply(PAPER_READY);
    }
  });

  feature.command("link", async (ctx) => {
    await accounts.ensureTelegramAccount(ctx.from!.id);
    const code = await accounts.issueBotLinkCode(ctx.from!.id);
    await ctx.reply(linkCodeMessage(code));
  });

  return feature;
}
