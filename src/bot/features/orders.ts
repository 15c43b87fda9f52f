// /open with a confirmation (the order as it will be sent, Confirm / Cancel buttons that expire
// after 60 s, work once, and only for that user and that message), /positions (alias /status)
// with live P&L and buttons, and /close <#id|symbol|all> [percent].
import { randomBytes } from "node:crypto";
import { Composer, InlineKeyboard } from "grammy";
import type { Redis } from "ioredis";
import type { AccountService } from "../../domain/accounts/service";
import type { PartialClose } from "../../domain/trading/partial-close";
import {
  amount,
  liquidationEstimate,
  money,
  type OrderQuote,
  type OrderRequest,
  PreTradeError,
  quoteText,
  type TradingSettingsStore,
} from "../../domain/trading/pre-trade-rules";
import type { ReconcileResult } from "../../domain/trading/reconcile";
import { coinOf, displaySymbol, settleOf } from "../../domain/trading/symbols";
import type { Trading } from "../../domain/trading/trading";
import { type Caller, type TradeRecord, TradingError } from "../../domain/trading/types";
import { VENUE_NAMES } from "../../domain/venues/key-records";
import type { Position } from "../../domain/venues/types";
import type { BotContext } from "../context";
import { parseOrder } from "../order-command";
import { UsageError } from "../trade-commands";
import { requestKeyOf } from "./trading";

export const ORDER_CONFIRM_TTL_SECONDS = 60;

export interface OrdersFeatureDeps {
  accounts: AccountService;
  trading: Trading;
  quote: (userId: string, req: OrderRequest) => Promise<OrderQuote>;
  /** A share of a trade on its market's lot step (src/domain/trading/partial-close.ts). */
  partialClose: (t: TradeRecord, percent: number) => Promise<PartialClose>;
  settings: TradingSettingsStore;
  reconcileKey: (userId: string, credentialId: string) => Promise<ReconcileResult | null>;
  /**
   * A confirmed order: its pre-trade checks again (the price has moved), then the open; with a
   * separate signer both happen there. Without it, `quote` then `trading.openTrade`.
   */
  placeOrder?: (
    caller: Caller,
    order: OrderRequest,
    idempotencyKey: string,
  ) => Promise<TradeRecord>;
  keyLabels: (userId: string) => Promise<Map<string, string>>;
  redis: Redis;
  now?: () => number;
}

interface PendingOrder {
  userId: string;
  messageId: number;
  order: OrderRequest & { credentialId: string };
}

/** Where a pending order waits: per Telegram user, so another user's press finds nothing. */
export const orderKey = (telegramUserId: number, token: string) =>
  `bot:order:${telegramUserId}:${token}`;

const sign = (n: number) => (n < 0 ? "−" : "+");

function age(ms: number): string {
  const m = Math.max(0, Math.floor(ms / 60_000));
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  return h < 48 ? `${h}h ${m % 60}m` : `${Math.floor(h / 24)}d ${h % 24}h`;
}

export function positionLines(
  t: TradeRecord,
  p: Position | undefined,
  keyLabel: string,
  nowMs: number,
): string[] {
  const cur = settleOf(t.symbol);
  const entry = p?.entryPrice ?? t.entryPrice ?? 0;
  const size = p?.size ?? t.size;
  const mark = p?.markPrice ?? null;
  const pnl =
    p?.unrealizedPnl ??
    (mark === null ? null : (mark - entry) * size * (t.side === "long" ? 1 : -1));
  const pct = pnl !== null && entry > 0 ? (pnl / (entry * size)) * 100 : null;
  const lev = p?.leverage ?? t.leverage ?? 1;
  const liq =
    p?.liquidationPrice ?? (lev > 1 ? liquidationEstimate(t.side, entry, lev, 0.005) : null);
  const sl = p?.stopLoss !== undefined ? p.stopLoss : t.stopLoss;
  const tp = p?.takeProfit !== undefined ? p.takeProfit : t.takeProfit;
  return [
    `#${t.id} ${displaySymbol(t.symbol)} ${t.side} ${amount(size)} · ${VENUE_NAMES[t.venue]} ${keyLabel}`,
    `  Entry ${amount(entry)} · mark ${mark === null ? "—" : amount(mark)} · P&L ${
      pnl === null ? "—" : `${sign(pnl)}${money(Math.abs(pnl))} ${cur}`
    }${pct === null ? "" : ` (${sign(pct)}${money(Math.abs(pct))} %)`}`,
    `  SL ${sl ? amount(sl) : "—"} · TP ${tp ? amount(tp) : "—"} · liq ${
      liq === null ? "—" : amount(Number(liq.toPrecision(8)))
    } · ${lev}x · ${age(nowMs - t.openedAt.getTime())}`,
  ];
}

