// Encrypted backups on disk: `pg_dump --format=custom` streamed through the backup format
// (src/domain/backup) into a 0600 file written atomically; verification; restore that verifies
// the whole file before a second, decrypting pass feeds `pg_restore`; retention of the newest N.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { open, readdir, rename, stat, unlink } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import pg from "pg";
import {
  BackupFormatError,
  type BackupSummary,
  createBackupDecryptor,
  createBackupEncryptor,
} from "../domain/backup";
import { type FernetKey, parseFernetKey } from "../domain/vault/fernet";
import { pgClientConfig, pgToolEnv } from "./database";

export const BACKUP_CONTENT = "pg_dump custom format";
// UTC time to the millisecond, so names sort in the order the backups were made.
const NAME_PATTERN = /^warden-backup-\d{8}T\d{9}Z-[0-9a-f]{8}\.wbk$/;
const STDERR_LIMIT = 8_192;
// Reads of one chunk: fewer pieces to join into each token line than the 64 KiB default.
const READ_OPTIONS = { highWaterMark: 1 << 20 };

export interface PgTarget {
  /** A postgres:// URL; its password never reaches a command line. */
  url: string;
  /** CA bundle path: TLS with full verification, as the service itself connects. */
  sslCa?: string | undefined;
}

/**
 * How a libpq tool (pg_dump, pg_restore) reaches a database: the URL without its password as
 * `--dbname`, the password in the environment, and the same verify-full TLS as the service's own
 * connections (`pgToolEnv` of database.ts).
 */
export function libpqTarget(target: PgTarget): { dbname: string; env: NodeJS.ProcessEnv } {
  const u = new URL(target.url);
  const env: NodeJS.ProcessEnv = { ...process.env };
  // Nothing from the caller's own libpq environment may redirect the tool elsewhere or weaken
  // its TLS; a password file (PGPASSFILE) only supplies passwords and stays.
  for (const k of Object.keys(env)) if (k.startsWith("PG") && k !== "PGPASSFILE") delete env[k];
  if (u.password) env.PGPASSWORD = decodeURIComponent(u.password);
  u.password = "";
  // libpq lets a URL's own parameters (sslmode, sslrootcert, host, hostaddr, …) override the
  // environment: none reaches the tool, whatever URL it was given (e.g. restore --database).
  u.search = "";
  u.hash = "";
  Object.assign(env, pgToolEnv({ databaseSslCa: target.sslCa }));
  return { dbname: u.toString(), env };
}

export interface BackupTools {
  /** Directory of pg_dump and pg_restore; PATH when undefined. */
  binDir?: string | undefined;
}

const bin = (tools: BackupTools, name: string) => (tools.binDir ? join(tools.binDir, name) : name);

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, mode: "dump" | "restore") {
  const child = spawn(cmd, args, {
    env,
    stdio: mode === "dump" ? ["ignore", "pipe", "pipe"] : ["pipe", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    if (stderr.length < STDERR_LIMIT) stderr += d.toString("utf8");
  });
  const exited = new Promise<void>((resolve, reject) => {
    child.once("error", (err) => reject(new Error(`${cmd} could not start: ${err.message}`)));
    child.once("close", (code, signal) => {
      if (code === 0) resolve();
      else
        reject(
          new Error(
            `${cmd.split("/").pop()} failed (${signal ?? `exit ${code}`}): ${stderr.trim().slice(0, 2_000)}`,
          ),
        );
    });
  });
  exited.catch(() => {});
  return { child, exited };
}

function backupFileName(finishedAt: Date, backupId: string): string {
  const stamp = finishedAt.toISOString().replace(/[-:.]/g, "");
  return `warden-backup-${stamp}-${backupId.slice(0, 8)}.wbk`;
}

export interface CreatedBackup extends BackupSummary {
  path: string;
  fileBytes: number;
}

/**
 * Dumps the database into `outDir`: a temporary 0600 file, fsynced, then renamed to its final
 * name (and the directory fsynced), so a crash never leaves a half-written file under a backup
 * name. Only the chunk being encrypted is held in memory.
 */
export async function createBackup(opts: {
  source: PgTarget;
  key: string | FernetKey;
  outDir: string;
  tools?: BackupTools;
  /** Dump bytes per chunk (default 1 MiB); small values make many chunks for tests. */
  chunkBytes?: number;
}): Promise<CreatedBackup> {
  const key = typeof opts.key === "string" ? parseFernetKey(opts.key) : opts.key;
  const { dbname, env } = libpqTarget(opts.source);
  const database = decodeURIComponent(new URL(opts.source.url).pathname.slice(1));
  const encryptor = createBackupEncryptor({
    key,
    content: BACKUP_CONTENT,
    database,
    chunkBytes: opts.chunkBytes,
  });
  // A process killed mid-dump (SIGKILL, OOM) leaves its partial file behind: never counted as a
  // backup (listBackups reads final names only), and removed by the next backup made here.
  await removeDeadPartials(opts.outDir);
  const temp = join(
    opts.outDir,
    `.warden-backup-${partialOwner()}-${randomBytes(8).toString("hex")}.partial`,
  );
  let renamed = false;
  try {
    const dump = run(
      bin(opts.tools ?? {}, "pg_dump"),
      ["--format=custom", "--no-password", `--dbname=${dbname}`],
      env,
      "dump",
    );
    // "wx": never overwrite; 0600 from the first byte; flush: fsync before the stream closes.
    const sink = createWriteStream(temp, { flags: "wx", mode: 0o600, flush: true });
    try {
      await pipeline(dump.child.stdout!, encryptor, sink);
    } catch (err) {
      dump.child.kill("SIGKILL");
      await dump.exited.catch(() => {});
      throw err;
    }
    await dump.exited;
    const summary = encryptor.summary();
    const path = join(opts.outDir, backupFileName(new Date(), summary.header.backupId));
    await rename(temp, path);
    renamed = true;
    await syncDir(opts.outDir);
    return { ...summary, path, fileBytes: (await stat(path)).size };
  } finally {
    if (!renamed) await unlink(temp).catch(() => {});
  }
}

/** Whose partial file this is: the host and process writing it, so another can tell it died. */
const partialOwner = () => `${hostname().replace(/[^A-Za-z0-9.-]/g, "_")}-${process.pid}`;
const PARTIAL_PATTERN = /^\.warden-backup-(.+)-(\d+)-[0-9a-f]{16}\.partial$/;

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists under another user.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Deletes partial files whose writer (on this host) is gone; others' are left alone. */
async function removeDeadPartials(dir: string): Promise<void> {
  const host = partialOwner().replace(/-\d+$/, "");
  for (const name of await readdir(dir)) {
    const m = PARTIAL_PATTERN.exec(name);
    if (!m || m[1] !== host || processAlive(Number(m[2]))) continue;
    await unlink(join(dir, name)).catch(() => {});
  }
}

async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, "r");
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

