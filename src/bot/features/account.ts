// /start (creates the Telegram-only account, or links a web account with a one-time code from
// the web settings) and /link (a code to enter in the web settings, the other direction).
import { Composer, InlineKeyboard } from "grammy";
import { AccountError } from "../../domain/accounts/errors";
import type { AccountService } from "../../domain/accounts/service";
import type { KeyService } from "../../domain/venues/keys";
import type { BotContext } from "../context";
import type { PendingStore } from "../pending";
import {
  LINKED,
  linkCodeMessage,
  linkQuestion,
  NOT_LINKED,
  PAPER_READY,
  UNLINKED,
  unlinkQuestion,
  WELCOME,
} from "../texts";

export const LINK_YES = "link:yes";
export const LINK_NO = "link:no";
export const UNLINK_YES = "unlink:yes";
export const UNLINK_NO = "unlink:no";

const nameOf = (from: { first_name: string; last_name?: string; username?: string }) =>
  from.username ? `@${from.username}` : [from.first_name, from.last_name].filter(Boolean).join(" ");

export function accountFeature(
  accounts: AccountService,
  opts: { keys?: KeyService; paperByDefault?: boolean; pending?: PendingStore } = {},
): Composer<BotContext> {
  const feature = new Composer<BotContext>();

  feature.command("start", async (ctx) => {
    const telegramId = ctx.from!.id;
    const code = ctx.match.trim();
    const { user, created } = await accounts.ensureTelegramAccount(telegramId);
    if (code) {
      // A deep link from the web settings. The code is used up now, but nothing is linked until
      // the user confirms which account it is; the code itself is never echoed back.
      try {
        const claim = await accounts.claimWebLinkCode(code);
        if (opts.pending)
          await opts.pending.set(telegramId, { kind: "link_confirm", userId: claim.userId });
        await ctx.reply(linkQuestion(claim.maskedEmail), {
          reply_markup: new InlineKeyboard().text("Yes, link", LINK_YES).text("Cancel", LINK_NO),
        });
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

  feature.callbackQuery([LINK_YES, LINK_NO], async (ctx) => {
    await ctx.answerCallbackQuery();
    await ctx.editMessageReplyMarkup().catch(() => {});
    const state = await opts.pending?.get(ctx.from.id);
    await opts.pending?.clear(ctx.from.id);
    if (ctx.callbackQuery.data === LINK_NO || state?.kind !== "link_confirm") {
      await ctx.reply(
        ctx.callbackQuery.data === LINK_NO ? "Not linked." : "That link request has expired.",
      );
      return;
    }
    try {
      await accounts.confirmTelegramLink(state.userId, ctx.from.id, nameOf(ctx.from));
      await ctx.reply(LINKED);
    } catch (err) {
      if (!(err instanceof AccountError)) throw err;
      await ctx.reply(err.message);
    }
  });

  feature.command("link", async (ctx) => {
    await accounts.ensureTelegramAccount(ctx.from!.id);
    const code = await accounts.issueBotLinkCode(ctx.from!.id, nameOf(ctx.from!));
    await ctx.reply(linkCodeMessage(code));
  });

  // Leaving a web account from Telegram: asks first, then ends the link (a security event).
  feature.command("unlink", async (ctx) => {
    const linked = await accounts.linkedAccountOf(ctx.from!.id);
    if (!linked) {
      await ctx.reply(NOT_LINKED);
      return;
    }
    await ctx.reply(unlinkQuestion(linked.maskedEmail), {
      reply_markup: new InlineKeyboard().text("Yes, unlink", UNLINK_YES).text("Cancel", UNLINK_NO),
    });
  });

  feature.callbackQuery([UNLINK_YES, UNLINK_NO], async (ctx) => {
    await ctx.answerCallbackQuery();
    await ctx.editMessageReplyMarkup().catch(() => {});
    if (ctx.callbackQuery.data === UNLINK_NO) {
      await ctx.reply("Still linked: nothing changed.");
      return;
    }
    try {
      await accounts.unlinkTelegramFromBot(ctx.from.id);
      await ctx.reply(UNLINKED);
    } catch (err) {
      if (!(err instanceof AccountError)) throw err;
      await ctx.reply(err.message);
    }
  });

  return feature;
}
