// /alerts (which channels carry security alerts; switching one off needs a 2FA code), the
// alert's two buttons ("this was me" / "not me — revoke my keys", the latter after a 2FA code
// when 2FA is on), and the admins' /anomalies list of recent findings (S8.3, S4.5).
import { Composer, InlineKeyboard } from "grammy";
import { AccountError } from "../../domain/accounts/errors";
import type { UserRecord } from "../../domain/accounts/repo";
import type { AccountService } from "../../domain/accounts/service";
import {
  type AlertPreferences,
  type AlertStore,
  AlertsError,
  CHANNELS,
  type Channel,
  describeFinding,
  reportItWasMe,
  updatePreferences,
} from "../../domain/alerts";
import type { BotContext } from "../context";
import type { AlertAction, BotVerifications, PendingStore } from "../pending";
import { SEND_CODE, unknownCommand } from "../texts";
import { BOT_STEP_UP_MS } from "./two-factor";

export interface AlertsBotDeps {
  store: AlertStore;
  /** Revokes every key of the user, records the answer, tells the admins. */
  notMe: (userId: string, anomalyId: string) => Promise<{ revoked: string[] }>;
  now: () => number;
}

export interface AlertsFeatureDeps extends AlertsBotDeps {
  accounts: AccountService;
  pending: PendingStore;
  verified: BotVerifications;
}

const CHANNEL_NAMES: Record<Channel, string> = {
  telegram: "Telegram",
  email: "Email",
  websocket: "In-app (web)",
};

export const NEEDS_2FA_TO_SILENCE =
  "Turning an alert channel off is a sensitive action and needs two-factor authentication. Send /2fa to turn it on first.";

export function preferencesText(p: AlertPreferences, user: UserRecord): string {
  return [
    "Security alerts (rapid-fire trading, a new IP address) reach you by:",
    ...CHANNELS.map((c) => {
      const missing = c === "email" && !user.email ? " (no email on this account)" : "";
      return `${CHANNEL_NAMES[c]}: ${p[c] ? "on" : "off"}${missing}`;
    }),
    "",
    "Warden's admins are told of every alert whatever you choose. Turning a channel off needs a 2FA code.",
  ].join("\n");
}

function preferencesKeyboard(p: AlertPreferences): InlineKeyboard {
  const kb = new InlineKeyboard();
  for (const c of CHANNELS) {
    kb.text(
      `${p[c] ? "Turn off" : "Turn on"} ${CHANNEL_NAMES[c]}`,
      `alerts:set:${c}:${p[c] ? "off" : "on"}`,
    ).row();
  }
  return kb;
}

