// Alerts (S8.3): one alert per finding, deduplicated per (user, rule) for 30 minutes across
// processes, fanned out to the user's chosen channels and, in parallel, to every admin. Every
// attempt is logged; a hand-off that is repeated (a redelivered job) never sends twice.
import type { EmailMessage, EmailOutbox } from "../accounts/email";
import type { AnomalyRule } from "../anomaly";
import { type AdminView, type AnomalyRecord, adminAlertEmail, userAlertEmail } from "./messages";

export const CHANNELS = ["telegram", "email", "websocket"] as const;
export type Channel = (typeof CHANNELS)[number];
export type AlertPreferences = Record<Channel, boolean>;
export const DEFAULT_PREFERENCES: AlertPreferences = {
  telegram: true,
  email: true,
  websocket: true,
};

export type Audience = "user" | "admin";

export interface Recipient {
  userId: string | null;
  telegramUserId: number | null;
  email: string | null;
}

export interface DeliveryAttempt {
  anomalyId: string;
  audience: Audience;
  recipientUserId: string | null;
  channel: Channel;
  attempt: number;
  outcome: "sent" | "queued" | "failed" | "skipped";
  /**
   * Why, in a few words; never a secret or a message body. A copy to an admin without an account
   * starts with its recipient key (`t<chat>`), so the copy's entries can be told apart.
   */
  detail?: string;
  /**
   * A failure nothing will retry: one that sending again cannot mend (chat gone, bot blocked,
   * address refused), or the job's last attempt. A resend leaves such a copy failed.
   */
  final?: boolean;
}

/** Where a copy stands in the log: never handed over, on its way (or failed for now), sent, or refused for good. */
export type CopyState = "none" | "open" | "sent" | "final";

/** One Telegram or email copy of an alert, as its queued job is named. */
export interface CopyRef {
  anomalyId: string;
  audience: Audience;
  channel: "telegram" | "email";
  recipientUserId: string | null;
  /** The Telegram chat (telegram copies). */
  chatId?: number;
}

export interface AlertStore {
  get(anomalyId: string): Promise<AnomalyRecord | null>;
  /**
   * Sets the decision if still pending; returns the decision that stands. A suppressed finding
   * names the alert it was folded into (`into`); a delivered one keeps how many findings were
   * folded into the previous delivered alert of its user and rule.
   */
  decide(
    anomalyId: string,
    decision: "delivered" | "suppressed" | "silent",
    at: Date,
    opts?: { into?: string },
  ): Promise<AnomalyRecord["delivery"]>;
  preferences(userId: string): Promise<AlertPreferences>;
  setPreferences(userId: string, prefs: AlertPreferences): Promise<void>;
  recipient(userId: string): Promise<Recipient | null>;
  /** Every admin: accounts with the admin role, plus configured admin Telegram ids. */
  admins(): Promise<Recipient[]>;
  logDelivery(attempt: DeliveryAttempt): Promise<void>;
  /** Whether a (recipient, channel) of this anomaly was already sent or queued. */
  alreadyDelivered(
    anomalyId: string,
    audience: Audience,
    recipientKey: string,
    channel: Channel,
  ): Promise<boolean>;
  /** What the log says of one (recipient, channel) copy of this anomaly. */
  copyState(
    anomalyId: string,
    audience: Audience,
    recipientKey: string,
    channel: Channel,
  ): Promise<CopyState>;
  /**
   * Delivered findings with a Telegram or email copy that is neither sent nor refused for good
   * and whose last log entry is older than `quietMs`, among findings with a copy logged within
   * the last `withinMs`; oldest first. Measured on the log's own (database) clock.
   */
  lostCopies(quietMs: number, withinMs: number, limit: number): Promise<string[]>;
  /**
   * Records the user's answer; false when the anomaly is not theirs, or when `keepNotMe` and
   * the answer on record is "not me".
   */
  setVerdict(
    anomalyId: string,
    userId: string,
    verdict: "me" | "not_me",
    at: Date,
    opts?: { keepNotMe?: boolean },
  ): Promise<boolean>;
  recent(limit: number): Promise<AnomalyRecord[]>;
  /** One user's findings, newest first (their own history on the settings page). */
  recentFor(userId: string, limit: number): Promise<AnomalyRecord[]>;
}

/**
 * At most one delivery per (user, rule) per window, atomically across processes. `now` is the
 * domain clock; `claimant` (the anomaly id) makes a repeated claim by the same alert succeed.
 * `holder` is the alert that holds the window: the claimant when it won, else the one it is
 * folded into.
 */
