// Reconciliation: Warden's open trades of one key against the venue's positions. A trade whose
// position is gone at the venue (a stop, a liquidation, a close in the exchange's app) becomes a
// closed trade with the venue's exit, fees and realised P&L, audited with actor `venue`, and
// the user is told. A position Warden did not open is reported as external, never adopted.
import { withDecryptedExchangeKeys } from "../vault/decrypt-scope";
import type { ExchangeKeyRing } from "../vault/key-ring";
import { type CredentialRecord, VENUE_NAMES } from "../venues/key-records";
import type { Position, Venue, VenueClose, VenueId } from "../venues/types";
import { VenueError } from "../venues/types";
import { type LiquidationWarningStore, warnNearLiquidation } from "./liquidation-warnings";
import { money } from "./pre-trade-rules";
import { coinOf, displaySymbol, settleOf } from "./symbols";
import { type CloseLedger, closeLedger, type TradeRecord, type TradingStore } from "./types";

export type TradeEvent =
  | "entry"
  | "exit"
  | "stop_loss"
  | "take_profit"
  | "liquidation"
  | "partial_fill"
  | "sl_tp_moved"
  | "liquidation_warning";

export interface Notifier {
  /**
   * Hands one message for the user to the outbox (per their notification settings);
   * `skipTelegram` when the user is already answered there (they acted in the bot).
   */
  notify(
    userId: string,
    event: TradeEvent,
    text: string,
    opts?: { skipTelegram?: boolean },
  ): Promise<void>;
}

export interface ReconcileDeps {
  keyRing: ExchangeKeyRing;
  venues: Record<VenueId, Venue>;
  store: Pick<TradingStore, "recordChange" | "listTrades">;
  /** Open trades opened through this key. */
  openTradesOf: (credentialId: string) => Promise<TradeRecord[]>;
  notifier: Notifier;
  /** When given, open trades near their liquidation price are warned (once per crossing). */
  liquidationWarnings?: LiquidationWarningStore;
}

export interface ReconcileResult {
  closed: TradeRecord[];
  external: Position[];
}

/** Where the venue closed by hand or for an untold reason: "Closed at Binance". */
const closedAt = (venue: VenueId) => `Closed at ${VENUE_NAMES[venue].replace(/ USD-M$/, "")}`;

const REASON_TITLE: Record<CloseLedger["closeReason"], (venue: VenueId) => string> = {
  stop_loss: () => "Stop loss hit",
  take_profit: () => "Take profit hit",
  liquidation: () => "Liquidated",
  manual: closedAt,
  closed_at_venue: closedAt,
  venue: closedAt,
};

const EVENT_OF: Record<CloseLedger["closeReason"], TradeEvent> = {
  stop_loss: "stop_loss",
  take_profit: "take_profit",
  liquidation: "liquidation",
  manual: "exit",
  closed_at_venue: "exit",
  venue: "exit",
};

/** "Stop loss hit: #12 BTC-PERP long closed at 64,000 — −85.20 USDT (−1.3 %)". */
export function closeNotice(t: TradeRecord, ledger: CloseLedger, exit: number | null): string {
  const cur = settleOf(t.symbol);
  const pnl = ledger.realizedPnl;
  const cost = t.entryPrice === null ? 0 : t.entryPrice * t.size;
  const pct = pnl !== null && cost > 0 ? (pnl / cost) * 100 : null;
  const sign = (n: number) => (n < 0 ? "−" : "+");
  const result =
    pnl === null
      ? ""
      : ` — ${sign(pnl)}${money(Math.abs(pnl))} ${cur}${pct === null ? "" : ` (${sign(pct)}${Math.abs(pct).toFixed(1)} %)`}`;
  const at =
    exit === null ? "" : ` at ${exit.toLocaleString("en-US", { maximumFractionDigits: 8 })}`;
  return `${REASON_TITLE[ledger.closeReason](t.venue)}: #${t.id} ${displaySymbol(t.symbol)} ${t.side} closed${at}${result}`;
}