export function alertsFeature(deps: AlertsFeatureDeps): Composer<BotContext> {
  const { accounts, pending, verified, store } = deps;
  const feature = new Composer<BotContext>();

  const steppedUp = async (user: UserRecord) =>
    Boolean(user.totpEnabledAt) && Boolean(await verified.until("step_up", user.id));

  async function showPreferences(ctx: BotContext, user: UserRecord, prefix?: string) {
    const p = await store.preferences(user.id);
    const text = preferencesText(p, user);
    await ctx.reply(prefix ? `${prefix}\n\n${text}` : text, {
      reply_markup: preferencesKeyboard(p),
    });
  }

  async function proceed(ctx: BotContext, user: UserRecord, action: AlertAction) {
    if (action.action === "silence") {
      await updatePreferences(store, user.id, { [action.channel]: false }, { steppedUp: true });
      await showPreferences(ctx, user, `${CHANNEL_NAMES[action.channel]} alerts are now off.`);
      return;
    }
    try {
      const { revoked } = await deps.notMe(user.id, action.anomalyId);
      await ctx.reply(
        [
          revoked.length > 0
            ? `🔒 Revoked ${revoked.length} exchange key(s): ${revoked.map((id) => `#${id}`).join(", ")}. Their material is deleted; nothing can trade with them any more.`
            : "🔒 You had no active exchange key: nothing could trade for you.",
          "Warden's team has been told. Also revoke the keys on the exchange itself and change your password.",
        ].join("\n"),
      );
    } catch (err) {
      if (!(err instanceof AlertsError)) throw err;
      await ctx.reply(err.message);
    }
  }

  feature.command("alerts", async (ctx) => {
    const { user } = await accounts.ensureTelegramAccount(ctx.from!.id);
    await showPreferences(ctx, user);
  });

  feature.callbackQuery(/^alerts:set:(telegram|email|websocket):(on|off)$/, async (ctx) => {
    await ctx.answerCallbackQuery();
    const channel = ctx.match[1] as Channel;
    const on = ctx.match[2] === "on";
    const { user } = await accounts.ensureTelegramAccount(ctx.from.id);
    if (on) {
      await updatePreferences(store, user.id, { [channel]: true }, { steppedUp: false });
      await showPreferences(ctx, user, `${CHANNEL_NAMES[channel]} alerts are on.`);
      return;
    }
    if (!user.totpEnabledAt) return void (await ctx.reply(NEEDS_2FA_TO_SILENCE));
    if (!(await steppedUp(user))) {
      await pending.set(ctx.from.id, {
        kind: "alerts_step_up",
        next: { action: "silence", channel },
      });
      await ctx.reply(
        `Turning ${CHANNEL_NAMES[channel]} alerts off is a sensitive action. ${SEND_CODE}`,
      );
      return;
    }
    await proceed(ctx, user, { action: "silence", channel });
  });

  feature.callbackQuery(/^alert:(me|notme):(\d{1,19})$/, async (ctx) => {
    await ctx.answerCallbackQuery();
    const [, answer, anomalyId] = ctx.match;
    const { user } = await accounts.ensureTelegramAccount(ctx.from.id);
    if (answer === "me") {
      try {
        // The bot has no step-up for this: a "not me" is taken back on the web, after one.
        await reportItWasMe(store, user.id, anomalyId!, deps.now, { steppedUp: false });
      } catch (err) {
        if (!(err instanceof AlertsError)) throw err;
        return void (await ctx.reply(err.message));
      }
      await ctx.editMessageReplyMarkup().catch(() => {});
      await ctx.reply(`Thanks: alert #${anomalyId} is marked as your own activity.`);
      return;
    }
    const action: AlertAction = { action: "not_me", anomalyId: anomalyId! };
    // Revoking is protective, so without 2FA it happens at once; with 2FA it takes a code,
    // so that someone holding this chat cannot cut the owner off their keys unasked.
    if (user.totpEnabledAt && !(await steppedUp(user))) {
      await pending.set(ctx.from.id, { kind: "alerts_step_up", next: action });
      await ctx.reply(`To revoke all your exchange keys now: ${SEND_CODE}`);
      return;
    }
    await ctx.editMessageReplyMarkup().catch(() => {});
    await proceed(ctx, user, action);
  });

  feature.on("message:text", async (ctx, next) => {
    const state = await pending.get(ctx.from.id);
    if (state?.kind !== "alerts_step_up" || ctx.message.text.startsWith("/")) return next();
    await ctx.deleteMessage().catch(() => {});
    const { user } = await accounts.ensureTelegramAccount(ctx.from.id);
    try {
      await accounts.verifyCodeForBot(user, ctx.message.text.trim());
    } catch (err) {
      if (!(err instanceof AccountError)) throw err;
      await ctx.reply(`${err.message}${err.code === "rate_limited" ? "" : `\n${SEND_CODE}`}`);
      return;
    }
    await verified.mark("step_up", user.id, BOT_STEP_UP_MS);
    await pending.clear(ctx.from.id);
    await proceed(ctx, user, state.next);
  });

  feature.command("anomalies", async (ctx) => {
    const { user } = await accounts.ensureTelegramAccount(ctx.from!.id);
    if (user.role !== "admin") return void (await ctx.reply(unknownCommand("/anomalies")));
    if (!user.totpEnabledAt || !(await verified.until("admin", user.id))) {
      return void (await ctx.reply("Admin commands are locked: send /admin first."));
    }
    const recent = await store.recent(20);
    if (recent.length === 0) return void (await ctx.reply("No anomalies recorded."));
    const lines = recent.map((a) => {
      const when = a.createdAt.toISOString().slice(0, 16).replace("T", " ");
      return `#${a.id} ${when} UTC — ${a.rule} — user #${a.userId} — ${a.delivery}${a.verdict ? ` — user says: ${a.verdict === "me" ? "me" : "NOT ME"}` : ""}\n  ${describeFinding(a)}`;
    });
    await ctx.reply(["Recent anomalies (newest first):", ...lines].join("\n").slice(0, 4096));
  });

  return feature;
}
