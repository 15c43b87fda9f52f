// The trader's cockpit without the venue (issue 19): notification settings and the notifier of
// trade notices, reports, the ledger and the daily summaries, all read from Warden's own
// records. Nothing here decrypts an exchange key, so the api, bot and worker processes hold it;
// ./cockpit.ts adds what asks the venue (quotes, reconciliation, paper triggers, open recovery).
import type { MikroORM } from "@mikro-orm/postgresql";
import type { Queue } from "bullmq";
import type { EmailOutbox } from "./domain/accounts/email";
import { createSettingsNotifier, runDailySummaries } from "./domain/notifications";
import { type TradeNoticeDeps, withTradeNotices } from "./domain/trading/trade-notices";
import type { Trading } from "./domain/trading/trading";
import type { TradingStore } from "./domain/trading/types";
import { createCockpitStore } from "./infra/cockpit-store";
import { createDailySummaryStore } from "./infra/daily-summary-store";
import { preparedSqlOf } from "./infra/database";
import { createLiquidationWarningStore } from "./infra/liquidation-warning-store";
import { createNotificationSettingsStore } from "./infra/notification-settings-store";
import { createTradeHistoryStore } from "./infra/trade-history-store";

export interface CockpitRecordsParts {
  orm: MikroORM;
  tradingStore: TradingStore;
  alertsQueue: Queue;
  /** The email channel of trade notices; without it, notices go by Telegram and web only. */
  emailOutbox?: EmailOutbox;
  /** The web channel: a push to the user's open sockets. */
  webPush?: (userId: string, event: object) => Promise<void>;
  now?: () => number;
  /** Where a notice that could not be queued after a trade action is reported. */
  onNoticeError?: (err: unknown) => void;
  /** The process log's warnings (a notice not queued, an open intent kept for attention). */
  warn?: (fields: Record<string, unknown>, message: string) => void;
}

export function createCockpitRecords(parts: CockpitRecordsParts) {
  const sql = preparedSqlOf(parts.orm);
  const store = createCockpitStore(sql);
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
  };
}

export type CockpitRecords = ReturnType<typeof createCockpitRecords>;
