// /profit [days], /daily [n], /weekly [n], /monthly [n] and /performance: the P&L ledger as
// freqtrade users know it, computed by src/domain/reports.
import { Composer } from "grammy";
import type { AccountService } from "../../domain/accounts/service";
import {
  type LedgerStore,
  type PeriodUnit,
  performanceReport,
  periodReport,
  periodSince,
  profitReport,
} from "../../domain/reports";
import { money } from "../../domain/trading/pre-trade-rules";
import type { BotContext } from "../context";

const signed = (n: number) => `${n < 0 ? "−" : "+"}${money(Math.abs(n))}`;

function duration(ms: number): string {
  const m = Math.round(ms / 60_000);
  return m < 60
    ? `${m}m`
    : m < 2880
      ? `${Math.floor(m / 60)}h ${m % 60}m`
      : `${Math.floor(m / 1440)}d`;
}

export function reportsFeature(deps: {
  accounts: AccountService;
  ledger: LedgerStore;
  now?: () => number;
}): Composer<BotContext> {
  const now = deps.now ?? Date.now;
  const feature = new Composer<BotContext>();
  const userOf = async (ctx: BotContext) =>
    (await deps.accounts.ensureTelegramAccount(ctx.from!.id)).user.id;

  /** An optional count argument: 1..max, or the usage. */
  const count = (arg: string, def: number, max: number, usage: string): number | string => {
    const a = arg.trim();
    if (a === "") return def;
    if (!/^\d{1,4}$/.test(a) || Number(a) < 1 || Number(a) > max)
      return `The number must be 1–${max}, got \`${a.slice(0, 10)}\`.\n${usage}`;
    return Number(a);
  };

  feature.command("profit", async (ctx) => {
    const days = count(ctx.match, 0, 3650, "Usage: /profit [days] — e.g. /profit 30");
    if (typeof days === "string") return void (await ctx.reply(days));
    const since = days ? new Date(now() - Number(days) * 86_400_000) : null;
    const r = profitReport(await deps.ledger.closedTrades(await userOf(ctx), since));
    if (r.trades === 0) return void (await ctx.reply("No closed trades yet."));
    await ctx.reply(
      [
        `Profit${days ? ` (last ${days} days)` : ""}: ${r.trades} closed trade(s)`,
        `Realised P&L: ${signed(r.realizedPnl)} (fees ${money(r.fees)})`,
        `Win rate: ${((r.winRate ?? 0) * 100).toFixed(1)} % (${r.wins} won, ${r.losses} lost)`,
        `Best: #${r.best!.id} ${r.best!.symbol} ${signed(r.best!.pnl)} · worst: #${r.worst!.id} ${r.worst!.symbol} ${signed(r.worst!.pnl)}`,
        `Average duration: ${duration(r.averageDurationMs ?? 0)} · profit factor: ${r.profitFactor === null ? "—" : r.profitFactor.toFixed(2)}`,
      ].join("\n"),
    );
  });

  const periods: Array<[string, PeriodUnit, number, number]> = [
    ["daily", "day", 7, 90],
    ["weekly", "week", 8, 52],
    ["monthly", "month", 6, 36],
  ];
  for (const [command, unit, def, max] of periods) {
    feature.command(command, async (ctx) => {
      const n = count(ctx.match, def, max, `Usage: /${command} [n] — e.g. /${command} ${def}`);
      if (typeof n === "string") return void (await ctx.reply(n));
      const at = new Date(now());
      const rows = await deps.ledger.closedTrades(await userOf(ctx), periodSince(unit, n, at));
      const table = periodReport(rows, unit, n, at);
      await ctx.reply(
        [
          `${command[0]!.toUpperCase()}${command.slice(1)} P&L (UTC):`,
          ...table.map((p) => `${p.period}  ${signed(p.realizedPnl)}  ${p.trades} trade(s)`),
        ].join("\n"),
      );
    });
  }

  feature.command("performance", async (ctx) => {
    const rows = performanceReport(await deps.ledger.closedTrades(await userOf(ctx), null));
    if (rows.length === 0) return void (await ctx.reply("No closed trades yet."));
    await ctx.reply(
      [
        "Performance per market:",
        ...rows.map(
          (r, i) =>
            `${i + 1}. ${r.symbol}  ${signed(r.realizedPnl)}  ${r.trades} trade(s), ${(r.winRate * 100).toFixed(0)} % won`,
        ),
      ].join("\n"),
    );
  });

  return feature;
}