/**
 * The ledger of a close the venue made: its fills' commissions (entry and exit) as fees, the
 * funding it reports, and the realised P&L net of both. Without fills, the mark and no fees.
 */
export function venueLedger(
  t: Pick<TradeRecord, "side" | "size" | "entryPrice">,
  exit: number | null,
  vc: VenueClose | null,
): CloseLedger {
  const base = closeLedger(t, exit, vc?.fee ?? 0, vc?.reason ?? "venue");
  const funding = vc?.funding ?? null;
  if (funding === null || base.realizedPnl === null) return base;
  return {
    ...base,
    funding,
    realizedPnl: Math.round((base.realizedPnl + funding) * 1e8) / 1e8,
  };
}

export async function reconcileCredential(
  deps: ReconcileDeps,
  c: CredentialRecord,
): Promise<ReconcileResult> {
  const venue = deps.venues[c.venue];
  const trades = await deps.openTradesOf(c.id);
  const { positions, closes, marks } = await withDecryptedExchangeKeys(
    deps.keyRing,
    c.encrypted,
    async (keys) => {
      const positions = await venue.positions(keys);
      const held = new Set(positions.map((p) => coinOf(p.symbol)));
      const closes = new Map<string, VenueClose | null>();
      const marks = new Map<string, number | null>();
      for (const t of trades) {
        if (held.has(coinOf(t.symbol))) continue;
        closes.set(t.id, (await venue.lastClose?.(keys, t.symbol, t.openedAt, t.side)) ?? null);
        if (!closes.get(t.id) && venue.market) {
          // No fill history from this venue: the mark at the time the close was noticed.
          try {
            marks.set(t.id, (await venue.market(keys, t.symbol)).markPrice);
          } catch (err) {
            if (!(err instanceof VenueError)) throw err;
            marks.set(t.id, null);
          }
        }
      }
      return { positions, closes, marks };
    },
  );
  const closed: TradeRecord[] = [];
  for (const t of trades) {
    if (!closes.has(t.id)) continue;
    const vc = closes.get(t.id) ?? null;
    const exit = vc?.price ?? marks.get(t.id) ?? null;
    const ledger = venueLedger(t, exit, vc);
    let done: TradeRecord;
    try {
      done = await deps.store.recordChange(
        t.id,
        { status: "closed", exitPrice: exit, ...ledger },
        {
          userId: t.userId,
          action: "close",
          tradeId: t.id,
          venue: t.venue,
          symbol: t.symbol,
          details: {
            reason: ledger.closeReason,
            price: exit,
            size: vc?.size ?? t.size,
            fees: ledger.fees,
            realizedPnl: ledger.realizedPnl,
            funding: ledger.funding,
            exitFrom: vc ? "venue_fills" : "mark",
            ...(vc
              ? {}
              : {
                  exitNote:
                    exit === null
                      ? "The venue reported no fills for this close and no mark price: exit unknown."
                      : "The venue reported no fills for this close: exit taken at the mark price when the close was noticed.",
                }),
          },
          source: "venue",
          ip: null,
          outcome: "ok",
        },
      );
    } catch (err) {
      // Closed by Warden meanwhile: that close is the record.
      if (err instanceof Error && "code" in err && err.code === "trade_closed") continue;
      throw err;
    }
    closed.push(done);
    await deps.notifier.notify(
      t.userId,
      EVENT_OF[ledger.closeReason],
      closeNotice(t, ledger, exit),
    );
  }
  if (deps.liquidationWarnings) {
    const open = trades.filter((t) => !closes.has(t.id));
    await warnNearLiquidation(
      { store: deps.liquidationWarnings, notifier: deps.notifier },
      open,
      positions,
    );
  }
  const mine = new Set(trades.map((t) => coinOf(t.symbol)));
  const external = positions.filter((p) => !mine.has(coinOf(p.symbol)));
  return { closed, external };
}
