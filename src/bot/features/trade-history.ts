// /trades [n]: the user's trades, newest first, n per page (default 10, at most 50), with
// "Older" / "Newer" buttons. The buttons carry only a trade id as a cursor; the page is read for
// whoever presses, so a button never shows another user's trades.
import { Composer, InlineKeyboard } from "grammy";
import type { AccountService } from "../../domain/accounts/service";
import {
  type HistoryCursor,
  type HistoryPage,
  historyLine,
  TRADES_DEFAULT,
  TRADES_MAX,
  type TradeHistoryStore,
} from "../../domain/trading/history";
import type { BotContext } from "../context";

export const TRADES_USAGE = `Usage: /trades [n] — n from 1 to ${TRADES_MAX}, e.g. /trades 25`;

export function tradesPageText(page: HistoryPage, cursor: HistoryCursor): string {
  if (page.trades.length === 0) {
    return cursor ? "No more trades." : "No trades yet. /open places one.";
  }
  return ["Your trades (newest first):", ...page.trades.map(historyLine)].join("\n");
}

export function tradesPageKeyboard(page: HistoryPage, size: number): InlineKeyboard | undefined {
  const first = page.trades[0];
  const last = page.trades.at(-1);
  if (!first || !last || (!page.newer && !page.older)) return undefined;
  const kb = new InlineKeyboard();
  if (page.newer) kb.text("◀ Newer", `trh:${size}:a:${first.id}`);
  if (page.older) kb.text("Older ▶", `trh:${size}:b:${last.id}`);
  return kb;
}

export function tradeHistoryFeature(deps: {
  accounts: AccountService;
  history: TradeHistoryStore;
}): Composer<BotContext> {
  const feature = new Composer<BotContext>();
  const userOf = async (ctx: BotContext) =>
    (await deps.accounts.ensureTelegramAccount(ctx.from!.id)).user.id;

  feature.command("trades", async (ctx) => {
    const arg = ctx.match.trim();
    if (arg !== "" && (!/^\d{1,3}$/.test(arg) || Number(arg) < 1 || Number(arg) > TRADES_MAX)) {
      return void (await ctx.reply(
        `The number must be 1–${TRADES_MAX}, got \`${arg.slice(0, 10)}\`.\n${TRADES_USAGE}`,
      ));
    }
    const size = arg === "" ? TRADES_DEFAULT : Number(arg);
    const page = await deps.history.page(await userOf(ctx), size, null);
    const kb = tradesPageKeyboard(page, size);
    await ctx.reply(tradesPageText(page, null), kb ? { reply_markup: kb } : {});
  });

  feature.callbackQuery(/^trh:(\d{1,2}):([ab]):(\d{1,19})$/, async (ctx) => {
    const size = Number(ctx.match[1]);
    if (size < 1 || size > TRADES_MAX) return void (await ctx.answerCallbackQuery());
    const id = ctx.match[3]!;
    const cursor: HistoryCursor = ctx.match[2] === "a" ? { after: id } : { before: id };
    const page = await deps.history.page(await userOf(ctx), size, cursor);
    await ctx.answerCallbackQuery();
    await ctx
      .editMessageText(tradesPageText(page, cursor), {
        reply_markup: tradesPageKeyboard(page, size) ?? new InlineKeyboard(),
      })
      .catch(() => {});
  });
  return feature;
}
