// A signer on the `signer-intents` queue for tests: the real processor, the real key authority
// and security-event writer, and the trading use cases and the cockpit's pre-trade checks on the
// paper venue; in the test's process or (signer-child.ts) in a child process that can be killed
// mid-intent.
import type { MikroORM } from "@mikro-orm/postgresql";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { pino } from "pino";
import { createCockpit } from "../../src/cockpit";
import type { ExchangeKeyRing } from "../../src/domain/vault";
import { createAccountsRepo } from "../../src/infra/accounts-repo";
import { sqlOf } from "../../src/infra/database";
import { createPauseStore } from "../../src/infra/pause-store";
import { createKeyAuthority } from "../../src/infra/signer-authority";
import { createTradingStore, tradeAuditWriter } from "../../src/infra/trading-store";
import { createWebSocketPublisher } from "../../src/infra/ws-hub";
import { createIntentNotices } from "../../src/jobs/intent-notices";
import {
  createSignerIntentProcessor,
  type SignerExecutor,
  tradingExecutor,
  tradingReplay,
} from "../../src/jobs/processors/signer-intents";
import { QUEUE_DEFINITIONS, startWorkers, type WorkerPool } from "../../src/jobs/registry";
import type { SignerIntent, SignerJobResult } from "../../src/jobs/signer-intents";
import { paperTrading, paperVenuesOf } from "./trading-fixtures";

/** A killed signer's intent is redelivered within about three times this (JOB_LOCK_MAX_MS's floor). */
export const SIGNER_LOCK_MS = 2_000;

export function startTestSigner(opts: {
  orm: MikroORM;
  redisUrl: string;
  bullPrefix: string;
  keyRing: ExchangeKeyRing;
  pepper: Buffer;
  /** Wraps the executor (to hold an intent, or to die in the middle of one). */
  wrap?: (execute: SignerExecutor) => SignerExecutor;
  /**
   * The app's Redis key prefix: with it, the signer sends the notices callers promised, on the
   * alerts queue and the web channel as the signer role does (intent-notices.ts).
   */
  appPrefix?: string;
}): WorkerPool {
  const sql = sqlOf(opts.orm);
  const venues = paperVenuesOf(opts.orm);
  const trading = paperTrading(opts.orm, opts.keyRing, opts.pepper, true, undefined, venues);
  // Reconciliation's closes go out as notices on the alerts queue, as the worker's do.
  const alerts = new Queue(QUEUE_DEFINITIONS.alerts.name, {
    connection: { url: opts.redisUrl },
    prefix: opts.bullPrefix,
  });
  const store = createTradingStore(opts.orm, tradeAuditWriter(opts.pepper));
  const appRedis =
    opts.appPrefix === undefined
      ? undefined
      : new Redis(opts.redisUrl, { keyPrefix: opts.appPrefix });
  const publish = appRedis ? createWebSocketPublisher(appRedis) : undefined;
  const cockpit = createCockpit({
    orm: opts.orm,
    keyRing: opts.keyRing,
    venues,
    tradingStore: store,
    alertsQueue: alerts,
    ...(publish
      ? {
          webPush: async (userId: string, event: object) => {
            await publish(Number(userId), event);
          },
        }
      : {}),
  });
  const notices = appRedis ? createIntentNotices(appRedis) : undefined;
  const execute = tradingExecutor(trading, {
    quote: cockpit.quote,
    partialClose: cockpit.partialClose,
    reconcileKey: cockpit.reconcileKey,
    getTrade: store.getTrade,
  });
  const pool = startWorkers({
    connection: () => ({ url: opts.redisUrl, maxRetriesPerRequest: null }),
    prefix: opts.bullPrefix,
    processors: {
      signerIntents: createSignerIntentProcessor({
        authority: createKeyAuthority(sql),
        pauses: createPauseStore(sql),
        recordEvent: (e) => createAccountsRepo(sql).recordEvent(e),
        execute: opts.wrap ? opts.wrap(execute) : execute,
        replay: tradingReplay(trading),
        ...(notices
          ? {
              settle: (intent: SignerIntent, result: SignerJobResult) =>
                notices.settle(intent, result, (userId, n) =>
                  cockpit.notifier.notify(userId, n.event, n.text),
                ),
            }
          : {}),
      }),
    },
    logger: pino({ level: "silent" }),
    lockMaxMs: SIGNER_LOCK_MS,
  });
  return {
    async close(graceMs) {
      const r = await pool.close(graceMs);
      await alerts.close();
      appRedis?.disconnect();
      return r;
    },
  };
}
