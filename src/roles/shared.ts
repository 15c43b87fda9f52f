// What every role of one process shares: the logger and error reports, the database, Redis and
// the queues. The roles receive the configuration without the key rings (RoleConfig).
import type { AccountKeyRing, ExchangeKeyRing } from "../domain/vault";
import {
  accountMoves,
  ENCRYPTED_TABLES,
  KeyRingCoverageError,
  type VaultStore,
  verifyKeyRingCoverage,
} from "../domain/vault";
import type { Config, Role } from "../infra/config";
import { createOrm, prepareDatabase, preparedSqlOf } from "../infra/database";
import { createLogger, type Logger } from "../infra/logger";
import { createOneTimeTokenStore } from "../infra/one-time-tokens";
import { createRateLimiter } from "../infra/rate-limit";
import { createRedisFactory, type RedisFactory } from "../infra/redis";
import { createScrubber } from "../infra/scrub";
import { createErrorReporter, type ErrorReporter } from "../infra/sentry";
import { createVaultStore } from "../infra/vault-store";
import { createQueueRegistry, type QueueRegistry } from "../jobs/registry";

/**
 * How long the signer's running intents may finish after a stop signal before they are left for
 * redelivery (here, not in ./signer.ts, which only a signer process loads).
 */
export const SIGNER_GRACE_MS = 6_000;

/**
 * The configuration a role sees: everything but the key rings (MASTER_KEYS, ACCOUNT_KEYS),
 * which a role that needs one receives as a parameter of its own, so that its signature says so,
 * and but the secret strings kept for the scrubber (`secretValues`: the process's scrubber, built
 * once in createObservability, is what holds them).
 */
export type RoleConfig = Omit<Config, "masterKeys" | "accountKeys" | "secretValues">;

export function withoutKeyRing(config: Config): RoleConfig {
  const {
    masterKeys: _ring,
    accountKeys: _accountRing,
    secretValues: _secretValues,
    ...rest
  } = config;
  return rest;
}

/** Stops what a role started, in reverse order; one failed step does not skip the others. */
export type Stop = () => Promise<void>;

export function stopStack(logger: Logger) {
  const steps: Array<{ name: string; step: Stop }> = [];
  return {
    add(name: string, step: Stop) {
      steps.push({ name, step });
    },
    async stop() {
      let failed: unknown;
      for (const { name, step } of steps.splice(0).reverse()) {
        try {
          await step();
          logger.debug({ step: name }, "stopped");
        } catch (err) {
          failed ??= err;
          logger.error({ step: name, err }, "shutdown step failed");
        }
      }
      if (failed !== undefined) throw failed;
    },
  };
}

/** The process log (secrets scrubbed) and error reports (Sentry when SENTRY_DSN is set). */
export function createObservability(config: Config, roles: Role[], logger?: Logger) {
  const scrubber = createScrubber(config.secretValues);
  const log =
    logger ??
    createLogger({ level: config.logLevel, pretty: config.nodeEnv === "development", scrubber });
  const reporter: ErrorReporter = createErrorReporter({
    dsn: config.sentryDsn,
    environment: config.nodeEnv,
    roles,
    scrubber,
    logger: log,
  });
  return { logger: log, reporter };
}

export interface Shared {
  orm: Awaited<ReturnType<typeof createOrm>>;
  redis: RedisFactory;
  /** The ordinary commands' connection (tokens, limits, dedup, publishing). */
  appRedis: ReturnType<RedisFactory["create"]>;
  rateLimiter: ReturnType<typeof createRateLimiter>;
  tokens: ReturnType<typeof createOneTimeTokenStore>;
  queues: QueueRegistry;
  vaultStore: ReturnType<typeof createVaultStore>;
}

/**
 * A process without MASTER_KEYS (no signer role) opens account secrets with ACCOUNT_KEYS only:
 * rows still under the master ring stop its start-up, naming both variables and the fix.
 */
async function refuseLegacyAccountSecrets(store: VaultStore): Promise<void> {
  for (const { from } of accountMoves(ENCRYPTED_TABLES)) {
    const rows = (await store.versionCounts(from)).reduce((n, v) => n + v.rows, 0);
    if (rows > 0) {
      throw new KeyRingCoverageError(
        `${rows} account secret row(s) in ${from.table} are still under MASTER_KEYS, which this ` +
          "process does not hold (only the signer does): run `account-key migrate` to move them " +
          "under ACCOUNT_KEYS first",
      );
    }
  }
}

/**
 * Migrates and opens the database, refuses a key ring that cannot decrypt what is stored, and
 * opens Redis and the queues. The rings are used for that check only.
 */
export async function startShared(
  config: RoleConfig,
  deps: {
    logger: Logger;
    /** MASTER_KEYS, where this process has it (the signer role's processes). */
    keyRing: ExchangeKeyRing | undefined;
    accountKeyRing: AccountKeyRing;
  },
): Promise<{ shared: Shared; stop: Stop }> {
  const { logger } = deps;
  const stack = stopStack(logger);
  try {
    const prepared = await prepareDatabase({
      url: config.databaseUrl,
      ownerUrl: config.databaseOwnerUrl,
      sslCa: config.databaseSslCa,
      create: config.nodeEnv !== "production",
    });
    if (prepared.created) logger.info("created the database");
    if (prepared.applied.length > 0)
      logger.info({ migrations: prepared.applied }, "applied migrations");
    const orm = await createOrm({ url: config.databaseUrl, sslCa: config.databaseSslCa, logger });
    stack.add("database", () => orm.close());
    // S1.2: refuse to run with a key ring that cannot decrypt what is stored under it.
    const vaultStore = createVaultStore(preparedSqlOf(orm));
    for (const keyRing of [deps.keyRing, deps.accountKeyRing]) {
      if (keyRing) {
        await verifyKeyRingCoverage({ store: vaultStore, keyRing, tables: ENCRYPTED_TABLES });
      }
    }
    // Without MASTER_KEYS, account secrets sealed under it before the split cannot be opened.
    if (!deps.keyRing) await refuseLegacyAccountSecrets(vaultStore);

    const redis = createRedisFactory({ url: config.redisUrl, keyPrefix: config.redisPrefix });
    stack.add("redis", () => redis.closeAll());
    const appRedis = redis.create("client", "app");
    const queues = createQueueRegistry(redis.create("producer", "queues"), redis.bullPrefix);
    stack.add("queues", () => queues.close());
    // Connect the producer now, without making start-up wait for Redis: /readyz reports it.
    queues
      .get("email")
      .waitUntilReady()
      .catch(() => {});
    const shared: Shared = {
      orm,
      redis,
      appRedis,
      rateLimiter: createRateLimiter(appRedis),
      tokens: createOneTimeTokenStore(appRedis),
      queues,
      vaultStore,
    };
    return { shared, stop: () => stack.stop() };
  } catch (err) {
    await stack.stop().catch(() => {});
    throw err;
  }
}
