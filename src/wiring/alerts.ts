// Wiring of the anomaly scan and its alerts from configuration: the scan store, the dispatch
// (Redis dedup, email outbox, WebSocket fan-out, Telegram jobs) and "not me".
import type { Api } from "grammy";
import { type AlertStore, type DispatchDeps, reportNotMe } from "../domain/alerts";
import type { AnomalyRule, ScanDeps } from "../domain/anomaly";
import type { AccountKeys } from "../domain/vault";
import type { KeyService } from "../domain/venues/keys";
import { createAlertDedup, createAlertStore } from "../infra/alerts-store";
import { createAnomalyScanStore } from "../infra/anomaly-store";
import type { Config } from "../infra/config";
import { type createOrm, sqlOf } from "../infra/database";
import { createWebSocketPublisher } from "../infra/ws-hub";
import { createEmailOutbox } from "../jobs/email-outbox";
import { alertCopyHeld, alertsTelegramSender } from "../jobs/processors/alerts";
import type { createQueueRegistry } from "../jobs/registry";

/**
 * Anomaly scan and alerts: the scan's store and thresholds, the dispatch (dedup in Redis, the
 * email outbox, the WebSocket fan-out, Telegram sends as jobs) and the "not me" use case.
 */
export function createAlertsFromConfig(
  config: Omit<Config, "masterKeys" | "accountKeys" | "secretValues">,
  parts: {
    /** Seals queued alert mail (the account ring). */
    accountKeys: AccountKeys;
    orm: Awaited<ReturnType<typeof createOrm>>;
    redis: import("ioredis").Redis;
    queues: ReturnType<typeof createQueueRegistry>;
    keys: Pick<KeyService, "list" | "revoke">;
    now: () => number;
    /** A prefixed client used only to publish (the hub's fan-out channel). */
    wsPublisher: import("ioredis").Redis;
    telegram: Api | undefined;
  },
) {
  const a = config.anomaly;
  const store: AlertStore = createAlertStore(sqlOf(parts.orm), {
    adminTelegramIds: config.telegram.adminIds,
  });
  const outbox = createEmailOutbox({
    queue: parts.queues.get("email"),
    accountKeys: parts.accountKeys,
  });
  const publish = createWebSocketPublisher(parts.wsPublisher);
  const scan: Omit<ScanDeps, "dispatch"> = {
    store: createAnomalyScanStore(parts.orm),
    now: parts.now,
    thresholds: {
      rapidFireOpens: a.rapidFireOpens,
      rapidFireWindowMs: a.rapidFireMinutes * 60_000,
      newIpLookbackMs: a.newIpDays * 86_400_000,
    },
    alerting: new Set<AnomalyRule>(a.alertRules),
  };
  const dispatch: DispatchDeps = {
    store,
    dedup: createAlertDedup(parts.redis),
    senders: {
      telegram: alertsTelegramSender(parts.queues.get("alerts")),
      outbox,
      websocket: async (userId, event) => {
        await publish(Number(userId), event);
      },
      held: alertCopyHeld(parts.queues.get("alerts"), parts.queues.get("email")),
    },
    dedupWindowMs: a.dedupMinutes * 60_000,
    resendAfterMs: a.resendAfterSeconds * 1000,
    publicUrl: config.publicUrl,
    now: parts.now,
  };
  const notMe = (userId: string, anomalyId: string) =>
    reportNotMe(
      {
        store,
        now: parts.now,
        revokeAllKeys: async (uid) => {
          const revoked: string[] = [];
          for (const k of await parts.keys.list(uid)) {
            if (k.revokedAt) continue;
            await parts.keys.revoke(uid, k.id);
            revoked.push(k.id);
          }
          return revoked;
        },
        tellAdmins: async (text, subject) => {
          for (const admin of await store.admins()) {
            if (admin.telegramUserId) {
              await parts.queues
                .get("alerts")
                .add("notice", { chatId: admin.telegramUserId, text });
            }
            if (admin.email) await outbox.send({ to: admin.email, subject, text });
          }
        },
      },
      userId,
      anomalyId,
    );
  return {
    store,
    scan,
    dispatch,
    notMe,
    telegram: parts.telegram,
  };
}