export interface AlertDedup {
  claim(
    userId: string,
    rule: AnomalyRule,
    claimant: string,
    nowMs: number,
    windowMs: number,
  ): Promise<{ won: boolean; holder: string }>;
}

/** The channels: a Telegram send is queued (throttled, retried), the socket push is immediate. */
export interface AlertSenders {
  telegram(job: {
    anomalyId: string;
    audience: Audience;
    recipientUserId: string | null;
    chatId: number;
  }): Promise<void>;
  outbox: EmailOutbox;
  /** Pushes to every open socket of the user on every API process. */
  websocket(userId: string, event: object): Promise<void>;
  /**
   * Whether the queue still holds this copy's job, in any state (waiting, delayed, running,
   * failed or finished): a resend then leaves it alone. Copy jobs are named after the copy, so a
   * resend can never queue one twice anyway; this keeps a resend from being logged as one.
   */
  held?(copy: CopyRef): Promise<boolean>;
}

export interface DispatchDeps {
  store: AlertStore;
  dedup: AlertDedup;
  senders: AlertSenders;
  dedupWindowMs: number;
  publicUrl: string;
  now: () => number;
  /** How long a copy's log stays quiet before a resend hands it over again (RESEND_AFTER_MS). */
  resendAfterMs?: number;
}

export interface DispatchResult {
  delivery: AnomalyRecord["delivery"];
  user: Channel[];
  admins: number;
}

export const recipientKey = (r: Recipient) =>
  r.userId ? `u${r.userId}` : r.telegramUserId ? `t${r.telegramUserId}` : `e${r.email}`;

/** The WebSocket event of an alert: what the in-app banner shows. */
export function alertEvent(a: AnomalyRecord) {
  return {
    type: "alert",
    alert: {
      id: a.id,
      rule: a.rule,
      windowStart: a.windowStart.toISOString(),
      windowEnd: a.windowEnd.toISOString(),
      detectedAt: a.createdAt.toISOString(),
      evidence: a.evidence,
    },
  };
}

/** The user's channels that can carry an alert: chosen, and with a chat or address to use. */
export async function userChannels(
  store: AlertStore,
  userId: string,
): Promise<{ user: Recipient | null; channels: Channel[] }> {
  const user = await store.recipient(userId);
  if (!user) return { user: null, channels: [] };
  const prefs = await store.preferences(userId);
  const channels = CHANNELS.filter(
    (c) =>
      prefs[c] &&
      (c === "telegram"
        ? user.telegramUserId !== null
        : c === "email"
          ? user.email !== null
          : true),
  );
  return { user, channels };
}

/**
 * Decides a finding (dedup) and hands each copy over once. With `resend`, a delivered finding's
 * copies that were handed over but neither sent nor refused for good, and whose job the queue no
 * longer holds (lost with Redis), are handed over again; nothing else is sent: no copy that was
 * never handed over (a channel switched on or an admin added since), no WebSocket push (a live
 * banner, not worth showing late).
 */
