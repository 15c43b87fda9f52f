// Composition of the trader's cockpit (pre-trade quotes, paper triggers, reconciliation,
// notifications, reports) from the adapters the composition root already built.
import type { MikroORM } from "@mikro-orm/postgresql";
import type { Queue } from "bullmq";
import type { EmailOutbox } from "./domain/accounts/email";
import { createSettingsNotifier, runDailySummaries } from "./domain/notifications";
import { recoverOpens } from "./domain/trading/open-recovery";
import { partialClose } from "./domain/trading/partial-close";
import { quoteOrder } from "./domain/trading/pre-trade";
import type { OrderRequest } from "./domain/trading/pre-trade-rules";
import { type ReconcileResult, reconcileCredential } from "./domain/trading/reconcile";
import { type TradeNoticeDeps, withTradeNotices } from "./domain/trading/trade-notices";
import type { Trading } from "./domain/trading/trading";
import type { TradeRecord, TradingStore } from "./domain/trading/types";
import type { ExchangeKeyRing } from "./domain/vault/key-ring";
import type { PaperPriceFeed } from "./domain/venues/paper";
import { firePaperTriggers } from "./domain/venues/paper-triggers";
import type { Venue, VenueId } from "./domain/venues/types";
import { createCockpitStore } from "./infra/cockpit-store";
import { createCredentialsRepo } from "./infra/credentials-repo";
import { createDailySummaryStore } from "./infra/daily-summary-store";
import { preparedSqlOf } from "./infra/database";
import { createLiquidationWarningStore } from "./infra/liquidation-warning-store";
import { createNotificationSettingsStore } from "./infra/notification-settings-store";
import { createTradeHistoryStore } from "./infra/trade-history-store";
import { createPaperStore } from "./infra/venues/paper-store";

export function createCockpit(parts: {
  orm: MikroORM;
  keyRing: ExchangeKeyRing;
  venues: Record<VenueId, Venue>;
  tradingStore: TradingStore;
  alertsQueue: Queue;
  /** The email channel of trade notices; without it, notices go by Telegram and web only. */
  emailOutbox?: EmailOutbox;
  /** The web channel: a push to the user's open sockets. */
  webPush?: (userId: string, event: object) => Promise<void>;
  now?: () => number;
  /** Live paper prices (PAPER_PRICES=ticker), for the trigger scan as for the paper venue. */
  paperPrices?: PaperPriceFeed;
  /** Where a notice that could not be queued after a trade action is reported. */
  onNoticeError?: (err: unknown) => void;
  /** The process log's warnings (a notice not queued, an open intent kept for attention). */
  warn?: (fields: Record<string, unknown>, message: string) => void;
}) {
  const sql = preparedSqlOf(parts.orm);
  const store = createCockpitStore(sql);
  const credentials = createCredentialsRepo(sql);
  const notificationSettings = createNotificationSettingsStore(sql);
  const dailySummary = createDailySummaryStore(sql);
  const liquidationWarnings = createLiquidationWarningStore(sql);
  // Per the user's notification settings: each event on or off, on the channels they chose.
  const notifier = createSettingsNotifier({
    settings: notificationSettings,
    contactOf: notificationSettings.contactOf,
    telegram: async (chatId, text) => {
      await parts.alertsQueue.add("notice", { chatId, text });
    },
    email: parts.emailOutbox,
    web: parts.webPush,
  });
  const reconcileDeps = {
    keyRing: parts.keyRing,
    venues: parts.venues,
    store: parts.tradingStore,
    openTradesOf: store.openTradesOf,
    notifier,
    liquidationWarnings,
  };

  async function reconcileKey(
    userId: string,
    credentialId: string,
  ): Promise<ReconcileResult | null> {
    const c = await credentials.get(userId, credentialId);
    if (!c || c.revokedAt || c.disabledAt) return null;
    return reconcileCredential(reconcileDeps, c);
  }

  return {
    store,
    settings: store.settings,
    ledger: store.ledger,
    notifier,
    notificationSettings,
    liquidationWarnings,
    /** The trading use cases with their notices (entry, partial fill, SL/TP moved). */
    withNotices: (trading: Trading, claim?: TradeNoticeDeps["claim"]): Trading =>
      withTradeNotices(trading, {
        notifier,
        getTrade: parts.tradingStore.getTrade,
        onError:
          parts.onNoticeError ??
          ((err) => parts.warn?.({ err }, "a trade notice could not be queued")),
        claim,
      }),
    tradeHistory: createTradeHistoryStore(sql),
    dailySummary,
    /** Sends every daily summary whose hour has come and that was not sent today. */
    dailySummaries: () =>
      runDailySummaries({
        store: dailySummary,
        ledger: store.ledger,
        notify: notifier.notify,
        now: parts.now ?? Date.now,
      }),
    quote: (userId: string, req: OrderRequest) =>
      quoteOrder(
        {
          keyRing: parts.keyRing,
          venues: parts.venues,
          credentials: (u) => credentials.list(u),
          settings: store.settings,
        },
        userId,
        req,
      ),
    /** What closing a share of a trade sends, on its market's lot step (nothing is sent). */
    partialClose: (t: TradeRecord, percent: number) =>
      partialClose(
        {
          keyRing: parts.keyRing,
          venues: parts.venues,
          credentials: (u) => credentials.list(u),
        },
        t,
        percent,
      ),
    reconcileKey,
    /** One run over every usable key; a venue that fails is skipped until the next run. */
    async reconcileAll() {
      let closed = 0;
      let failed = 0;
      for (const k of await store.activeKeys()) {
        try {
          closed += (await reconcileKey(k.userId, k.credentialId))?.closed.length ?? 0;
        } catch {
          failed++;
        }
      }
      return { closed, failed };
    },
    /** Opens that reached the venue but not the database: recorded from the venue, or freed. */
    recoverOpens: () =>
      recoverOpens({
        store: parts.tradingStore,
        keyRing: parts.keyRing,
        venues: parts.venues,
        credential: (userId, credentialId) => credentials.get(userId, credentialId),
        notifier,
        warn: (message, fields) => parts.warn?.(fields, message),
      }),
    /** Fires crossed paper stops, then records each close through reconciliation. */
    async paperTriggers() {
      const fired = await firePaperTriggers(createPaperStore(sql), parts.now, parts.paperPrices);
      for (const account of new Set(fired.map((f) => f.account))) {
        const key = await store.paperKey(account);
        if (key) await reconcileKey(key.userId, key.credentialId);
      }
      return { fired: fired.length };
    },
  };
}

export type Cockpit = ReturnType<typeof createCockpit>;
