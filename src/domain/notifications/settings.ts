// Trade notification settings: per event (entry, partial fill, SL/TP moved, exit, stop loss,
// take profit, liquidation, liquidation warning, daily summary) on/off and the channels that carry it (Telegram, email, web). A user who never chose gets
// the defaults: every event on, by Telegram and in the web app, not by email.
import type { EmailOutbox } from "../accounts/email";
import type { Notifier, TradeEvent } from "../trading/reconcile";

export const NOTICE_EVENTS = [
  "entry",
  "partial_fill",
  "sl_tp_moved",
  "exit",
  "stop_loss",
  "take_profit",
  "liquidation",
  "liquidation_warning",
  "daily_summary",
] as const satisfies readonly (TradeEvent | "daily_summary")[];
export type NoticeEvent = (typeof NOTICE_EVENTS)[number];
export const NOTICE_CHANNELS = ["telegram", "email", "web"] as const;
export type NoticeChannel = (typeof NOTICE_CHANNELS)[number];

export interface EventSetting {
  enabled: boolean;
  telegram: boolean;
  email: boolean;
  web: boolean;
}
export type NotificationSettings = Record<NoticeEvent, EventSetting>;

export const DEFAULT_EVENT_SETTING: Readonly<EventSetting> = Object.freeze({
  enabled: true,
  telegram: true,
  email: false,
  web: true,
});

export const EVENT_TITLES: Record<NoticeEvent, string> = {
  entry: "Entries",
  partial_fill: "Partial fills",
  sl_tp_moved: "SL/TP moved",
  exit: "Exits",
  stop_loss: "Stop loss hit",
  take_profit: "Take profit hit",
  liquidation: "Liquidations",
  liquidation_warning: "Liquidation warnings",
  daily_summary: "Daily summary",
};

export const CHANNEL_TITLES: Record<NoticeChannel, string> = {
  telegram: "Telegram",
  email: "Email",
  web: "Web",
};

/** Every event on, except the daily summary, which a user asks for. */
export function defaultSettings(): NotificationSettings {
  const all = Object.fromEntries(
    NOTICE_EVENTS.map((e) => [e, { ...DEFAULT_EVENT_SETTING }]),
  ) as NotificationSettings;
  all.daily_summary.enabled = false;
  return all;
}

export interface NotificationSettingsStore {
  /** Every event's setting, the defaults where the user has not chosen. */
  get(userId: string): Promise<NotificationSettings>;
  set(userId: string, event: NoticeEvent, setting: EventSetting): Promise<void>;
}

export const isNoticeEvent = (v: string): v is NoticeEvent =>
  (NOTICE_EVENTS as readonly string[]).includes(v);

export class NotificationsError extends Error {
  constructor(
    readonly code: "no_email" | "no_telegram",
    message: string,
  ) {
    super(message);
    this.name = "NotificationsError";
  }
}

/**
 * Changes events' settings, keeping what the patch leaves out; returns the new settings. A
 * channel the account cannot be reached on (no email address, no Telegram) is refused rather
 * than saved, so a user never believes a notice will come that cannot.
 */
export async function updateSettings(
  store: NotificationSettingsStore,
  userId: string,
  patch: Partial<Record<NoticeEvent, Partial<EventSetting>>>,
  contact: { chatId: number | null; email: string | null },
): Promise<NotificationSettings> {
  const all = await store.get(userId);
  const changed: NoticeEvent[] = [];
  for (const event of NOTICE_EVENTS) {
    const p = patch[event];
    if (!p) continue;
    if (p.email === true && !all[event].email && contact.email === null)
      throw new NotificationsError(
        "no_email",
        "Your account has no email address: add one on the settings page first.",
      );
    if (p.telegram === true && !all[event].telegram && contact.chatId === null)
      throw new NotificationsError(
        "no_telegram",
        "Your account is not linked to Telegram: link it first.",
      );
    all[event] = { ...all[event], ...p };
    changed.push(event);
  }
  for (const event of changed) await store.set(userId, event, all[event]);
  return all;
}

/** The channels an event goes to: none when it is off. */
export function channelsFor(s: NotificationSettings, event: NoticeEvent): NoticeChannel[] {
  const e = s[event];
  if (!e.enabled) return [];
  return NOTICE_CHANNELS.filter((c) => e[c]);
}

export interface NoticeSenders {
  settings: NotificationSettingsStore;
  /** Where the user can be reached: their Telegram chat and account email, if any. */
  contactOf(userId: string): Promise<{ chatId: number | null; email: string | null }>;
  /** Queues one Telegram message (the alerts outbox and throttle). */
  telegram(chatId: number, text: string): Promise<void>;
  email?: EmailOutbox;
  web?: (userId: string, event: object) => Promise<void>;
}

/**
 * The notifier behind every trade notice: it reads the user's settings and hands the text to
 * each chosen channel that can reach them. A channel that fails does not stop the others; the
 * first failure is raised after all were tried, so the job is retried and the log shows it.
 */
export function createSettingsNotifier(deps: NoticeSenders): Notifier & {
  notify(
    userId: string,
    event: NoticeEvent,
    text: string,
    opts?: { skipTelegram?: boolean },
  ): Promise<void>;
} {
  return {
    async notify(userId: string, event: NoticeEvent, text: string, opts = {}) {
      const channels = channelsFor(await deps.settings.get(userId), event).filter(
        (c) => !(c === "telegram" && opts.skipTelegram === true),
      );
      if (channels.length === 0) return;
      const contact = await deps.contactOf(userId);
      const failures: unknown[] = [];
      const attempt = async (f: () => Promise<void>) => {
        try {
          await f();
        } catch (err) {
          failures.push(err);
        }
      };
      for (const c of channels) {
        if (c === "telegram" && contact.chatId !== null) {
          const chatId = contact.chatId;
          await attempt(() => deps.telegram(chatId, text.slice(0, 4000)));
        } else if (c === "email" && contact.email && deps.email) {
          const to = contact.email;
          const email = deps.email;
          await attempt(() => email.send({ to, subject: `Warden: ${EVENT_TITLES[event]}`, text }));
        } else if (c === "web" && deps.web) {
          const web = deps.web;
          await attempt(() => web(userId, { type: "trade_notice", event, text }));
        }
      }
      if (failures.length > 0) throw failures[0];
    },
  };
}
