// The worker role: one BullMQ worker per queue that decrypts no exchange key (system, email,
// backup, alerts, summaries, account-vault) and their schedulers, registered at boot. The jobs
// that do (rotation of exchange keys, re-verification, reconciliation, open recovery, paper
// triggers) run on the signer (./signer.ts). It holds the account key ring (rotation of account
// secrets, sealed mail) and, for account rows not yet moved off it, the master key ring.
import { RequestContext } from "@mikro-orm/postgresql";
import type { AccountKeys } from "../domain/vault";
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
import { createSummariesProcessor, scheduleDailySummaries } from "../jobs/processors/summaries";
import { processSystemJob } from "../jobs/processors/system";
import { createVaultProcessor, scheduleRotation } from "../jobs/processors/vault";
import { startWorkers } from "../jobs/registry";
import { mailerOptions } from "../startup/dev-mailbox";
import { rescheduleAfterEmptyRedis } from "./schedules";
import type { Services } from "./services";
import { type RoleConfig, type Shared, type Stop, stopStack } from "./shared";

/** How long running jobs may finish after a stop signal before they are left for redelivery. */
export const JOB_GRACE_MS = 6_000;

export async function startWorkerRole(
  config: RoleConfig,
  deps: {
    shared: Pick<Shared, "orm" | "redis" | "queues" | "vaultStore">;
    /** Built by ./services: the account keys; the exchange-key ring only with the signer. */
    services: Pick<Services, "accounts" | "cockpit" | "alerts">;
    /** Account secrets: rotation of their rows, and sealed mail. */
    accountKeys: AccountKeys;
    logger: Logger;
    reporter: ErrorReporter;
  },
): Promise<Stop> {
  const { logger, accountKeys } = deps;
  const { orm, redis, queues } = deps.shared;
  const { accounts, cockpit, alerts } = deps.services;
  const stack = stopStack(logger);
  try {
    const mailer = createMailer({ ...mailerOptions(config), logger });
    stack.add("mailer", async () => mailer.close());
    const pool = startWorkers({
      connection: () => redis.create("worker", "worker"),
      prefix: redis.bullPrefix,
      processors: {
        system: processSystemJob,
        accountVault: createVaultProcessor({
          store: deps.shared.vaultStore,
          rings: [accountKeys.ring],
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
        summaries: createSummariesProcessor(cockpit),
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
      if (config.backup.dir !== undefined) {
        await scheduleBackups(queues.get("backup"), config.backup.cron);
      }
      await scheduleRotation(queues.get("accountVault"), config.vaultRotationCron);
      await scheduleAnomalyScan(queues.get("alerts"), config.anomaly.scanEveryMinutes);
      await scheduleDailySummaries(queues.get("summaries"));
    };
    if (config.backup.dir === undefined && config.nodeEnv === "production") {
      logger.warn("BACKUP_DIR is not set: no scheduled backups (S9.3)");
    }
    await schedule();
    stack.add(
      "schedules",
      rescheduleAfterEmptyRedis(deps.shared.redis, {
        present: async () =>
          Boolean(await queues.get("alerts").getJobScheduler(ANOMALY_SCAN_SCHEDULER_ID)),
        schedule,
        name: "schedules-watch",
        logger,
      }),
    );
    logger.info("worker role started");
    return () => stack.stop();
  } catch (err) {
    await stack.stop().catch(() => {});
    throw err;
  }
}
