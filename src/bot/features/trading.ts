// /open, /modify, /close (with a confirm button), /positions, /trades, /balance and /audit. Each
// calls the same trading use case as the HTTP API; the update id is the idempotency key, so a
// redelivered update opens one position, not two.
import { Composer, InlineKeyboard } from "grammy";
import type { AccountService } from "../../domain/accounts/service";
import type { Trading } from "../../domain/trading/trading";
import { type TradeRecord, TradingError } from "../../domain/trading/types";
import { venueLabel } from "../../domain/venues/key-records";
import type { BotContext } from "../context";
import { parseClose, parseModify, parseOpen, UsageError } from "../trade-commands";

export interface AuditLine {
  id: string;
  occurredAt: Date;
  action: string;
  tradeId: string | null;
  venue: string;
  symbol: string;
  outcome: string;
  source: string;
}

export interface TradingFeatureDeps {
  accounts: AccountService;
  trading: Trading;
  /** The caller's last audit entries, newest first. */
  recentAudit: (userId: string, limit: number) => Promise<AuditLine[]>;
}

const fmt = (n: number | null) => (n === null ? "—" : String(Math.round(n * 1e6) / 1e6));

export function tradeLine(t: TradeRecord): string {
  const extras = [
    t.leverage ? `${t.leverage}x` : null,
    t.stopLoss ? `SL ${fmt(t.stopLoss)}` : null,
    t.takeProfit ? `TP ${fmt(t.takeProfit)}` : null,
  ].filter(Boolean);
  const prices =
    t.status === "open" ? `@ ${fmt(t.entryPrice)}` : `${fmt(t.entryPrice)} → ${fmt(t.exitPrice)}`;
  return `#${t.id} ${t.status} ${t.side} ${fmt(t.size)} ${t.symbol} ${prices} on ${t.testnet ? "🧪 " : ""}${venueLabel(t.venue, t.testnet === true)}${extras.length ? ` (${extras.join(", ")})` : ""}`;
}

/**
 * One user action's key: Telegram redelivers an update (and a button press) with the same update
 * id, so a change handed to a signer is done once however often it arrives.
 */
export const requestKeyOf = (ctx: BotContext) => `tg:${ctx.update.update_id}`;

