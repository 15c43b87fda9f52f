// /2fa: enrol (QR photo + secret, then a code, then the 10 backup codes shown once and deleted
// when the user confirms they saved them), /2fa off and /2fa codes — each confirmed by a code.
// /admin: admin commands unlock only with TOTP enrolled and a code in the last 12 hours (S4.4).
import { Composer, InlineKeyboard, InputFile } from "grammy";
import { AccountError } from "../../domain/accounts/errors";
import type { AccountService } from "../../domain/accounts/service";
import type { BotContext } from "../context";
import type { BotVerifications, PendingStore } from "../pending";
import * as t from "../texts";

export const SAVED_CODES = "2fa:saved";
const OWN_KINDS = new Set(["2fa_confirm", "2fa_off", "2fa_codes", "admin_verify"]);
export const BOT_STEP_UP_MS = 5 * 60_000;

export interface TwoFactorDeps {
  accounts: AccountService;
  pending: PendingStore;
  verified: BotVerifications;
  qrPng: (text: string) => Promise<Buffer>;
}

export function twoFactorFeature(deps: TwoFactorDeps): Composer<BotContext> {
  const { accounts, pending, verified } = deps;
  const feature = new Composer<BotContext>();

  feature.command("2fa", async (ctx) => {
    const { user } = await accounts.ensureTelegramAccount(ctx.from!.id);
    const arg = ctx.match.trim().toLowerCase();
    if (arg === "off" || arg === "codes") {
      if (!user.totpEnabledAt) return void (await ctx.reply(t.TOTP_NOT_ENABLED));
      if (arg === "off" && user.role === "admin")
        return void (await ctx.reply(t.ADMIN_CANNOT_DISABLE));
      await pending.set(ctx.from!.id, { kind: arg === "off" ? "2fa_off" : "2fa_codes" });
      return void (await ctx.reply(t.SEND_CODE));
    }
    if (user.totpEnabledAt) return void (await ctx.reply(t.TOTP_ALREADY_ON));
    const { secret, otpauthUri } = await accounts.botStartTotpEnrolment(user);
    const photo = await ctx.replyWithPhoto(
      new InputFile(await deps.qrPng(otpauthUri), "warden-2fa.png"),
      {
        caption: t.TOTP_SCAN,
      },
    );
    const text = await ctx.reply(t.totpSecretMessage(secret), { parse_mode: "HTML" });
    await pending.set(ctx.from!.id, {
      kind: "2fa_confirm",
      messageIds: [photo.message_id, text.message_id],
    });
  });

  feature.command("admin", async (ctx) => {
    const { user } = await accounts.ensureTelegramAccount(ctx.from!.id);
    if (user.role !== "admin") return void (await ctx.reply(t.unknownCommand("/admin")));
    if (!user.totpEnabledAt) return void (await ctx.reply(t.ADMIN_NEEDS_2FA));
    const until = await verified.until("admin", user.id);
    if (!until) {
      await pending.set(ctx.from!.id, { kind: "admin_verify" });
      return void (await ctx.reply(t.ADMIN_SEND_CODE));
    }
    await ctx.reply(t.adminUnlocked(until));
  });

  // A code the bot asked for. Any other text falls through to the next feature.
  feature.on("message:text", async (ctx, next) => {
    const state = await pending.get(ctx.from.id);
    if (!state || !OWN_KINDS.has(state.kind) || ctx.message.text.startsWith("/")) return next();
    const code = ctx.message.text.trim();
    // The code has served its purpose once read; it should not linger in the chat.
    await ctx.deleteMessage().catch(() => {});
    const { user } = await accounts.ensureTelegramAccount(ctx.from.id);
    try {
      switch (state.kind) {
        case "2fa_confirm": {
          const { backupCodes } = await accounts.botConfirmTotpEnrolment(user, code);
          await pending.clear(ctx.from.id);
          // The secret and QR are no longer needed in the chat.
          for (const id of state.messageIds)
            await ctx.api.deleteMessage(ctx.chat.id, id).catch(() => {});
          await verified.mark("step_up", user.id, BOT_STEP_UP_MS);
          await ctx.reply(t.backupCodesMessage(backupCodes), {
            parse_mode: "HTML",
            reply_markup: new InlineKeyboard().text(t.SAVED_BUTTON, SAVED_CODES),
          });
          return;
        }
        case "2fa_off":
          await accounts.botDisableTotp(user, code);
          await pending.clear(ctx.from.id);
          await ctx.reply(t.TOTP_OFF);
          return;
        case "2fa_codes": {
          const { backupCodes } = await accounts.botRegenerateBackupCodes(user, code);
          await pending.clear(ctx.from.id);
          await ctx.reply(t.backupCodesMessage(backupCodes), {
            parse_mode: "HTML",
            reply_markup: new InlineKeyboard().text(t.SAVED_BUTTON, SAVED_CODES),
          });
          return;
        }
        case "admin_verify": {
          await accounts.verifyCodeForBot(user, code);
          await pending.clear(ctx.from.id);
          await verified.mark("admin", user.id, accounts.botAdmin2faWindowMs);
          await verified.mark("step_up", user.id, BOT_STEP_UP_MS);
          const until = await verified.until("admin", user.id);
          await ctx.reply(t.adminUnlocked(until ?? new Date()));
          return;
        }
      }
    } catch (err) {
      if (!(err instanceof AccountError)) throw err;
      // Wrong code: say so and keep waiting (the lockout in the service limits guessing).
      await ctx.reply(`${err.message}${err.code === "rate_limited" ? "" : `\n${t.SEND_CODE}`}`);
    }
  });

  feature.callbackQuery(SAVED_CODES, async (ctx) => {
    await ctx.answerCallbackQuery();
    await ctx.deleteMessage().catch(() => {});
    await ctx.reply(t.CODES_REMOVED);
  });

  return feature;
}
