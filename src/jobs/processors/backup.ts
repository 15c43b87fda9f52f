// The `backup` queue: `create` writes an encrypted backup to BACKUP_DIR and keeps the newest
// BACKUP_KEEP. The job carries no data: the key and the database come from configuration.
import { type Job, type Queue, UnrecoverableError } from "bullmq";
import { type BackupTools, createBackup, type PgTarget, pruneBackups } from "../../infra/backup";
import type { Logger } from "../../infra/logger";

export const BACKUP_SCHEDULER_ID = "backup-daily";

export interface BackupJobDeps {
  source: PgTarget;
  key: string;
  dir: string;
  keep: number;
  tools: BackupTools;
  logger: Logger;
}

export function createBackupProcessor(deps: BackupJobDeps) {
  return async (job: Job) => {
    if (job.name !== "create")
      throw new UnrecoverableError(`backup queue: unknown job "${job.name}"`);
    const b = await createBackup({
      source: deps.source,
      key: deps.key,
      outDir: deps.dir,
      tools: deps.tools,
    });
    // Older backups go only after the new one is complete under its final name.
    const pruned = await pruneBackups(deps.dir, deps.keep);
    deps.logger.info(
      { file: b.path, bytes: b.fileBytes, chunks: b.chunks, pruned: pruned.length },
      "backup written",
    );
    return { file: b.path, bytes: b.fileBytes, chunks: b.chunks, pruned };
  };
}

/** Registers the daily backup idempotently (stable scheduler id). */
export async function scheduleBackups(queue: Queue, pattern: string): Promise<void> {
  await queue.waitUntilReady();
  await queue.upsertJobScheduler(
    BACKUP_SCHEDULER_ID,
    { pattern, tz: "UTC" },
    { name: "create", data: {} },
  );
}
