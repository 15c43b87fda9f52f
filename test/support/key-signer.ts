// A signer on the `signer-keys` queue for tests (issue 19): the real processor built by the
// signer role's factory (signerKeyIntake), the real key service with the master key ring, and
// the fake venues named in the environment; the api or bot under test run without it.
import type { MikroORM } from "@mikro-orm/postgresql";
import { Queue, QueueEvents } from "bullmq";
import { pino } from "pino";
import type { IntakeKeyRing } from "../../src/domain/vault";
import type { Config } from "../../src/infra/config";
import { requireMasterKeys } from "../../src/infra/config";
import { preparedSqlOf } from "../../src/infra/database";
import { createVenues } from "../../src/infra/venues";
import { QUEUE_DEFINITIONS, startWorkers, type WorkerPool } from "../../src/jobs/registry";
import { createSignerKeyClient, type SignerKeyClient } from "../../src/jobs/signer-keys";
import { createKeys } from "../../src/wiring/keys";
import { signerKeyIntake } from "../../src/wiring/sealed-keys";

/**
 * The signer's `signer-keys` processor itself, to run a job by hand (twice, as a redelivery
 * would); `now` is the signer's clock.
 */
export async function createTestKeyProcessor(opts: {
  orm: MikroORM;
  /** The service's configuration: MASTER_KEYS and the venue URLs. */
  config: Config;
  intakeKeys: IntakeKeyRing;
  now?: () => number;
}) {
  const { config } = opts;
  const venues = createVenues({ sql: preparedSqlOf(opts.orm), urls: config.venueUrls });
  const keys = createKeys(config, {
    keyRing: requireMasterKeys(config),
    orm: opts.orm,
    logger: pino({ level: "silent" }),
    venues,
  });
  return signerKeyIntake({ orm: opts.orm, keys, intakeKeys: opts.intakeKeys, now: opts.now });
}

export async function startTestKeySigner(opts: {
  orm: MikroORM;
  /** The service's configuration: MASTER_KEYS and the venue URLs. */
  config: Config;
  redisUrl: string;
  bullPrefix: string;
  intakeKeys: IntakeKeyRing;
}): Promise<WorkerPool> {
  const processor = await createTestKeyProcessor(opts);
  return startWorkers({
    connection: () => ({ url: opts.redisUrl, maxRetriesPerRequest: null }),
    prefix: opts.bullPrefix,
    processors: { signerKeys: processor },
    logger: pino({ level: "silent" }),
  });
}

/** A client of the `signer-keys` queue, as an attacker with Redis access could file jobs. */
export async function keyQueueClient(redisUrl: string, bullPrefix: string) {
  const name = QUEUE_DEFINITIONS.signerKeys.name;
  const queue = new Queue(name, {
    connection: { url: redisUrl },
    prefix: bullPrefix,
    defaultJobOptions: QUEUE_DEFINITIONS.signerKeys.defaultJobOptions,
  });
  const events = new QueueEvents(name, { connection: { url: redisUrl }, prefix: bullPrefix });
  await events.waitUntilReady();
  const client: SignerKeyClient = createSignerKeyClient({ queue, events });
  return {
    queue,
    events,
    client,
    async close() {
      await events.close();
      await queue.close();
    },
  };
}