export function tradingFeature(deps: TradingFeatureDeps): Composer<BotContext> {
  const { accounts, trading } = deps;
  const feature = new Composer<BotContext>();

  const caller = async (ctx: BotContext) => {
    const { user } = await accounts.ensureTelegramAccount(ctx.from!.id);
    return {
      userId: user.id,
      source: "telegram" as const,
      ip: null,
      requestKey: requestKeyOf(ctx),
    };
  };

  async function run(ctx: BotContext, fn: () => Promise<string>) {
    try {
      await ctx.reply(await fn());
    } catch (err) {
      if (err instanceof UsageError || err instanceof TradingError)
        return void (await ctx.reply(err.message));
      throw err;
    }
  }

  feature.command("open", (ctx) =>
    run(ctx, async () => {
      const cmd = parseOpen(ctx.match);
      const t = await trading.openTrade(await caller(ctx), {
        ...cmd,
        idempotencyKey: `tg:${ctx.update.update_id}`,
      });
      if (t.protectionError === undefined) return `✅ Opened ${tradeLine(t)}`;
      // Opened, but unprotected: say so plainly and offer the two ways out.
      const legs = `${cmd.stopLoss ?? "-"}:${cmd.takeProfit ?? "-"}`;
      await ctx.reply(
        `⚠️ Opened ${tradeLine(t)}, but the stop loss / take profit was NOT placed — the position is unprotected.\n${t.protectionError}`,
        {
          reply_markup: new InlineKeyboard()
            .text("Retry the stop", `protect:${t.id}:${legs}`)
            .text("Close it", `close:${t.id}`),
        },
      );
      return "Choose: retry the stop loss / take profit, or close the position.";
    }),
  );

  feature.callbackQuery(/^protect:(\d{1,19}):([\d.]+|-):([\d.]+|-)$/, async (ctx) => {
    await ctx.answerCallbackQuery();
    await ctx.editMessageReplyMarkup().catch(() => {});
    const [, id, sl, tp] = ctx.match;
    await run(ctx, async () => {
      const t = await trading.modifyTrade(await caller(ctx), id!, {
        ...(sl === "-" ? {} : { stopLoss: Number(sl) }),
        ...(tp === "-" ? {} : { takeProfit: Number(tp) }),
      });
      return `🛡 Protected ${tradeLine(t)}`;
    });
  });

  feature.command("modify", (ctx) =>
    run(ctx, async () => {
      const { tradeId, ...changes } = parseModify(ctx.match);
      const t = await trading.modifyTrade(await caller(ctx), tradeId, changes);
      return `✏️ Modified ${tradeLine(t)}`;
    }),
  );

  feature.command("close", (ctx) =>
    run(ctx, async () => {
      const target = parseClose(ctx.match);
      const c = await caller(ctx);
      if ("all" in target) {
        const open = await trading.listTrades(c.userId, { limit: 100, status: "open" });
        if (open.length === 0) return "You have no open trades.";
        await ctx.reply(`Close all ${open.length} open trade(s)?`, {
          reply_markup: new InlineKeyboard()
            .text("Yes, close all", "close:all")
            .text("Cancel", "close:cancel"),
        });
        return "Waiting for your confirmation.";
      }
      const t = (await trading.listTrades(c.userId, { limit: 100, status: "open" })).find(
        (x) => x.id === target.tradeId,
      );
      if (!t) return `No open trade #${target.tradeId}. /trades lists your trades.`;
      await ctx.reply(`Close ${tradeLine(t)}?`, {
        reply_markup: new InlineKeyboard()
          .text("Yes, close it", `close:${t.id}`)
          .text("Cancel", "close:cancel"),
      });
      return "Waiting for your confirmation.";
    }),
  );

  feature.callbackQuery("close:cancel", async (ctx) => {
    await ctx.answerCallbackQuery({ text: "Cancelled." });
    await ctx.deleteMessage().catch(() => {});
  });

  feature.callbackQuery(/^close:(all|\d{1,19})$/, async (ctx) => {
    await ctx.answerCallbackQuery();
    await ctx.editMessageReplyMarkup().catch(() => {});
    const c = await caller(ctx);
    await run(ctx, async () => {
      if (ctx.match[1] === "all") {
        const results = await trading.closeAll(c);
        return (
          results
            .map((r) => (r.ok ? `✅ Closed #${r.id}` : `❌ #${r.id}: ${r.message}`))
            .join("\n") || "Nothing to close."
        );
      }
      const t = await trading.closeTrade(c, ctx.match[1]!);
      return `✅ Closed ${tradeLine(t)}`;
    });
  });

  feature.command("trades", (ctx) =>
    run(ctx, async () => {
      const list = await trading.listTrades((await caller(ctx)).userId, { limit: 20 });
      return list.length
        ? ["Your last trades:", ...list.map(tradeLine)].join("\n")
        : "No trades yet. /open places one.";
    }),
  );

  feature.command(["positions", "balance"], (ctx) =>
    run(ctx, async () => {
      const portfolio = await trading.portfolio((await caller(ctx)).userId);
      if (portfolio.length === 0) return "Connect a key first: /connect.";
      const wantPositions = ctx.message?.text?.startsWith("/positions") ?? true;
      const lines: string[] = [];
      for (const p of portfolio) {
        lines.push(
          `${p.testnet ? "🧪 " : ""}${venueLabel(p.venue, p.testnet)} (key #${p.credentialId}):`,
        );
        if (p.error) {
          lines.push(`  ${p.error}`);
        } else if (wantPositions) {
          if (!p.positions?.length) lines.push("  no open positions");
          for (const pos of p.positions ?? []) {
            lines.push(
              `  ${pos.side} ${fmt(pos.size)} ${pos.symbol} @ ${fmt(pos.entryPrice)}, mark ${fmt(pos.markPrice)}, PnL ${fmt(pos.unrealizedPnl)}`,
            );
          }
        } else {
          for (const b of p.balances ?? [])
            lines.push(`  ${fmt(b.total)} ${b.currency} (free ${fmt(b.free)})`);
        }
      }
      return lines.join("\n");
    }),
  );

  feature.command("audit", (ctx) =>
    run(ctx, async () => {
      const entries = await deps.recentAudit((await caller(ctx)).userId, 20);
      if (entries.length === 0) return "Your audit log is empty.";
      return [
        "Your last audit entries (newest first):",
        ...entries.map(
          (e) =>
            `${e.occurredAt.toISOString().slice(0, 19).replace("T", " ")} ${e.action} ${e.symbol} on ${e.venue}${e.tradeId ? ` #${e.tradeId}` : ""} — ${e.outcome} (${e.source})`,
        ),
      ].join("\n");
    }),
  );

  return feature;
}