export function ordersFeature(deps: OrdersFeatureDeps): Composer<BotContext> {
  const { accounts, trading, redis } = deps;
  const now = deps.now ?? Date.now;
  const feature = new Composer<BotContext>();

  const caller = async (ctx: BotContext): Promise<Caller> => {
    const { user } = await accounts.ensureTelegramAccount(ctx.from!.id);
    return { userId: user.id, source: "telegram", ip: null, requestKey: requestKeyOf(ctx) };
  };

  async function answer(ctx: BotContext, fn: () => Promise<string | null>) {
    try {
      const text = await fn();
      if (text) await ctx.reply(text);
    } catch (err) {
      if (err instanceof UsageError || err instanceof TradingError || err instanceof PreTradeError)
        return void (await ctx.reply(
          err instanceof PreTradeError ? `❌ Not sent: ${err.message}` : err.message,
        ));
      throw err;
    }
  }

  async function send(
    ctx: BotContext,
    userId: string,
    order: PendingOrder["order"],
    key: string,
    checked: boolean,
  ) {
    const c: Caller = { userId, source: "telegram", ip: null, requestKey: key };
    const t =
      !checked && deps.placeOrder
        ? await deps.placeOrder(c, order, key)
        : await trading.openTrade(c, {
            credentialId: order.credentialId,
            symbol: order.symbol,
            side: order.side,
            size: order.size.value,
            leverage: order.leverage,
            stopLoss: order.stopLoss,
            takeProfit: order.takeProfit,
            idempotencyKey: key,
          });
    const cur = settleOf(t.symbol);
    await ctx.reply(
      `✅ Opened #${t.id}: ${t.side} ${amount(t.size)} ${displaySymbol(t.symbol)} at ${amount(t.entryPrice ?? 0)} (${money(t.size * (t.entryPrice ?? 0))} ${cur})`,
    );
  }

  feature.command("open", (ctx) =>
    answer(ctx, async () => {
      const cmd = parseOrder(ctx.match);
      const c = await caller(ctx);
      await trading.assertNotPaused(c, "open");
      const q = await deps.quote(c.userId, cmd);
      // What is confirmed is the quoted base size on the resolved market and key.
      const order: PendingOrder["order"] = {
        ...cmd,
        credentialId: q.credentialId,
        symbol: q.symbol,
        size: { kind: "base", value: q.size },
        leverage: q.leverage,
      };
      const { confirmBelowNotional } = await deps.settings.get(c.userId);
      if (confirmBelowNotional !== null && q.notional < confirmBelowNotional) {
        await send(ctx, c.userId, order, `tg:${ctx.update.update_id}`, true);
        return null;
      }
      const token = randomBytes(12).toString("base64url");
      const msg = await ctx.reply(`Send this order?\n${quoteText(q)}\n\nExpires in 60 s.`, {
        reply_markup: new InlineKeyboard()
          .text("✅ Confirm", `order:ok:${token}`)
          .text("Cancel", `order:no:${token}`),
      });
      const pending: PendingOrder = { userId: c.userId, messageId: msg.message_id, order };
      await redis.set(
        orderKey(ctx.from!.id, token),
        JSON.stringify(pending),
        "EX",
        ORDER_CONFIRM_TTL_SECONDS,
      );
      return null;
    }),
  );

  feature.callbackQuery(/^order:(ok|no):([A-Za-z0-9_-]{16})$/, async (ctx) => {
    const [, verb, token] = ctx.match;
    // GETDEL: a confirmation works once, even when pressed twice at the same moment.
    const raw = await redis.getdel(orderKey(ctx.from.id, token!));
    const pending = raw ? (JSON.parse(raw) as PendingOrder) : null;
    const messageId = ctx.callbackQuery.message?.message_id;
    if (!pending || pending.messageId !== messageId) {
      await ctx.answerCallbackQuery({ text: "This confirmation has expired or is not yours." });
      await ctx.editMessageReplyMarkup().catch(() => {});
      return;
    }
    await ctx.answerCallbackQuery();
    await ctx.editMessageReplyMarkup().catch(() => {});
    if (verb === "no") return void (await ctx.reply("Cancelled: nothing was sent."));
    const c = await caller(ctx);
    if (c.userId !== pending.userId) {
      return void (await ctx.reply("This confirmation is not yours: nothing was sent."));
    }
    await answer(ctx, async () => {
      // The rules again at the current price: a minute can move the mark and the margin.
      if (!deps.placeOrder) await deps.quote(c.userId, pending.order);
      await send(ctx, c.userId, pending.order, `tg-order:${token}`, !deps.placeOrder);
      return null;
    });
  });

  async function listPositions(ctx: BotContext) {
    const c = await caller(ctx);
    const labels = await deps.keyLabels(c.userId);
    const externals: string[] = [];
    for (const id of labels.keys()) {
      try {
        const r = await deps.reconcileKey(c.userId, id);
        for (const p of r?.external ?? []) {
          externals.push(
            `⚠️ external ${displaySymbol(p.symbol)} ${p.side} ${amount(p.size)} on key ${labels.get(id)} (opened outside Warden; not managed)`,
          );
        }
      } catch (err) {
        if (!(err instanceof Error)) throw err;
      }
    }
    const open = await trading.listTrades(c.userId, { limit: 100, status: "open" });
    const portfolio = await trading.portfolio(c.userId);
    const lines: string[] = [];
    const kb = new InlineKeyboard();
    for (const t of [...open].reverse()) {
      const entry = portfolio.find((p) => p.credentialId === t.credentialId);
      const pos = entry?.positions?.find((p) => coinOf(p.symbol) === coinOf(t.symbol));
      lines.push(
        ...positionLines(t, pos, labels.get(t.credentialId) ?? `#${t.credentialId}`, now()),
      );
      kb.text(`Close #${t.id}`, `pos:close:${t.id}`)
        .text("½", `pos:half:${t.id}`)
        .text("SL→entry", `pos:be:${t.id}`)
        .text("SL/TP", `pos:edit:${t.id}`)
        .row();
    }
    for (const p of portfolio)
      if (p.error) lines.push(`${VENUE_NAMES[p.venue]} key #${p.credentialId}: ${p.error}`);
    lines.push(...externals);
    if (lines.length === 0) return void (await ctx.reply("No open positions. /open places one."));
    await ctx.reply(lines.join("\n"), open.length ? { reply_markup: kb } : {});
  }

  feature.command(["positions", "status"], (ctx) =>
    answer(ctx, async () => {
      await listPositions(ctx);
      return null;
    }),
  );

  async function confirmClose(ctx: BotContext, t: TradeRecord, percent: number) {
    const what = percent === 100 ? "" : ` ${percent} % of`;
    await ctx.reply(
      `Close${what} #${t.id} ${displaySymbol(t.symbol)} ${t.side} ${amount(t.size)}?`,
      {
        reply_markup: new InlineKeyboard()
          .text("Yes, close", percent === 100 ? `close:${t.id}` : `pclose:${t.id}:${percent}`)
          .text("Cancel", "close:cancel"),
      },
    );
  }

  feature.command("close", (ctx) =>
    answer(ctx, async () => {
      const usage =
        "Usage: /close <#id|symbol|all> [percent]\nExamples: /close #12 · /close btc 50 · /close all";
      const [target, pctRaw, extra] = ctx.match.trim().split(/\s+/).filter(Boolean);
      if (!target || extra) throw new UsageError(usage);
      let percent = 100;
      if (pctRaw !== undefined) {
        const p = Number(pctRaw.replace(/%$/, ""));
        if (!/^\d{1,3}%?$/.test(pctRaw) || p < 1 || p > 100)
          throw new UsageError(
            `The percent must be 1–100, got \`${pctRaw.slice(0, 10)}\`.\n\n${usage}`,
          );
        percent = p;
      }
      const c = await caller(ctx);
      const open = await trading.listTrades(c.userId, { limit: 100, status: "open" });
      if (target.toLowerCase() === "all") {
        if (percent !== 100) throw new UsageError(`/close all closes whole positions.\n\n${usage}`);
        if (open.length === 0) return "You have no open trades.";
        await ctx.reply(`Close all ${open.length} open trade(s)?`, {
          reply_markup: new InlineKeyboard()
            .text("Yes, close all", "close:all")
            .text("Cancel", "close:cancel"),
        });
        return "Waiting for your confirmation.";
      }
      let matches: TradeRecord[];
      if (/^#?\d{1,19}$/.test(target)) {
        matches = open.filter((t) => t.id === target.replace(/^#/, ""));
        if (!matches.length)
          return `No open trade ${target.startsWith("#") ? target : `#${target}`}. /positions lists them.`;
      } else {
        const coin = coinOf(target);
        if (!coin) throw new UsageError(usage);
        matches = open.filter((t) => coinOf(t.symbol) === coin);
        if (!matches.length) return `No open ${coin}-PERP trade. /positions lists them.`;
        if (matches.length > 1)
          return `${matches.length} open ${coin}-PERP trades (${matches.map((t) => `#${t.id}`).join(", ")}): close one by its id.`;
      }
      await confirmClose(ctx, matches[0]!, percent);
      return "Waiting for your confirmation.";
    }),
  );

  feature.callbackQuery(/^pclose:(\d{1,19}):(\d{1,3})$/, async (ctx) => {
    await ctx.answerCallbackQuery();
    await ctx.editMessageReplyMarkup().catch(() => {});
    await answer(ctx, async () => {
      const c = await caller(ctx);
      const t = (await trading.listTrades(c.userId, { limit: 100, status: "open" })).find(
        (x) => x.id === ctx.match[1],
      );
      if (!t) return `Trade #${ctx.match[1]} is no longer open.`;
      const part = await deps.partialClose(t, Number(ctx.match[2]));
      if (!part.ok) {
        return part.error === "nothing_left"
          ? `${part.message} Use /close #${t.id}.`
          : part.message;
      }
      const u = await trading.modifyTrade(c, t.id, { size: part.size });
      return `✅ Reduced #${u.id} ${displaySymbol(u.symbol)} to ${amount(u.size)}.`;
    });
  });

  feature.callbackQuery(/^pos:(close|half|be|edit):(\d{1,19})$/, async (ctx) => {
    await ctx.answerCallbackQuery();
    const [, action, id] = ctx.match;
    await answer(ctx, async () => {
      const c = await caller(ctx);
      const t = (await trading.listTrades(c.userId, { limit: 100, status: "open" })).find(
        (x) => x.id === id,
      );
      if (!t) return `Trade #${id} is no longer open.`;
      if (action === "close" || action === "half") {
        await confirmClose(ctx, t, action === "close" ? 100 : 50);
        return null;
      }
      if (action === "edit")
        return `Change the stops of #${t.id} with /modify ${t.id} sl=<price|none> tp=<price|none>`;
      const u = await trading.modifyTrade(c, t.id, { stopLoss: t.entryPrice });
      return `✏️ #${u.id} stop-loss moved to the entry, ${amount(u.stopLoss ?? 0)}.`;
    });
  });

  return feature;
}
