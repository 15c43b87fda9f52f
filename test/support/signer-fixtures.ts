// A signer on the `signer-intents` queue for tests: the real processor, the real key authority
// and security-event writer, and the trading use cases on the paper venue; in the test's process
// or (signer-child.ts) in a child process that can be killed mid-intent.
import type { MikroORM } from "@mikro-orm/postgresql";
import { pino } from "pino";
import type { ExchangeKeyRing } from "../../src/domain/vault";
import { createAccountsRepo } from "../../src/infra/accounts-repo";
import { sqlOf } from "../../src/infra/database";
import { createPauseStore } from "../../src/infra/pause-store";
import { createKeyAuthority } from "../../src/infra/signer-authority";
import {
  createSignerIntentProcessor,
  type SignerExecutor,
  tradingExecutor,
  tradingReplay,
} from "../../src/jobs/processors/signer-intents";
import { startWorkers, type WorkerPool } from "../../src/jobs/registry";
import { paperTrading } from "./trading-fixtures";

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
}): WorkerPool {
  const sql = sqlOf(opts.orm);
  const trading = paperTrading(opts.orm, opts.keyRing, opts.pepper);
  const execute = tradingExecutor(trading);
  return startWorkers({
    connection: () => ({ url: opts.redisUrl, maxRetriesPerRequest: null }),
    prefix: opts.bullPrefix,
    processors: {
      signerIntents: createSignerIntentProcessor({
        authority: createKeyAuthority(sql),
        pauses: createPauseStore(sql),
        recordEvent: (e) => createAccountsRepo(sql).recordEvent(e),
        execute: opts.wrap ? opts.wrap(execute) : execute,
        replay: tradingReplay(trading),
      }),
    },
    logger: pino({ level: "silent" }),
    lockMaxMs: SIGNER_LOCK_MS,
  });
}
