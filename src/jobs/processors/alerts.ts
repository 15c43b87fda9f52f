// The `alerts` queue: `scan` (the five-minute anomaly scan, on a scheduler), `dispatch` (one
// finding's dedup decision and fan-out), `telegram` (one throttled, retried Bot API send) and
// `notice` (a plain message to an admin). Job data holds ids and chat ids only.
import { type Job, type Queue, UnrecoverableError } from "bullmq";
import type { Api } from "grammy";
import { GrammyError, InlineKeyboard } from "grammy";
import { z } from "zod";
import {
  type AlertStore,
  adminAlertText,
  BUTTON_ME,
  BUTTON_NOT_ME,
  type CopyRef,
  type DispatchDeps,
  dispatchAlert,
  resendLostCopies,
  userAlertText,
  userChannels,
} from "../../domain/alerts";
import { runAnomalyScan, type ScanDeps } from "../../domain/anomaly";
import type { Logger } from "../../infra/logger";
import { alertEmailJobId } from "../email-outbox";

export const ANOMALY_SCAN_SCHEDULER_ID = "anomaly-scan";
export const ALERT_CALLBACK = { me: "alert:me", notMe: "alert:notme" } as const;

const dispatchData = z.object({ anomalyId: z.string().regex(/^\d{1,19}$/) });
const telegramData = z.object({
  anomalyId: z.string().regex(/^\d{1,19}$/),
  audience: z.enum(["user", "admin"]),
  recipientUserId: z
    .string()
    .regex(/^\d{1,19}$/)
    .nullable(),
  chatId: z.number().int(),
});
const noticeData = z.object({ chatId: z.number().int(), text: z.string().min(1).max(4000) });

export function alertButtons(anomalyId: string) {
  return new InlineKeyboard()
    .text(BUTTON_ME, `${ALERT_CALLBACK.me}:${anomalyId}`)
    .row()
    .text(BUTTON_NOT_ME, `${ALERT_CALLBACK.notMe}:${anomalyId}`);
}

/**
 * Jobs that hand findings to the alerts, one per finding, with the finding's id as the job id, so
 * a scan repeated after a crash queues nothing twice. Handing a still-undecided finding over
 * again (`again`) looks at that job first: BullMQ ignores a new job whose id it still keeps, and
 * it keeps failed jobs for days. A failed job is retried; a missing one is queued anew; one still
 * waiting, delayed or running is left to finish.
 */
export function alertsQueueDispatcher(queue: Queue) {
  const jobId = (anomalyId: string) => `dispatch-${anomalyId}`;
  const add = (anomalyIds: string[]) =>
    queue.addBulk(
      anomalyIds.map((anomalyId) => ({
        name: "dispatch",
        data: { anomalyId },
        opts: { jobId: jobId(anomalyId) },
      })),
    );
  return async (anomalyIds: string[], again = false) => {
    if (!again) {
      await add(anomalyIds);
      return;
    }
    const missing: string[] = [];
    for (const anomalyId of anomalyIds) {
      const job = await queue.getJob(jobId(anomalyId));
      if (!job) missing.push(anomalyId);
      else if (await job.isFailed()) await job.retry("failed");
      else if (await job.isCompleted()) {
        // Completed yet still undecided: its record was lost; run it again under a new id.
        await queue.add(
          "dispatch",
          { anomalyId },
          { jobId: `${jobId(anomalyId)}-${job.timestamp}` },
        );
      }
    }
    if (missing.length > 0) await add(missing);
  };
}

/** 400/403: the chat does not exist or blocked the bot; retrying cannot help. */
function forGood(err: unknown): unknown {
  return err instanceof GrammyError && (err.error_code === 400 || err.error_code === 403)
    ? new UnrecoverableError(`telegram refused: ${err.error_code}`)
    : err;
}

/** A Telegram copy's job id: the copy itself, so it is queued once however often it is handed over. */
export const telegramCopyJobId = (c: { anomalyId: string; audience: string; chatId: number }) =>
  `tg-${c.anomalyId}-${c.audience}-${c.chatId}`;

/** AlertSenders.held: whether the alerts or email queue still keeps a copy's job, in any state. */
export function alertCopyHeld(alerts: Queue, email: Queue) {
  return async (copy: CopyRef): Promise<boolean> => {
    const jobId =
      copy.channel === "telegram"
        ? copy.chatId === undefined
          ? undefined
          : telegramCopyJobId({ ...copy, chatId: copy.chatId })
        : alertEmailJobId({
            kind: "alert",
            id: copy.anomalyId,
            audience: copy.audience,
            recipient: copy.recipientUserId,
          });
    // No id to find it by (nor to keep a second one out): never handed over again.
    if (jobId === undefined) return true;
    const queue = copy.channel === "telegram" ? alerts : email;
    return (await queue.getJob(jobId)) !== undefined;
  };
}

