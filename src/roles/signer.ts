// The signer role: the process that decrypts exchange keys (issue 19). It builds the consumers of
// the key ring itself (venues, trading, keys re-verification, the cockpit's reconciliation, open
// recovery and paper triggers, rotation) and runs them as jobs: the `signer-intents` queue
// (trade intents, answered to the waiting caller) and the scheduled `vault`, `venues` and
// `trading` queues. The worker role runs the jobs that decrypt no exchange key.
import { RequestContext } from "@mikro-orm/postgresql";
import { createCockpit } from "../cockpit";
import { type AccountKeys, ENCRYPTED_TABLES, type ExchangeKeyRing } from "../domain/vault";
import { createAccountsRepo } from "../infra/accounts-repo";
import { ConfigError } from "../infra/config";
import { preparedSqlOf } from "../infra/database";
import type { Logger } from "../infra/logger";
import { createPauseStore } from "../infra/pause-store";
import type { ErrorReporter } from "../infra/sentry";
import { createKeyAuthority } from "../infra/signer-authority";
import { createVenuesFor } from "../infra/venues";
import { paperPriceFeedFromConfig } from "../infra/venues/paper-tickers";
import { createWebSocketPublisher } from "../infra/ws-hub";
import { createEmailOutbox } from "../jobs/email-outbox";
import { createIntentNotices } from "../jobs/intent-notices";
import {
  createSignerIntentProcessor,
  tradingExecutor,
  tradingReplay,
} from "../jobs/processors/signer-intents";
import {
  createTradingProcessor,
  RECONCILE_SCHEDULER_ID,
  scheduleTradingJobs,
} from "../jobs/processors/trading";
import { createVaultProcessor, scheduleRotation } from "../jobs/processors/vault";
import { createVenuesProcessor, scheduleReverification } from "../jobs/processors/venues";
import { startWorkers } from "../jobs/registry";
import { createKeys } from "../wiring/keys";
import { signerKeyIntake } from "../wiring/sealed-keys";
import { createTradingFromConfig } from "../wiring/trading";
import { rescheduleAfterEmptyRedis } from "./schedules";
import { type RoleConfig, type Shared, SIGNER_GRACE_MS, type Stop, stopStack } from "./shared";

type SignerShared = Pick<Shared, "orm" | "redis" | "appRedis" | "queues" | "vaultStore">;

/** The consumers of the exchange-key ring, built from the ring given here and nowhere else. */
export function createSignerConsumers(
  config: RoleConfig,
  deps: {
    shared: SignerShared;
    keyRing: ExchangeKeyRing;
    /** Trade notices by mail are sealed under the account ring. */
    accountKeys: AccountKeys;
    logger: Logger;
    now: () => number;
  },
) {
  const { keyRing, logger, now } = deps;
  const { orm, appRedis, queues } = deps.shared;
  const paperPrices = paperPriceFeedFromConfig(config, logger);
  const venues = createVenuesFor(config, { orm, redis: appRedis, paperPrices });
  const keys = createKeys(config, { keyRing, orm, logger, venues });
  const trade = createTradingFromConfig(config, { keyRing, orm, keys, venues, now });
  const publish = createWebSocketPublisher(appRedis);
  const cockpit = createCockpit({
    orm,
    warn: (fields, message) => logger.warn(fields, message),
    paperPrices,
    keyRing,
    venues,
    tradingStore: trade.store,
    alertsQueue: queues.get("alerts"),
    emailOutbox: createEmailOutbox({ queue: queues.get("email"), accountKeys: deps.accountKeys }),
    webPush: async (userId, event) => {
      await publish(Number(userId), event);
    },
  });
  return { venues, keys, trade, cockpit };
}

