// The worker role: one BullMQ worker per queue (system, vault, email, venues, trading, backup,
// alerts) and the schedulers registered at boot. It holds both key rings: rotation re-encrypts
// each ring's rows with it, and the mail processor opens sealed mail with the account keys.
import { RequestContext } from "@mikro-orm/postgresql";
import type { AccountKeys, ExchangeKeyRing } from "../domain/vault";
import type { Logger } from "../infra/logger";
import { createMailer } from "../infra/mailer";
import type { ErrorReporter } from "../infra/sentry";
import {
  ANOMALY_SCAN_SCHEDULER_ID,
  createAlertsProcessor,
  scheduleAnomalyScan,
} from "../jobs/processors/alerts";
import { createBackupProcessor, scheduleBackups } from "../jobs/processors/backup";
import { createEmailProcessor } from "../jobs/processors/email";
import { processSystemJob } from "../jobs/processors/system";
import { createTradingProcessor, scheduleTradingJobs } from "../jobs/processors/trading";
import { createVaultProcessor, scheduleRotation } from "../jobs/processors/vault";
import { createVenuesProcessor, scheduleReverification } from "../jobs/processors/venues";
import { type QueueRegistry, startWorkers } from "../jobs/registry";
import { mailerOptions } from "../startup/dev-mailbox";
import type { Services } from "./services";
import { type RoleConfig, type Shared, type Stop, stopStack } from "./shared";

/** How long running jobs may finish after a stop signal before they are left for redelivery. */
export const JOB_GRACE_MS = 6_000;

export async function startWorkerRole(
  config: RoleConfig,
  deps: {
    shared: Pick<Shared, "orm" | "redis" | "queues" | "vaultStore">;
    /** Built with the master key ring (./services): through them this role holds it today. */
    services: Pick<Services, "accounts" | "keys" | "cockpit" | "alerts">;
    keyRing: ExchangeKeyRing;
    accountKeys: AccountKeys;
    logger: Logger;
    reporter: ErrorReporter;
  },
): Promise<Stop> {
  const { logger, keyRing, accountKeys } = deps;
  const { orm, redis, queues } = deps.shared;
  const { accounts, keys, cockpit, alerts } = deps.services;
  const stack = stopStack(logger);
  try {
    const mailer = createMailer({ ...mailerOptions(config), logger });
    stack.add("mailer", async () => mailer.close());
    const pool = startWorkers({
      connection: () => redis.create("worker", "worker"),
      prefix: redis.bullPrefix,
      processors: {
        system: processSystemJob,
        vault: createVaultProcessor({
          store: deps.shared.vaultStore,
          rings: [keyRing, accountKeys.ring],
          logger,
        }),
        email: createEmailProcessor({
          resetRequest: (request) => accounts.processResetRequest(request),
          mailer,
          accountKeys,
          logger,
          // Alert mails: each attempt goes to the alert's delivery log.
          onAttempt: (ref, attempt, outcome, detail, final) =>
            alerts.store.logDelivery({
              anomalyId: ref.id,
              audience: ref.audience,
              recipientUserId: ref.recipient,
              channel: "email",
              attempt,
              outcome,
              detail,
              final,
            }),
        }),
        venues: createVenuesProcessor({ keys }),
        trading: createTradingProcessor(cockpit),
        ...(config.backup.dir !== undefined && {
          backup: createBackupProcessor({
            source: { url: config.backup.databaseUrl, sslCa: config.databaseSslCa },
            key: config.backupEncryptionKey,
            dir: config.backup.dir,
            keep: config.backup.keep,
            tools: { binDir: config.backup.pgBinDir },
            logger,
          }),
        }),
        alerts: createAlertsProcessor({
          scan: alerts.scan,
          dispatch: alerts.dispatch,
          store: alerts.store,
          queue: queues.get("alerts"),
          telegram: alerts.telegram,
          logger,
        }),
      },
      logger,
      reportError: (err, context) =>
        deps.reporter.capture(err, {
          source: "worker",
          tags: { queue: context.queue, job: context.job },
          extra: { jobId: context.jobId, attempts: context.attempts },
        }),
      around: (fn) => RequestContext.create(orm.em, fn),
      lockMaxMs: config.jobLockMaxMs,
    });
    stack.add("workers", async () => {
      const { abandoned } = await pool.close(JOB_GRACE_MS);
      if (abandoned) logger.warn("jobs still running were left for redelivery");
    });
    const schedule = async () => {
      await scheduleRotation(queues.get("vault"), config.vaultRotationCron);
      await scheduleReverification(queues.get("venues"), config.keyReverifyHours);
      if (config.backup.dir !== undefined) {
        await scheduleBackups(queues.get("backup"), config.backup.cron);
      }
      await scheduleAnomalyScan(queues.get("alerts"), config.anomaly.scanEveryMinutes);
      await scheduleTradingJobs(queues.get("trading"), {
        paperTriggersMs: 5_000,
        reconcileMs: 60_000,
      });
    };
    if (config.backup.dir === undefined && config.nodeEnv === "production") {
      logger.warn("BACKUP_DIR is not set: no scheduled backups (S9.3)");
    }
    await schedule();
    stack.add("schedules", rescheduleAfterEmptyRedis(deps.shared.redis, queues, schedule, logger));
    logger.info("worker role started");
    return () => stack.stop();
  } catch (err) {
    await stack.stop().catch(() => {});
    throw err;
  }
}

/**
 * A Redis that comes back empty (a restart without persistence, a failover to a blank replica)
 * has lost the job schedulers registered at boot: no anomaly scan, rotation or reconciliation
 * would run again until the process restarts. Each time a watch connection is ready again, the
 * schedules are registered anew if the anomaly scan's is gone (registering is idempotent).
 */
function rescheduleAfterEmptyRedis(
  redis: Shared["redis"],
  queues: QueueRegistry,
  schedule: () => Promise<void>,
  logger: Logger,
): () => Promise<void> {
  const watch = redis.create("worker", "schedules-watch");
  let first = true;
  watch.on("ready", () => {
    if (first) {
      first = false;
      return;
    }
    void (async () => {
      // The queues' own connection may reconnect a moment after this one: a few tries.
      for (let attempt = 1; ; attempt++) {
        try {
          if (await queues.get("alerts").getJobScheduler(ANOMALY_SCAN_SCHEDULER_ID)) return;
          await schedule();
          logger.warn("Redis came back without the job schedulers: registered them again");
          return;
        } catch (err) {
          if (attempt >= 10) throw err;
          await new Promise((r) => setTimeout(r, 1_000));
        }
      }
    })().catch((err: unknown) =>
      logger.error({ err }, "could not register the job schedulers again after a Redis restart"),
    );
  });
  // The factory closes the connection itself.
  return async () => {
    watch.removeAllListeners("ready");
  };
}