/**
 * Queues one Telegram copy at the head of the queue (LIFO): a scan that hands over hundreds of
 * findings at once would otherwise send nothing until every dispatch ahead of it had run, which
 * left the bot's send budget idle for seconds. Copies queued in the same instant may so leave in
 * reverse order; their chats differ unless one admin gets several findings' copies.
 */
export function alertsTelegramSender(queue: Queue) {
  return async (job: z.infer<typeof telegramData>) => {
    await queue.add("telegram", job, { jobId: telegramCopyJobId(job), lifo: true });
  };
}

export function createAlertsProcessor(deps: {
  scan: Omit<ScanDeps, "dispatch">;
  dispatch: DispatchDeps;
  store: AlertStore;
  queue: Queue;
  /** Absent without a bot token: Telegram copies are then logged as failed. */
  telegram: Api | undefined;
  logger: Logger;
}) {
  const { store, logger } = deps;
  const dispatch = alertsQueueDispatcher(deps.queue);

  async function sendTelegram(job: Job) {
    const data = telegramData.safeParse(job.data);
    if (!data.success) throw new UnrecoverableError("alerts telegram job: bad data");
    const d = data.data;
    const attempt = job.attemptsMade + 1;
    // An admin without an account is recognised by chat: their entries start with it.
    const log = (outcome: "sent" | "failed", detail?: string, final = false) =>
      store.logDelivery({
        anomalyId: d.anomalyId,
        audience: d.audience,
        recipientUserId: d.recipientUserId,
        channel: "telegram",
        attempt,
        outcome,
        detail: d.recipientUserId ? detail : [`t${d.chatId}`, detail].filter(Boolean).join(" "),
        final,
      });
    const a = await store.get(d.anomalyId);
    if (!a) return { skipped: "gone" };
    if (!deps.telegram) {
      await log("failed", "no bot token configured", true);
      throw new UnrecoverableError("no Telegram bot configured");
    }
    let text: string;
    if (d.audience === "user") {
      text = userAlertText(a);
    } else {
      const { user, channels } = await userChannels(store, a.userId);
      text = adminAlertText(a, {
        userTelegramId: user?.telegramUserId ?? null,
        userChannels: channels,
      });
    }
    try {
      await deps.telegram.sendMessage(d.chatId, text.slice(0, 4096), {
        ...(d.audience === "user" ? { reply_markup: alertButtons(a.id) } : {}),
        link_preview_options: { is_disabled: true },
      });
    } catch (err) {
      const detail =
        err instanceof GrammyError ? `${err.error_code} ${err.description}` : "network error";
      const refused = forGood(err);
      // Refused, or the last attempt: the job gives up, and so does a later resend.
      const final = refused instanceof UnrecoverableError || attempt >= (job.opts.attempts ?? 1);
      await log("failed", detail.slice(0, 200), final);
      throw refused;
    }
    await log("sent");
    return { sent: true };
  }

  return async (job: Job) => {
    switch (job.name) {
      case "scan": {
        const scanned = await runAnomalyScan({ ...deps.scan, dispatch });
        // Then the copies of delivered alerts whose jobs were lost (Redis restarted empty).
        const resent = await resendLostCopies(deps.dispatch);
        const report = { ...scanned, resent: resent.findings, resendFailed: resent.failed };
        if (
          report.findings > 0 ||
          report.redispatched > 0 ||
          report.batches > 1 ||
          report.resent > 0
        ) {
          logger.info({ ...report }, "anomaly scan finished");
        }
        return report;
      }
      case "dispatch": {
        const data = dispatchData.safeParse(job.data);
        if (!data.success) throw new UnrecoverableError("alerts dispatch job: bad data");
        return dispatchAlert(deps.dispatch, data.data.anomalyId);
      }
      case "telegram":
        return sendTelegram(job);
      case "notice": {
        const data = noticeData.safeParse(job.data);
        if (!data.success) throw new UnrecoverableError("alerts notice job: bad data");
        if (!deps.telegram) throw new UnrecoverableError("no Telegram bot configured");
        try {
          await deps.telegram.sendMessage(data.data.chatId, data.data.text);
        } catch (err) {
          throw forGood(err);
        }
        return { sent: true };
      }
      default:
        throw new UnrecoverableError(`alerts queue: unknown job "${job.name}"`);
    }
  };
}

/** Registers the scan idempotently (stable scheduler id). */
export async function scheduleAnomalyScan(queue: Queue, everyMinutes: number): Promise<void> {
  await queue.waitUntilReady();
  await queue.upsertJobScheduler(
    ANOMALY_SCAN_SCHEDULER_ID,
    { every: everyMinutes * 60_000 },
    { name: "scan", data: {}, opts: { attempts: 1 } },
  );
}