export async function dispatchAlert(
  deps: DispatchDeps,
  anomalyId: string,
  opts: { resend?: boolean } = {},
): Promise<DispatchResult | null> {
  const { store } = deps;
  const resend = opts.resend === true;
  const found = await store.get(anomalyId);
  if (!found) return null;
  let delivery = found.delivery;
  if (delivery === "pending" && !resend) {
    let decision: "delivered" | "suppressed" | "silent" = "silent";
    let into: string | undefined;
    if (found.alert) {
      const claim = await deps.dedup.claim(
        found.userId,
        found.rule,
        found.id,
        found.createdAt.getTime(),
        deps.dedupWindowMs,
      );
      decision = claim.won ? "delivered" : "suppressed";
      if (!claim.won) into = claim.holder;
    }
    delivery = await store.decide(found.id, decision, new Date(deps.now()), { into });
  }
  if (delivery !== "delivered") return { delivery, user: [], admins: 0 };
  // As decided: a delivered alert carries the count of findings folded into the one before.
  const a = (await store.get(anomalyId)) ?? found;

  // An admin without an account is recognised by chat or address: their entries start with it.
  const detailFor = (r: Recipient, text?: string) =>
    r.userId ? text : [recipientKey(r), text].filter(Boolean).join(" ");
  const once = async (
    audience: Audience,
    r: Recipient,
    channel: Channel,
    send: () => Promise<"sent" | "queued">,
    copy?: CopyRef,
  ) => {
    if (resend) {
      if (!copy) return true;
      if ((await store.copyState(a.id, audience, recipientKey(r), channel)) !== "open") return true;
      if (await deps.senders.held?.(copy)) return true;
    } else if (await store.alreadyDelivered(a.id, audience, recipientKey(r), channel)) {
      return true;
    }
    try {
      const outcome = await send();
      // "queued" marks the hand-off (a Telegram job then logs each of its attempts), so a
      // repeated dispatch never queues the same message twice.
      await store.logDelivery({
        anomalyId: a.id,
        audience,
        recipientUserId: r.userId,
        channel,
        attempt: 1,
        outcome,
        detail: detailFor(r, resend ? "resend" : undefined),
      });
      return true;
    } catch (err) {
      await store.logDelivery({
        anomalyId: a.id,
        audience,
        recipientUserId: r.userId,
        channel,
        attempt: 1,
        outcome: "failed",
        detail: detailFor(r, err instanceof Error ? err.name : "error"),
      });
      throw err;
    }
  };

  const { user, channels: reached } = await userChannels(store, a.userId);
  const failures: unknown[] = [];
  const attempt = async (fn: () => Promise<unknown>) => {
    try {
      await fn();
    } catch (err) {
      failures.push(err);
    }
  };
  // One Telegram message or mail per recipient, each handed over once (see `once`).
  const viaTelegram = (audience: Audience, r: Recipient, chatId: number) =>
    attempt(() =>
      once(
        audience,
        r,
        "telegram",
        async () => {
          await deps.senders.telegram({
            anomalyId: a.id,
            audience,
            recipientUserId: r.userId,
            chatId,
          });
          return "queued";
        },
        { anomalyId: a.id, audience, channel: "telegram", recipientUserId: r.userId, chatId },
      ),
    );
  const viaEmail = (audience: Audience, r: Recipient, message: EmailMessage) =>
    attempt(() =>
      once(
        audience,
        r,
        "email",
        async () => {
          await deps.senders.outbox.send(message, {
            kind: "alert",
            id: a.id,
            audience,
            recipient: r.userId,
          });
          return "queued";
        },
        { anomalyId: a.id, audience, channel: "email", recipientUserId: r.userId },
      ),
    );

  if (user) {
    if (reached.includes("telegram") && user.telegramUserId) {
      await viaTelegram("user", user, user.telegramUserId);
    }
    if (reached.includes("email") && user.email) {
      await viaEmail("user", user, userAlertEmail(user.email, a, deps.publicUrl));
    }
    if (reached.includes("websocket")) {
      await attempt(() =>
        once("user", user, "websocket", async () => {
          await deps.senders.websocket(a.userId, alertEvent(a));
          return "sent";
        }),
      );
    }
  }

  // Admins as well, always: also when the user could not be reached at all.
  const view: AdminView = { userTelegramId: user?.telegramUserId ?? null, userChannels: reached };
  const admins = await store.admins();
  for (const admin of admins) {
    if (admin.telegramUserId) {
      await viaTelegram("admin", admin, admin.telegramUserId);
    }
    if (admin.email) {
      await viaEmail("admin", admin, adminAlertEmail(admin.email, a, view));
    }
  }
  // Channels that worked stay done (logged); the job is retried for the ones that failed.
  if (failures.length > 0) throw failures[0];
  return { delivery, user: reached, admins: admins.length };
}

export class AlertsError extends Error {
  constructor(
    readonly code: "reauth_required" | "not_found",
    message: string,
  ) {
    super(message);
    this.name = "AlertsError";
  }
}

/** Switching a channel off silences alerts: a sensitive action (S4.5). */
export function silencesAny(before: AlertPreferences, after: AlertPreferences): boolean {
  return CHANNELS.some((c) => before[c] && !after[c]);
}

export async function updatePreferences(
  store: AlertStore,
  userId: string,
  change: Partial<AlertPreferences>,
  opts: { steppedUp: boolean },
): Promise<AlertPreferences> {
  const before = await store.preferences(userId);
  const after = { ...before, ...change };
  if (silencesAny(before, after) && !opts.steppedUp) {
    throw new AlertsError(
      "reauth_required",
      "Turning an alert channel off is a sensitive action: confirm it first.",
    );
  }
  await store.setPreferences(userId, after);
  return after;
}