export async function startSignerRole(
  config: RoleConfig,
  deps: {
    shared: SignerShared;
    /** The master key ring: this role decrypts exchange keys with it. */
    keyRing: ExchangeKeyRing;
    accountKeys: AccountKeys;
    logger: Logger;
    reporter: ErrorReporter;
    now: () => number;
    /** Built already (createSignerConsumers) when this process's other roles share them. */
    consumers?: ReturnType<typeof createSignerConsumers>;
  },
): Promise<Stop> {
  const { logger, keyRing } = deps;
  const { orm, redis, queues } = deps.shared;
  const stack = stopStack(logger);
  try {
    const { keys, trade, cockpit } = deps.consumers ?? createSignerConsumers(config, deps);
    const sql = preparedSqlOf(orm);
    const accountsRepo = createAccountsRepo(sql);
    // No on-time trade notices here: the caller (api or bot) sends them when it hears the
    // outcome. A notice a caller promised ("still working") is sent by whichever of the caller
    // and this signer claims it first, so that it outlives the caller (intent-notices.ts).
    const trading = trade.trading;
    const notices = createIntentNotices(deps.shared.appRedis);
    // Pasted keys sealed by api and bot (the signer-keys queue) open here, with the intake key.
    const intakeKeys = config.signerIntakeKey;
    if (!intakeKeys) {
      if (config.nodeEnv === "production") {
        throw new ConfigError("SIGNER_INTAKE_KEY", "is required where the signer role runs");
      }
      logger.warn("SIGNER_INTAKE_KEY is not set: sealed key intake (signer-keys queue) is off");
    }
    const signerKeys = intakeKeys
      ? await signerKeyIntake({ orm, keys, intakeKeys, now: deps.now })
      : undefined;
    const pool = startWorkers({
      connection: () => redis.create("worker", "signer"),
      prefix: redis.bullPrefix,
      processors: {
        signerIntents: createSignerIntentProcessor({
          authority: createKeyAuthority(sql),
          pauses: createPauseStore(sql),
          recordEvent: (e) => accountsRepo.recordEvent(e),
          // The pre-trade checks are re-run here on every open: the signer does not take the
          // caller's quote on trust.
          execute: tradingExecutor(trading, {
            quote: cockpit.quote,
            partialClose: cockpit.partialClose,
            reconcileKey: cockpit.reconcileKey,
            getTrade: (userId, id) => trade.store.getTrade(userId, id),
          }),
          replay: tradingReplay(trade.trading),
          settle: (intent, result) =>
            notices.settle(intent, result, (userId, n) =>
              cockpit.notifier.notify(userId, n.event, n.text),
            ),
          onSettleError: (err) => logger.warn({ err }, "a promised trade notice was not sent"),
        }),
        vault: createVaultProcessor({
          store: deps.shared.vaultStore,
          rings: [keyRing],
          // Exchange keys only: TOTP secrets still under MASTER_KEYS from before the split are
          // moved by `account-key migrate`, never opened here.
          tables: ENCRYPTED_TABLES.filter((t) => t.table === "exchange_credentials"),
          logger,
        }),
        venues: createVenuesProcessor({ keys }),
        trading: createTradingProcessor(cockpit),
        ...(signerKeys ? { signerKeys } : {}),
      },
      logger,
      reportError: (err, context) =>
        deps.reporter.capture(err, {
          source: "signer",
          tags: { queue: context.queue, job: context.job },
          extra: { jobId: context.jobId, attempts: context.attempts },
        }),
      around: (fn) => RequestContext.create(orm.em, fn),
      lockMaxMs: config.jobLockMaxMs,
    });
    stack.add("signer workers", async () => {
      const { abandoned } = await pool.close(SIGNER_GRACE_MS);
      if (abandoned) logger.warn("intents still running were left for redelivery");
      intakeKeys?.dispose();
    });
    const schedule = async () => {
      await scheduleRotation(queues.get("vault"), config.vaultRotationCron);
      await scheduleReverification(queues.get("venues"), config.keyReverifyHours);
      await scheduleTradingJobs(queues.get("trading"), {
        paperTriggersMs: 5_000,
        reconcileMs: 60_000,
      });
    };
    await schedule();
    stack.add(
      "signer schedules",
      rescheduleAfterEmptyRedis(redis, {
        present: async () =>
          Boolean(await queues.get("trading").getJobScheduler(RECONCILE_SCHEDULER_ID)),
        schedule,
        name: "signer-schedules-watch",
        logger,
      }),
    );
    logger.info("signer role started");
    return () => stack.stop();
  } catch (err) {
    await stack.stop().catch(() => {});
    throw err;
  }
}
