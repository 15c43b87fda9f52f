// Admin commands: /pause [user id] [block-close] [reason…] and /resume [user id], the kill
// switch. Only for admins with 2FA on who unlocked admin commands with a code (/admin, S4.4);
// anyone else gets the same answer as for an unknown command.
import { Composer } from "grammy";
import type { AccountService } from "../../domain/accounts/service";
import {
  type KillSwitch,
  KillSwitchError,
  type PauseTarget,
  REASON_MAX,
} from "../../domain/trading/pause";
import type { BotContext } from "../context";
import type { BotVerifications } from "../pending";
import * as t from "../texts";

export const PAUSE_USAGE =
  "Usage: /pause [user id] [block-close] [reason] — without a user id, everyone; block-close refuses closes too.\n/resume [user id]";

export function parsePause(args: string): {
  target: PauseTarget;
  blocksClose: boolean;
  reason?: string;
} {
  const words = args.trim().split(/\s+/).filter(Boolean);
  let target: PauseTarget = { scope: "global" };
  if (words[0] && /^\d{1,19}$/.test(words[0])) {
    target = { scope: "user", userId: BigInt(words.shift()!).toString() };
  }
  const blocksClose = words[0]?.toLowerCase() === "block-close";
  if (blocksClose) words.shift();
  const reason = words.join(" ");
  if (reason.length > REASON_MAX) throw new KillSwitchError("bad_reason", PAUSE_USAGE);
  return { target, blocksClose, ...(reason ? { reason } : {}) };
}

export function adminFeature(deps: {
  accounts: AccountService;
  verified: BotVerifications;
  killSwitch: KillSwitch;
}): Composer<BotContext> {
  const feature = new Composer<BotContext>();

  /** The admin's user id when the gate is open; otherwise answers and returns null. */
  async function admin(ctx: BotContext, command: string): Promise<string | null> {
    const { user } = await deps.accounts.ensureTelegramAccount(ctx.from!.id);
    if (user.role !== "admin") {
      await ctx.reply(t.unknownCommand(command));
      return null;
    }
    if (!user.totpEnabledAt) {
      await ctx.reply(t.ADMIN_NEEDS_2FA);
      return null;
    }
    if (!(await deps.verified.until("admin", user.id))) {
      await ctx.reply("Admin commands are locked: send /admin and your code first.");
      return null;
    }
    return user.id;
  }

  const scopeText = (target: PauseTarget) =>
    target.scope === "global" ? "for everyone" : `for user #${target.userId}`;

  feature.command("pause", async (ctx) => {
    const adminUserId = await admin(ctx, "/pause");
    if (!adminUserId) return;
    try {
      const { target, blocksClose, reason } = parsePause(ctx.match);
      const { result } = await deps.killSwitch.pause({ via: "telegram", adminUserId }, target, {
        reason,
        blocksClose,
      });
      await ctx.reply(
        `⏸ Trading ${result === "updated" ? "pause updated" : "paused"} ${scopeText(target)}: ` +
          (blocksClose
            ? "every trade action is refused, closes too."
            : "opens and changes are refused; closes still work.") +
          " /resume lifts it.",
      );
    } catch (err) {
      if (err instanceof KillSwitchError) return void (await ctx.reply(err.message));
      throw err;
    }
  });

  feature.command("resume", async (ctx) => {
    const adminUserId = await admin(ctx, "/resume");
    if (!adminUserId) return;
    const arg = ctx.match.trim();
    if (arg !== "" && !/^\d{1,19}$/.test(arg)) return void (await ctx.reply(PAUSE_USAGE));
    const target: PauseTarget = arg
      ? { scope: "user", userId: BigInt(arg).toString() }
      : { scope: "global" };
    const { removed } = await deps.killSwitch.resume({ via: "telegram", adminUserId }, target);
    await ctx.reply(
      removed
        ? `▶️ Trading resumed ${scopeText(target)}.`
        : `Trading was not paused ${scopeText(target)}.`,
    );
  });

  return feature;
}
