// CLI area: Encrypted backups: create, verify, restore (S9.3).
import { parseArgs } from "node:util";
import { BackupFormatError, type BackupSummary } from "../domain/backup";
import { createBackup, restoreBackup, verifyBackup } from "../infra/backup";
import { config } from "./context";
import type { CliIo, Command } from "./registry";

function describeBackup(s: BackupSummary): string {
  const mb = (s.bytes / 1_048_576).toFixed(1);
  return `backup ${s.header.backupId} of ${s.header.database ?? "?"} from ${s.header.createdAt}: ${s.chunks} chunk(s), ${mb} MiB of ${s.header.content}`;
}

/** Runs a backup operation; a file that does not verify exits 1 with the reason. */
async function backupOutcome(io: CliIo, fn: () => Promise<string>): Promise<number> {
  try {
    io.out(await fn());
    return 0;
  } catch (err) {
    if (err instanceof BackupFormatError) {
      io.err(`backup does not verify (${err.code}): ${err.message}; nothing was restored`);
      return 1;
    }
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      io.err(`no such file or directory: ${(err as NodeJS.ErrnoException).path ?? ""}`);
      return 1;
    }
    throw err;
  }
}

export const BACKUP_COMMANDS: Record<string, Command> = {
  "backup create": {
    usage: "backup create [--out DIR]",
    summary:
      "pg_dump the database, encrypted under BACKUP_ENCRYPTION_KEY, into DIR (or BACKUP_DIR)",
    async run(args, io) {
      const { values } = parseArgs({ args, options: { out: { type: "string" } } });
      const c = await config();
      const outDir = values.out ?? c.backup.dir;
      if (!outDir) {
        io.err("usage: npm run cli -- backup create --out DIR (or set BACKUP_DIR)");
        return 2;
      }
      return backupOutcome(io, async () => {
        const b = await createBackup({
          source: { url: c.backup.databaseUrl, sslCa: c.databaseSslCa },
          key: c.backupEncryptionKey,
          outDir,
          tools: { binDir: c.backup.pgBinDir },
        });
        return `wrote ${b.path} (${b.fileBytes} bytes): ${describeBackup(b)}`;
      });
    },
  },
  "backup verify": {
    usage: "backup verify FILE",
    summary: "check every chunk of a backup (authenticity, order, completeness) without restoring",
    async run(args, io) {
      const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
      if (positionals.length !== 1) {
        io.err("usage: npm run cli -- backup verify FILE");
        return 2;
      }
      const c = await config();
      return backupOutcome(io, async () => {
        return `verified ${describeBackup(await verifyBackup(positionals[0]!, c.backupEncryptionKey))}`;
      });
    },
  },
  "backup restore": {
    usage: "backup restore FILE --database URL [--no-owner]",
    summary: "verify a backup completely, then restore it into the (empty) database at URL",
    async run(args, io) {
      const { values, positionals } = parseArgs({
        args,
        allowPositionals: true,
        options: { database: { type: "string" }, "no-owner": { type: "boolean" } },
      });
      let target: URL | undefined;
      try {
        target = values.database ? new URL(values.database) : undefined;
      } catch {
        target = undefined;
      }
      if (positionals.length !== 1 || !target || !/^postgres(ql)?:$/.test(target.protocol)) {
        io.err("usage: npm run cli -- backup restore FILE --database postgres://…/EMPTY_DATABASE");
        return 2;
      }
      const c = await config();
      return backupOutcome(io, async () => {
        const s = await restoreBackup({
          path: positionals[0]!,
          key: c.backupEncryptionKey,
          target: { url: values.database!, sslCa: c.databaseSslCa },
          tools: { binDir: c.backup.pgBinDir },
          noOwner: values["no-owner"] ?? false,
        });
        return `restored ${describeBackup(s)} into ${target.pathname.slice(1)}`;
      });
    },
  },
};