const discard = () =>
  new Writable({
    write(_chunk, _enc, cb) {
      cb();
    },
  });

/** Reads the whole file and checks every chunk; throws BackupFormatError on the first problem. */
export async function verifyBackup(path: string, key: string | FernetKey): Promise<BackupSummary> {
  const k = typeof key === "string" ? parseFernetKey(key) : key;
  // Every token is authenticated and checked; the dump bytes themselves need not be decrypted.
  const decryptor = createBackupDecryptor({ key: k, verifyOnly: true });
  await pipeline(createReadStream(path, READ_OPTIONS), decryptor, discard());
  return decryptor.summary();
}

/**
 * Restores a backup into `target`. The whole file is verified first; only then does a second
 * pass decrypt it into `pg_restore --single-transaction --exit-on-error`. Should the second pass
 * read anything different (the file changed in between), pg_restore is killed before it sees
 * the end of its input, so its transaction never commits: nothing is restored.
 */
export async function restoreBackup(opts: {
  path: string;
  key: string | FernetKey;
  target: PgTarget;
  tools?: BackupTools;
  /** pg_restore --no-owner: objects belong to the restoring role. */
  noOwner?: boolean;
  /** Called when the verifying pass has read the whole file (progress, benchmarks). */
  onVerified?: (summary: BackupSummary) => void;
}): Promise<BackupSummary> {
  const key = typeof opts.key === "string" ? parseFernetKey(opts.key) : opts.key;
  const verified = await verifyBackup(opts.path, key);
  opts.onVerified?.(verified);
  await assertEmpty(opts.target);
  const { dbname, env } = libpqTarget(opts.target);
  const restore = run(
    bin(opts.tools ?? {}, "pg_restore"),
    [
      "--single-transaction",
      "--exit-on-error",
      "--no-password",
      ...(opts.noOwner ? ["--no-owner"] : []),
      `--dbname=${dbname}`,
    ],
    env,
    "restore",
  );
  const decryptor = createBackupDecryptor({ key, expectBackupId: verified.header.backupId });
  // Registered before pipeline() so it runs before pipeline closes pg_restore's stdin.
  const abort = () => killNow(restore.child);
  decryptor.once("error", abort);
  try {
    await pipeline(createReadStream(opts.path, READ_OPTIONS), decryptor, restore.child.stdin!);
  } catch (err) {
    abort();
    await restore.exited.catch(() => {});
    if (err instanceof BackupFormatError) throw err;
    // pg_restore exiting early closes its stdin; its own error says more than EPIPE.
    await restore.exited;
    throw err;
  }
  await restore.exited;
  const second = decryptor.summary();
  if (second.chunks !== verified.chunks || second.bytes !== verified.bytes) {
    throw new BackupFormatError("malformed", "the file changed while it was being restored");
  }
  return second;
}

/** The target must hold no tables: a restore never merges into, or lands on, a live database. */
async function assertEmpty(target: PgTarget): Promise<void> {
  const client = new pg.Client(pgClientConfig(target.url, target.sslCa));
  await client.connect();
  try {
    const { rows } = await client.query<{ n: number }>(
      "select count(*)::int as n from pg_class c join pg_namespace s on s.oid = c.relnamespace where c.relkind in ('r', 'p', 'v', 'm', 'S') and s.nspname not in ('pg_catalog', 'information_schema') and s.nspname not like 'pg_toast%'",
    );
    if ((rows[0]?.n ?? 0) > 0) {
      throw new Error(
        `the target database is not empty (${rows[0]!.n} relations): restore into a new, empty database`,
      );
    }
  } finally {
    await client.end();
  }
}

function killNow(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
}

/** Backups in `dir` (by Warden's file names only), oldest first. */
export async function listBackups(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => NAME_PATTERN.test(n)).sort();
}

/** Deletes all but the newest `keep` backups; never touches other files. Returns what it deleted. */
export async function pruneBackups(dir: string, keep: number): Promise<string[]> {
  if (!Number.isInteger(keep) || keep < 1) throw new RangeError("keep must be at least 1");
  const all = await listBackups(dir);
  const doomed = all.slice(0, Math.max(0, all.length - keep));
  for (const name of doomed) await unlink(join(dir, name));
  return doomed;
}
