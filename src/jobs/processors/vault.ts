// The `vault` queue: `rotate` re-encrypts every row below its ring's current key version, for
// each ring this process holds (MASTER_KEYS: exchange keys; ACCOUNT_KEYS: account secrets).
// The job carries no data at all: the keys come from this process's configuration.
import { type Job, type Queue, UnrecoverableError } from "bullmq";
import {
  ENCRYPTED_TABLES,
  type EncryptedTable,
  type KeyRing,
  RING_VARIABLE,
  type RingName,
  type RotationReport,
  rotateAll,
  UnknownKeyVersion,
  type VaultStore,
} from "../../domain/vault";
import type { Logger } from "../../infra/logger";

export const ROTATION_SCHEDULER_ID = "vault-rotation";
/** While one on-demand rotation waits or runs, asking again adds nothing. */
export const ROTATION_DEDUP_ID = "vault-rotate-on-demand";

export function createVaultProcessor(deps: {
  store: VaultStore;
  /** Each ring's rows are rotated by it, one ring after the other. */
  rings: readonly KeyRing[];
  /** The entries to rotate (each under its own ring); every encrypted table by default. */
  tables?: readonly EncryptedTable[];
  logger: Logger;
}) {
  return async (job: Job): Promise<Partial<Record<RingName, RotationReport>>> => {
    switch (job.name) {
      case "rotate": {
        try {
          const reports: Partial<Record<RingName, RotationReport>> = {};
          for (const keyRing of deps.rings) {
            const report = await rotateAll({
              store: deps.store,
              keyRing,
              tables: deps.tables ?? ENCRYPTED_TABLES,
              onProgress: (p) => job.updateProgress({ ring: keyRing.ring, ...p }),
            });
            reports[keyRing.ring] = report;
            const rotated = report.tables.reduce((n, t) => n + t.rotated, 0);
            if (rotated > 0 || report.remaining > 0) {
              deps.logger.info(
                {
                  ring: RING_VARIABLE[keyRing.ring],
                  toVersion: report.toVersion,
                  rotated,
                  remaining: report.remaining,
                  failed: report.failedIds.length,
                },
                `${keyRing.ring} key rotation finished`,
              );
            }
          }
          return reports;
        } catch (err) {
          // A missing key version will not appear by retrying; the canary should have caught it.
          if (err instanceof UnknownKeyVersion) throw new UnrecoverableError(err.message);
          throw err;
        }
      }
      default:
        throw new UnrecoverableError(`vault queue: unknown job "${job.name}"`);
    }
  };
}

/** Registers the daily rotation idempotently (stable scheduler id). */
export async function scheduleRotation(queue: Queue, pattern: string): Promise<void> {
  await queue.waitUntilReady();
  await queue.upsertJobScheduler(
    ROTATION_SCHEDULER_ID,
    { pattern, tz: "UTC" },
    { name: "rotate", data: {} },
  );
}

export async function requestRotation(queue: Queue): Promise<string | undefined> {
  await queue.waitUntilReady();
  const job = await queue.add("rotate", {}, { deduplication: { id: ROTATION_DEDUP_ID } });
  return job.id;
}
