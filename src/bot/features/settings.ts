// /settings: opens the web settings page. Over https it is a Mini App button (Telegram signs the
// user in with initData, S6.2); Telegram refuses http and local URLs in buttons, so in
// development the page's address is sent as text instead.
import { Composer, InlineKeyboard } from "grammy";
import type { BotContext } from "../context";

export interface SettingsLinks {
  /** The settings page for a browser. */
  page: string;
  /** The Mini App entry, opened inside Telegram. */
  miniApp: string;
}

export function settingsFeature(links: SettingsLinks): Composer<BotContext> {
  const feature = new Composer<BotContext>();
  feature.command("settings", async (ctx) => {
    if (links.miniApp.startsWith("https://")) {
      await ctx.reply(
        "Keys, two-factor, sessions, alerts and your audit log — all on the settings page:",
        { reply_markup: new InlineKeyboard().webApp("Open settings", links.miniApp) },
      );
      return;
    }
    await ctx.reply(
      `Keys, two-factor, sessions, alerts and your audit log are on the settings page: ` +
        `${links.page}\n(Over https this is a button that signs you in with Telegram.)`,
    );
  });
  return feature;
}
