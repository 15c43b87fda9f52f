// The queue registry: every queue Warden has, with its job names and options, in one place.
// Later features add a queue here and a processor in src/jobs/processors.
import { type ConnectionOptions, type DefaultJobOptions, type Job, Queue, Worker } from "bullmq";
import type { Logger } from "../infra/logger";

export interface QueueDefinition {
  name: string;
  concurrency: number;
  /** How long a job may run without renewing its lock before another worker redelivers it. */
  lockDurationMs: number;
  defaultJobOptions: DefaultJobOptions;
}

const keep = {
  removeOnComplete: { age: 24 * 3600, count: 1000 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

export const QUEUE_DEFINITIONS = {
  system: {
    name: "system",
    concurrency: 2,
    lockDurationMs: 10_000,
    defaultJobOptions: { ...keep, attempts: 3, backoff: { type: "exponential", delay: 1_000 } },
  },
  email: {
    name: "email",
    concurrency: 5,
    lockDurationMs: 30_000,
    // SMTP outages are retried for about an hour; a permanent refusal fails at once.
    defaultJobOptions: { ...keep, attempts: 10, backoff: { type: "exponential", delay: 2_000 } },
  },
  venues: {
    name: "venues",
    concurrency: 1,
    lockDurationMs: 60_000,
    defaultJobOptions: { ...keep, attempts: 3, backoff: { type: "exponential", delay: 60_000 } },
  },
  vault: {
    name: "vault",
    // Rotation of MASTER_KEYS rows (exchange keys), on the signer.
    concurrency: 1,
    // Short, so a worker killed mid-rotation is noticed soon; progress updates renew it.
    lockDurationMs: 10_000,
    defaultJobOptions: { ...keep, attempts: 5, backoff: { type: "exponential", delay: 5_000 } },
  },
  accountVault: {
    name: "account-vault",
    // Rotation of ACCOUNT_KEYS rows, on the worker; `vault` (MASTER_KEYS rows) is the signer's.
    concurrency: 1,
    lockDurationMs: 10_000,
    defaultJobOptions: { ...keep, attempts: 5, backoff: { type: "exponential", delay: 5_000 } },
  },
  backup: {
    name: "backup",
    concurrency: 1,
    // The worker renews the lock while pg_dump runs; a dead worker's job is redelivered soon.
    lockDurationMs: 60_000,
    defaultJobOptions: { ...keep, attempts: 3, backoff: { type: "exponential", delay: 600_000 } },
  },
  alerts: {
    name: "alerts",
    // Telegram sends wait on the throttler; enough slots keep it at its ~30 messages/s.
    concurrency: 30,
    lockDurationMs: 30_000,
    // Telegram and dispatch retries back off from 2 s to about 17 minutes over 10 attempts.
    defaultJobOptions: { ...keep, attempts: 10, backoff: { type: "exponential", delay: 2_000 } },
  },
  trading: {
    name: "trading",
    // Paper triggers every 5 s and reconciliation every 60 s (the signer's: both decrypt
    // exchange keys); each run is idempotent, so a failed one is simply superseded by the next.
    concurrency: 1,
    lockDurationMs: 60_000,
    defaultJobOptions: {
      removeOnComplete: { age: 3600, count: 100 },
      removeOnFail: { age: 24 * 3600 },
      attempts: 1,
    },
  },
  summaries: {
    name: "summaries",
    // The daily summaries every 10 minutes: read from the database, sent through the notifier;
    // no exchange key is decrypted, so they run on the worker, not the signer.
    concurrency: 1,
    lockDurationMs: 60_000,
    defaultJobOptions: {
      removeOnComplete: { age: 3600, count: 100 },
      removeOnFail: { age: 24 * 3600 },
      attempts: 1,
    },
  },
  signerIntents: {
    name: "signer-intents",
    concurrency: 4,
    // A live signer renews its lock while a venue call runs; a killed one's intent is back in
    // the queue soon and replays the trading use case's recorded outcome (./signer-intents.ts).
    lockDurationMs: 15_000,
    defaultJobOptions: {
      ...keep,
      // Retried only when an earlier attempt of the same intent died holding its idempotency
      // key: ~8 minutes, longer than open recovery (RECOVER_AFTER_MS) takes to settle it.
      attempts: 6,
      backoff: { type: "exponential", delay: 15_000 },
    },
  },
  signerKeys: {
    name: "signer-keys",
    concurrency: 4,
    // A live signer renews its lock while the venue checks the key's scopes.
    lockDurationMs: 30_000,
    defaultJobOptions: {
      ...keep,
      // One retry after an unexpected error (a database blip): the same job finds its own
      // intake claim and goes on; the envelope's expiry bounds how late that can be.
      attempts: 2,
      backoff: { type: "fixed", delay: 2_000 },
    },
  },
} as const satisfies Record<string, QueueDefinition>;

export type QueueName = keyof typeof QUEUE_DEFINITIONS;

/**
 * The lock a queue's workers take: the queue's own, or `maxMs` (JOB_LOCK_MAX_MS) if shorter.
 * It is also the stalled-job check interval, so a dead worker's job is back in the queue within
 * about three times this (the lock runs out, one check marks the job, the next moves it).
 */
export function lockDurationOf(def: QueueDefinition, maxMs?: number): number {
  return maxMs === undefined ? def.lockDurationMs : Math.min(def.lockDurationMs, maxMs);
}

export type Processor = (job: Job) => Promise<unknown>;
export type Processors = Partial<Record<QueueName, Processor>>;

export interface QueueRegistry {
  get(name: QueueName): Queue;
  close(): Promise<void>;
}

export function createQueueRegistry(connection: ConnectionOptions, prefix: string): QueueRegistry {
  const queues = new Map<QueueName, Queue>();
  return {
    get(name) {
      let q = queues.get(name);
      if (!q) {
        const def = QUEUE_DEFINITIONS[name];
        q = new Queue(def.name, { connection, prefix, defaultJobOptions: def.defaultJobOptions });
        q.on("error", () => {});
        queues.set(name, q);
      }
      return q;
    },
    async close() {
      await Promise.all([...queues.values()].map((q) => q.close()));
      queues.clear();
    },
  };
}

export interface WorkerPool {
  /**
   * Stops taking jobs and waits up to `graceMs` for running ones. Jobs still running then are
   * abandoned with their lock: another worker redelivers them when the lock expires, so a job
   * is completed or redelivered, never lost.
   */
  close(graceMs: number): Promise<{ abandoned: boolean }>;
}

export function startWorkers(opts: {
  connection: () => ConnectionOptions;
  prefix: string;
  processors: Processors;
  logger: Logger;
  /**
   * A job that failed for good (attempts used up, or refused as unrecoverable), or a worker
   * error: e.g. to the error reporter.
   */
  reportError?: (
    err: Error,
    context: { queue: string; job?: string; jobId?: string; attempts?: number },
  ) => void;
  /** Wraps every job, e.g. in an ORM RequestContext. */
  around?: <T>(fn: () => Promise<T>) => Promise<T>;
  /** JOB_LOCK_MAX_MS: caps every queue's lock (see lockDurationOf). */
  lockMaxMs?: number;
}): WorkerPool {
  const around = opts.around ?? ((fn) => fn());
  const workers: Worker[] = [];
  for (const [name, processor] of Object.entries(opts.processors) as [QueueName, Processor][]) {
    const def: QueueDefinition = QUEUE_DEFINITIONS[name];
    const lockMs = lockDurationOf(def, opts.lockMaxMs);
    const worker = new Worker(def.name, (job) => around(() => processor(job)), {
      connection: opts.connection(),
      prefix: opts.prefix,
      concurrency: def.concurrency,
      lockDuration: lockMs,
      stalledInterval: lockMs,
      // A job may be redelivered after a crash more than once before it counts as failed.
      maxStalledCount: 3,
    });
    worker.on("failed", (job, err) => {
      opts.logger.warn(
        { queue: def.name, job: job?.name, jobId: job?.id, attempt: job?.attemptsMade, err },
        "job failed",
      );
      const final =
        err.name === "UnrecoverableError" || (job?.attemptsMade ?? 0) >= (job?.opts.attempts ?? 1);
      if (final) {
        opts.reportError?.(err, {
          queue: def.name,
          job: job?.name,
          jobId: job?.id,
          attempts: job?.attemptsMade,
        });
      }
    });
    worker.on("error", (err) => {
      opts.logger.error({ queue: def.name, err }, "worker error");
      opts.reportError?.(err, { queue: def.name });
    });
    workers.push(worker);
  }
  return {
    async close(graceMs) {
      let timer: NodeJS.Timeout | undefined;
      const graceful = Promise.all(workers.map((w) => w.close())).then(() => "done" as const);
      const timeout = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), graceMs);
      });
      const outcome = await Promise.race([graceful, timeout]);
      clearTimeout(timer);
      // BullMQ's close(true) would return the graceful close already under way and keep
      // waiting, so on timeout we stop waiting instead: once the connections close, the job's
      // lock is no longer renewed and another worker's stalled-job check redelivers it.
      graceful.catch(() => {});
      return { abandoned: outcome === "timeout" };
    },
  };
}
