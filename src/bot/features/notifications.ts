// /notifications: trade notices per event (entries, exits, stop loss, take profit, liquidation),
// each on or off and on the channels the user picks (Telegram, email, web), with inline buttons.
// A button changes the presser's own settings only.
import { Composer, InlineKeyboard } from "grammy";
import type { AccountService } from "../../domain/accounts/service";
import {
  CHANNEL_TITLES,
  EVENT_TITLES,
  isNoticeEvent,
  NOTICE_CHANNELS,
  NOTICE_EVENTS,
  type NotificationSettings,
  type NotificationSettingsStore,
  NotificationsError,
  updateSettings,
} from "../../domain/notifications";
import type { BotContext } from "../context";

export const NOTIFICATIONS_CALLBACK = "ntf";

export function notificationsText(s: NotificationSettings): string {
  const lines = NOTICE_EVENTS.map((e) => {
    const on = NOTICE_CHANNELS.filter((c) => s[e][c]).map((c) => CHANNEL_TITLES[c]);
    return s[e].enabled
      ? `✅ ${EVENT_TITLES[e]}: ${on.length > 0 ? on.join(", ") : "no channel"}`
      : `🔕 ${EVENT_TITLES[e]}: off`;
  });
  return [
    "Trade notifications",
    "",
    ...lines,
    "",
    "Tap an event to switch it on or off, a channel to add or remove it.",
  ].join("\n");
}

export function notificationsKeyboard(s: NotificationSettings): InlineKeyboard {
  const kb = new InlineKeyboard();
  for (const e of NOTICE_EVENTS) {
    kb.text(
      `${s[e].enabled ? "✅" : "🔕"} ${EVENT_TITLES[e]}`,
      `${NOTIFICATIONS_CALLBACK}:${e}:enabled`,
    ).row();
    for (const c of NOTICE_CHANNELS) {
      kb.text(`${s[e][c] ? "☑" : "☐"} ${CHANNEL_TITLES[c]}`, `${NOTIFICATIONS_CALLBACK}:${e}:${c}`);
    }
    kb.row();
  }
  return kb;
}

export type NotificationSettingsDeps = NotificationSettingsStore & {
  contactOf(userId: string): Promise<{ chatId: number | null; email: string | null }>;
};

export function notificationsFeature(deps: {
  accounts: AccountService;
  settings: NotificationSettingsDeps;
}): Composer<BotContext> {
  const feature = new Composer<BotContext>();
  const userOf = async (ctx: BotContext) =>
    (await deps.accounts.ensureTelegramAccount(ctx.from!.id)).user.id;

  feature.command("notifications", async (ctx) => {
    const s = await deps.settings.get(await userOf(ctx));
    await ctx.reply(notificationsText(s), { reply_markup: notificationsKeyboard(s) });
  });

  feature.callbackQuery(/^ntf:([a-z_]{1,20}):(enabled|telegram|email|web)$/, async (ctx) => {
    const [, event, field] = ctx.match;
    if (!event || !field || !isNoticeEvent(event)) {
      return void (await ctx.answerCallbackQuery({ text: "Unknown setting." }));
    }
    const userId = await userOf(ctx);
    const current = (await deps.settings.get(userId))[event];
    const key = field as "enabled" | "telegram" | "email" | "web";
    let next: NotificationSettings;
    try {
      next = await updateSettings(
        deps.settings,
        userId,
        { [event]: { [key]: !current[key] } },
        await deps.settings.contactOf(userId),
      );
    } catch (err) {
      if (err instanceof NotificationsError) {
        return void (await ctx.answerCallbackQuery({ text: err.message }));
      }
      throw err;
    }
    const label =
      key === "enabled" ? EVENT_TITLES[event] : `${EVENT_TITLES[event]} by ${CHANNEL_TITLES[key]}`;
    await ctx.answerCallbackQuery({ text: `${label}: ${next[event][key] ? "on" : "off"}.` });
    await ctx
      .editMessageText(notificationsText(next), { reply_markup: notificationsKeyboard(next) })
      .catch(() => {});
  });
  return feature;
}
