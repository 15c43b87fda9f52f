// /notifications: trade notices per event (entries, partial fills, SL/TP moved, exits, stop loss,
// take profit, liquidation, liquidation warnings, daily summary), each on or off and on the channels the user picks (Telegram, email, web), with inline buttons.
// A button changes the presser's own settings only.
import { Composer, InlineKeyboard } from "grammy";
import type { AccountService } from "../../domain/accounts/service";
import type { DailySummaryStore } from "../../domain/notifications";
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
import {
  DEFAULT_LIQUIDATION_WARNING_PCT,
  type LiquidationWarningStore,
  MAX_LIQUIDATION_WARNING_PCT,
  MIN_LIQUIDATION_WARNING_PCT,
  parseWarningDistance,
} from "../../domain/trading/liquidation-warnings";
import type { BotContext } from "../context";

export const NOTIFICATIONS_CALLBACK = "ntf";

const hh = (h: number) => `${String(h).padStart(2, "0")}:00 UTC`;

export function notificationsText(
  s: NotificationSettings,
  summaryHour: number,
  warningPct: number = DEFAULT_LIQUIDATION_WARNING_PCT,
): string {
  const lines = NOTICE_EVENTS.map((e) => {
    const on = NOTICE_CHANNELS.filter((c) => s[e][c]).map((c) => CHANNEL_TITLES[c]);
    const title =
      e === "daily_summary"
        ? `${EVENT_TITLES[e]} at ${hh(summaryHour)}`
        : e === "liquidation_warning"
          ? `${EVENT_TITLES[e]} within ${warningPct} %`
          : EVENT_TITLES[e];
    return s[e].enabled
      ? `✅ ${title}: ${on.length > 0 ? on.join(", ") : "no channel"}`
      : `🔕 ${EVENT_TITLES[e]}: off`;
  });
  return [
    "Trade notifications",
    "",
    ...lines,
    "",
    "Tap an event to switch it on or off, a channel to add or remove it.",
    "/notifications summary <hour 0-23|off> sets the daily summary's hour (UTC).",
    "/notifications liquidation <percent> sets how close to the liquidation price a warning comes.",
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

export const SUMMARY_USAGE =
  "Usage: /notifications summary <hour 0-23|off> — e.g. /notifications summary 20 (UTC)";
export const LIQUIDATION_USAGE = `Usage: /notifications liquidation <percent ${MIN_LIQUIDATION_WARNING_PCT}-${MAX_LIQUIDATION_WARNING_PCT}> — e.g. /notifications liquidation 5 warns when the mark is within 5 % of the liquidation price`;

export function notificationsFeature(deps: {
  accounts: AccountService;
  settings: NotificationSettingsDeps;
  dailySummary: Pick<DailySummaryStore, "hourOf" | "setHour">;
  liquidationWarnings?: Pick<LiquidationWarningStore, "distanceOf" | "setDistance">;
}): Composer<BotContext> {
  const feature = new Composer<BotContext>();
  const userOf = async (ctx: BotContext) =>
    (await deps.accounts.ensureTelegramAccount(ctx.from!.id)).user.id;

  const warningPct = async (userId: string) =>
    (await deps.liquidationWarnings?.distanceOf(userId)) ?? DEFAULT_LIQUIDATION_WARNING_PCT;
  const show = async (ctx: BotContext, userId: string) => {
    const s = await deps.settings.get(userId);
    const hour = await deps.dailySummary.hourOf(userId);
    await ctx.reply(notificationsText(s, hour, await warningPct(userId)), {
      reply_markup: notificationsKeyboard(s),
    });
  };

  feature.command("notifications", async (ctx) => {
    const userId = await userOf(ctx);
    const args = ctx.match.trim().split(/\s+/).filter(Boolean);
    if (args.length === 0) return show(ctx, userId);
    const [sub, value] = args;
    if (sub?.toLowerCase() === "liquidation" && deps.liquidationWarnings) {
      const pct = args.length === 2 && value !== undefined ? parseWarningDistance(value) : null;
      if (pct === null) {
        const got = value === undefined ? "nothing" : `\`${value.slice(0, 10)}\``;
        return void (await ctx.reply(
          `The distance must be a percentage from ${MIN_LIQUIDATION_WARNING_PCT} to ${MAX_LIQUIDATION_WARNING_PCT}, got ${got}.\n${LIQUIDATION_USAGE}`,
        ));
      }
      await deps.liquidationWarnings.setDistance(userId, pct);
      const on = (await deps.settings.get(userId)).liquidation_warning.enabled;
      await ctx.reply(
        `Liquidation warnings: when the mark is within ${pct} % of the liquidation price${on ? "." : " (they are off: tap them on in /notifications)."}`,
      );
      return;
    }
    if (sub?.toLowerCase() !== "summary" || args.length !== 2 || value === undefined) {
      return void (await ctx.reply(
        sub?.toLowerCase() === "summary" || !deps.liquidationWarnings
          ? SUMMARY_USAGE
          : `${SUMMARY_USAGE}\n${LIQUIDATION_USAGE}`,
      ));
    }
    if (value.toLowerCase() === "off") {
      await updateSettings(
        deps.settings,
        userId,
        { daily_summary: { enabled: false } },
        await deps.settings.contactOf(userId),
      );
      await ctx.reply("Daily summary: off.");
      return;
    }
    if (!/^\d{1,2}$/.test(value) || Number(value) > 23) {
      return void (await ctx.reply(
        `The hour must be 0–23, got \`${value.slice(0, 10)}\`.\n${SUMMARY_USAGE}`,
      ));
    }
    await deps.dailySummary.setHour(userId, Number(value));
    await updateSettings(
      deps.settings,
      userId,
      { daily_summary: { enabled: true } },
      await deps.settings.contactOf(userId),
    );
    await ctx.reply(`Daily summary: on, every day at ${hh(Number(value))}.`);
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
    const hour = await deps.dailySummary.hourOf(userId);
    await ctx
      .editMessageText(notificationsText(next, hour, await warningPct(userId)), {
        reply_markup: notificationsKeyboard(next),
      })
      .catch(() => {});
  });
  return feature;
}
