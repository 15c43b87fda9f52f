// The signer benchmark's stage: a scratch database, signer processes started as production starts
// them (`src/main.ts --roles signer`), each group on a Redis prefix of its own so that one caller
// reaches one signer and another reaches two, and in this process the trading surfaces the api
// role builds: "direct" (the use cases here) and "remote" (intents to the signers).
import { randomBytes } from "node:crypto";
import { pino } from "pino";
import { accountKeysOf, loadConfig, requireMasterKeys } from "../src/infra/config";
import { createRedisFactory } from "../src/infra/redis";
import { createQueueRegistry } from "../src/jobs/registry";
import { startShared, withoutKeyRing } from "../src/roles/shared";
import { createSignerConsumers } from "../src/roles/signer";
import { type CallerTrading, createCallerTrading } from "../src/wiring/caller-trading";
import { baseEnv, type Spawned, spawnProcess } from "../test/support/process";
import { seedPaperUsers } from "../test/support/trading-fixtures";
import { cleanRedisPrefix, dropBenchDatabase, testEnvForBench } from "./support";

const SERVER = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432";
const REDIS_URL = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";

export interface SignerStage {
  /** The use cases in this process, as an api process that runs the signer role uses them. */
  direct: CallerTrading;
  /** Intents to the prefix served by one signer process. */
  oneSigner: CallerTrading;
  /** Intents to the prefix served by two signer processes. */
  twoSigners: CallerTrading;
  /** Paper users (one paper key each), `count` per call, never shared between calls. */
  users(count: number): Promise<string[]>;
  close(): Promise<void>;
}

export async function startSignerStage(opts: {
  log: (line: string) => void;
}): Promise<SignerStage> {
  const tag = randomBytes(4).toString("hex");
  const dbName = `warden_bench_${tag}`;
  const dbUrl = `${SERVER}/${dbName}`;
  const prefixes = [`warden_bench_signer:${tag}:a:`, `warden_bench_signer:${tag}:b:`] as const;
  const secrets = testEnvForBench();
  const envFor = (prefix: string) => ({
    ...secrets,
    NODE_ENV: "test",
    DATABASE_URL: dbUrl,
    REDIS_URL,
    REDIS_PREFIX: prefix,
    // The deterministic paper prices: nothing leaves 127.0.0.1.
    PAPER_PRICES: "feed",
    SANDBOX: "off",
    // "… role started" at info tells that the signer is up.
    LOG_LEVEL: "info",
  });
  const stops: Array<() => Promise<void>> = [];
  const procs: Spawned[] = [];
  const stopAll = async () => {
    for (const p of procs) p.kill("SIGTERM");
    await Promise.all(
      procs.map((p) =>
        Promise.race([p.exited, new Promise((r) => setTimeout(r, 10_000))]).then(() =>
          p.kill("SIGKILL"),
        ),
      ),
    );
    for (const stop of stops.splice(0).reverse()) await stop().catch(() => {});
    await dropBenchDatabase(SERVER, dbName);
    for (const prefix of prefixes) await cleanRedisPrefix(REDIS_URL, prefix);
  };
  try {
    // This process migrates the database first (as warden-migrate would), then the signers start.
    const config = loadConfig({ ...envFor(prefixes[0]), LOG_LEVEL: "warn" });
    const logger = pino({ level: "silent" });
    const roleConfig = withoutKeyRing(config);
    const accountKeys = accountKeysOf(config);
    const { shared, stop } = await startShared(roleConfig, {
      logger,
      keyRing: config.masterKeys,
      accountKeyRing: accountKeys.ring,
    });
    stops.push(stop);

    const signerGroups = [
      [prefixes[0], 1],
      [prefixes[1], 2],
    ] as const;
    for (const [prefix, n] of signerGroups) {
      for (let i = 0; i < n; i++) {
        procs.push(
          spawnProcess(
            "node",
            ["--import", "tsx", "src/main.ts", "--roles", "signer"],
            baseEnv(envFor(prefix)),
          ),
        );
      }
    }

    // The signer's own consumers of the key ring, built here for the in-process anchor.
    const { trade, cockpit } = createSignerConsumers(roleConfig, {
      shared,
      keyRing: requireMasterKeys(config),
      accountKeys,
      logger,
      now: Date.now,
    });
    const direct = createCallerTrading("direct", { cockpit, trade, orm: shared.orm });
    // One remote caller per prefix, wired as src/roles/services.ts wires an api process's.
    const remoteOn = (prefix: string) => {
      const redis =
        prefix === prefixes[0]
          ? shared.redis
          : createRedisFactory({ url: REDIS_URL, keyPrefix: prefix });
      const queues =
        prefix === prefixes[0]
          ? shared.queues
          : createQueueRegistry(redis.create("producer", "queues"), redis.bullPrefix);
      if (prefix !== prefixes[0]) {
        stops.push(async () => {
          await queues.close();
          await redis.closeAll();
        });
      }
      const remote = createCallerTrading("remote", {
        cockpit,
        trade,
        orm: shared.orm,
        queue: queues.get("signerIntents"),
        eventsConnection: () => redis.create("worker", "signer-events"),
        bullPrefix: redis.bullPrefix,
        redis: prefix === prefixes[0] ? shared.appRedis : redis.create("client", "app"),
      });
      stops.push(() => remote.close());
      return remote;
    };
    const oneSigner = remoteOn(prefixes[0]);
    const twoSigners = remoteOn(prefixes[1]);

    await Promise.all(procs.map((p) => p.waitForOutput(/signer role started/, 120_000)));
    opts.log(`signers up: 1 on prefix …:a:, 2 on prefix …:b: (database ${dbName})`);

    let nextTelegramId = 9_300_000;
    return {
      direct,
      oneSigner,
      twoSigners,
      async users(count) {
        const ids = await seedPaperUsers(shared.orm, count, nextTelegramId);
        nextTelegramId += count;
        return ids;
      },
      async close() {
        for (const p of procs) {
          if (p.child.exitCode !== null) opts.log(`a signer exited early:\n${p.output()}`);
        }
        await stopAll();
      },
    };
  } catch (err) {
    for (const p of procs) {
      if (p.child.exitCode !== null) opts.log(`signer output:\n${p.output().slice(-4000)}`);
    }
    await stopAll();
    throw err;
  }
}
