// Operator CLI: `npm run cli -- <command>`. Each command reads the same configuration as the
// service and prints a short, scrubbed result; the exit code tells success.
import { parseArgs } from "node:util";
import { QueueEvents } from "bullmq";
import { auditSubject, CHAIN_BREAK_EXPLANATIONS, verifyAuditLog } from "./domain/audit";
import { BackupFormatError, type BackupSummary } from "./domain/backup";
import { createKillSwitch, KillSwitchError, type PauseTarget } from "./domain/trading/pause";
import { ENCRYPTED_TABLES, generateFernetKey, rotateAll } from "./domain/vault";
import { createAccountsRepo } from "./infra/accounts-repo";
import { createAuditChainReader, exportForSubject } from "./infra/audit-log";
import { createBackup, restoreBackup, verifyBackup } from "./infra/backup";
import { type Config, ConfigError, loadConfig } from "./infra/config";
import {
  createOrm,
  pendingMigrations,
  prepareDatabase,
  preparedSqlOf,
  sqlOf,
} from "./infra/database";
import { createPauseStore } from "./infra/pause-store";
import { createRedisFactory } from "./infra/redis";
import { createScrubber } from "./infra/scrub";
import { createVaultStore } from "./infra/vault-store";
import { requestRotation } from "./jobs/processors/vault";
import { createQueueRegistry } from "./jobs/registry";
import { prepareEnv } from "./main";

export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

interface Command {
  usage: string;
  summary: string;
  run(args: string[], io: CliIo): Promise<number>;
}

function config(): Config {
  return loadConfig(prepareEnv(process.env).env);
}

async function withOrm<T>(
  c: Config,
  fn: (orm: Awaited<ReturnType<typeof createOrm>>) => Promise<T>,
) {
  const orm = await createOrm({ url: c.databaseUrl, sslCa: c.databaseSslCa, poolMax: 2 });
  try {
    return await fn(orm);
  } finally {
    await orm.close();
  }
}

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

function killSwitchOf(orm: Awaited<ReturnType<typeof createOrm>>) {
  const sql = sqlOf(orm);
  const repo = createAccountsRepo(sql);
  return createKillSwitch({
    store: createPauseStore(sql),
    recordEvent: (e) => repo.recordEvent(e),
  });
}

/** --user ID → that user; no --user → everyone. Undefined when the id is malformed. */
function pauseTarget(user: string | undefined): PauseTarget | undefined {
  if (user === undefined) return { scope: "global" };
  const raw = user.trim();
  return /^[0-9]{1,19}$/.test(raw) ? { scope: "user", userId: BigInt(raw).toString() } : undefined;
}

export const COMMANDS: Record<string, Command> = {
  "trading pause": {
    usage: "trading pause [--user ID] [--block-close] [--reason TEXT]",
    summary:
      "kill switch: refuse opens and changes (closes too with --block-close) for everyone or one user",
    async run(args, io) {
      const { values } = parseArgs({
        args,
        options: {
          user: { type: "string" },
          "block-close": { type: "boolean" },
          reason: { type: "string" },
        },
      });
      const target = pauseTarget(values.user);
      if (!target) {
        io.err("--user must be a user id (a whole number)");
        return 2;
      }
      const c = config();
      return withOrm(c, async (orm) => {
        try {
          const { result, blocksClose } = await killSwitchOf(orm).pause({ via: "cli" }, target, {
            reason: values.reason,
            blocksClose: values["block-close"] ?? false,
          });
          const who = target.scope === "global" ? "everyone" : `user ${target.userId}`;
          io.out(
            `trading ${result === "updated" ? "pause updated" : "paused"} for ${who}: ` +
              (blocksClose
                ? "every trade action is refused, closes too"
                : "opens and changes are refused, closes still work"),
          );
          return 0;
        } catch (err) {
          if (!(err instanceof KillSwitchError)) throw err;
          io.err(err.message);
          return 1;
        }
      });
    },
  },
  "trading resume": {
    usage: "trading resume [--user ID]",
    summary: "lift the pause for everyone (or for one user)",
    async run(args, io) {
      const { values } = parseArgs({ args, options: { user: { type: "string" } } });
      const target = pauseTarget(values.user);
      if (!target) {
        io.err("--user must be a user id (a whole number)");
        return 2;
      }
      const c = config();
      return withOrm(c, async (orm) => {
        const { removed } = await killSwitchOf(orm).resume({ via: "cli" }, target);
        const who = target.scope === "global" ? "everyone" : `user ${target.userId}`;
        io.out(removed ? `trading resumed for ${who}` : `trading was not paused for ${who}`);
        return 0;
      });
    },
  },
  "trading status": {
    usage: "trading status",
    summary: "list the pauses in force",
    async run(_args, io) {
      const c = config();
      return withOrm(c, async (orm) => {
        const pauses = await killSwitchOf(orm).status();
        if (pauses.length === 0) io.out("trading is not paused");
        for (const p of pauses) {
          const by = p.pausedBy.via === "cli" ? "the CLI" : `admin user ${p.pausedBy.adminUserId}`;
          io.out(
            `${p.userId === null ? "everyone" : `user ${p.userId}`}: paused since ${p.pausedAt.toISOString()} by ${by}` +
              `${p.blocksClose ? ", closes refused too" : ""}${p.reason ? ` — ${p.reason}` : ""}`,
          );
        }
        return 0;
      });
    },
  },
  "backup create": {
    usage: "backup create [--out DIR]",
    summary:
      "pg_dump the database, encrypted under BACKUP_ENCRYPTION_KEY, into DIR (or BACKUP_DIR)",
    async run(args, io) {
      const { values } = parseArgs({ args, options: { out: { type: "string" } } });
      const c = config();
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
      const c = config();
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
      const c = config();
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
  "user promote": {
    usage: "user promote <email>",
    summary: "make the account with this email an admin (they must then enrol 2FA to act as one)",
    async run(args, io) {
      const email = args[0]?.trim().toLowerCase();
      if (!email || args.length !== 1) {
        io.err("usage: npm run cli -- user promote <email>");
        return 2;
      }
      const c = config();
      return withOrm(c, async (orm) => {
        const sql = sqlOf(orm);
        const rows = await sql(
          "update users set role = 'admin', updated_at = now() where email = ? returning id::text as id, totp_enabled_at",
          [email],
        );
        if (!rows[0]) {
          io.err(`no account with email ${email}`);
          return 1;
        }
        await sql(
          "insert into security_events (user_id, kind, outcome, details) values (?, 'admin_promoted', 'ok', ?::jsonb)",
          [rows[0].id, JSON.stringify({ via: "cli" })],
        );
        io.out(
          `${email} is now an admin.` +
            (rows[0].totp_enabled_at ? "" : " Admin actions stay locked until they enable 2FA."),
        );
        return 0;
      });
    },
  },
  "master-key generate": {
    usage: "master-key generate",
    summary: "print a fresh master key (add it to MASTER_KEYS as NEXT_VERSION:KEY)",
    async run(_args, io) {
      io.out(generateFernetKey());
      return 0;
    },
  },
  "master-key status": {
    usage: "master-key status",
    summary: "rows per master key version per encrypted table",
    async run(_args, io) {
      const c = config();
      const ring = c.masterKeys;
      io.out(`MASTER_KEYS versions: ${ring.versions.join(", ")} (current ${ring.currentVersion})`);
      let missing = false;
      await withOrm(c, async (orm) => {
        const store = createVaultStore(preparedSqlOf(orm));
        for (const table of ENCRYPTED_TABLES) {
          const counts = await store.versionCounts(table);
          if (counts.length === 0) io.out(`${table.table}: no rows`);
          for (const { version, rows } of counts) {
            const note = !ring.has(version)
              ? "  MISSING from MASTER_KEYS"
              : version < ring.currentVersion
                ? "  (to rotate)"
                : "";
            if (!ring.has(version)) missing = true;
            io.out(`${table.table}: version ${version}: ${rows} row(s)${note}`);
          }
        }
      });
      return missing ? 1 : 0;
    },
  },
  "master-key rotate": {
    usage: "master-key rotate [--wait]",
    summary: "re-encrypt every row under the current key: enqueue, or --wait to run here",
    async run(args, io) {
      const { values } = parseArgs({ args, options: { wait: { type: "boolean" } } });
      const c = config();
      if (!values.wait) {
        const redis = createRedisFactory({ url: c.redisUrl, keyPrefix: c.redisPrefix });
        const queues = createQueueRegistry(redis.create("producer", "cli"), redis.bullPrefix);
        try {
          const id = await requestRotation(queues.get("vault"));
          io.out(`rotation to version ${c.masterKeys.currentVersion} queued (job ${id})`);
          return 0;
        } finally {
          await queues.close();
          await redis.closeAll();
        }
      }
      return withOrm(c, async (orm) => {
        let last = 0;
        const report = await rotateAll({
          store: createVaultStore(preparedSqlOf(orm)),
          keyRing: c.masterKeys,
          tables: ENCRYPTED_TABLES,
          onProgress: (p) => {
            if (Date.now() - last < 1000) return;
            last = Date.now();
            io.out(
              `${p.table}: ${p.rotated} rotated, ${p.skippedConcurrent} left for another pass`,
            );
          },
        });
        for (const t of report.tables) {
          io.out(
            `${t.table}: ${t.rotated} row(s) re-encrypted to version ${report.toVersion}, ${t.failed} failed`,
          );
        }
        if (report.failedIds.length)
          io.err(`rows that do not decrypt: ${report.failedIds.join(", ")}`);
        io.out(
          report.remaining === 0
            ? "every row is at the current version"
            : `${report.remaining} row(s) still below the current version`,
        );
        return report.remaining === 0 ? 0 : 1;
      });
    },
  },
  "audit verify": {
    usage: "audit verify [--from ID]",
    summary:
      "walk the trade audit log's hash chain and report the first edited, deleted or moved row",
    async run(args, io) {
      const { values } = parseArgs({ args, options: { from: { type: "string" } } });
      if (values.from !== undefined && !/^[1-9][0-9]{0,18}$/.test(values.from)) {
        io.err("--from must be a row id (a positive whole number)");
        return 2;
      }
      const c = config();
      return withOrm(c, async (orm) => {
        const verdict = await verifyAuditLog(createAuditChainReader(sqlOf(orm)), {
          ...(values.from !== undefined && { fromId: values.from }),
        });
        if (!verdict.ok) {
          io.err(
            `broken at row ${verdict.id}: ${verdict.reason}: ${CHAIN_BREAK_EXPLANATIONS[verdict.reason]}`,
          );
          return 1;
        }
        const from = values.from === undefined ? "" : ` from row ${values.from}`;
        const chains = `; ${verdict.subjects} user chain${verdict.subjects === 1 ? "" : "s"}`;
        const head = verdict.lastId === null ? "" : `; head row ${verdict.lastId} ${verdict.head}`;
        io.out(`${verdict.count} rows verified${from}${chains}${head}`);
        return 0;
      });
    },
  },
  "audit export": {
    usage: "audit export --user <id>",
    summary: "write one user's trade audit entries to stdout as JSON lines, oldest first",
    async run(args, io) {
      const { values } = parseArgs({ args, options: { user: { type: "string" } } });
      // User ids are bigints: "0042" and "42" are the same user.
      const raw = values.user?.trim();
      const user = raw && /^[0-9]{1,19}$/.test(raw) ? BigInt(raw).toString() : raw;
      if (!user) {
        io.err("usage: npm run cli -- audit export --user <id>");
        return 2;
      }
      const c = config();
      return withOrm(c, async (orm) => {
        for await (const row of exportForSubject(sqlOf(orm), auditSubject(c.auditPepper, user))) {
          io.out(JSON.stringify(row));
        }
        return 0;
      });
    },
  },
  "db migrate": {
    usage: "db migrate",
    summary: "create the database if missing (not in production) and apply pending migrations",
    async run(_args, io) {
      const c = config();
      const { created, applied } = await prepareDatabase({
        url: c.databaseUrl,
        ownerUrl: c.databaseOwnerUrl,
        sslCa: c.databaseSslCa,
        create: c.nodeEnv !== "production",
      });
      if (created) io.out("created the database");
      io.out(applied.length ? `applied: ${applied.join(", ")}` : "database is up to date");
      return 0;
    },
  },
  "db status": {
    usage: "db status",
    summary: "list migrations not yet applied",
    async run(_args, io) {
      const c = config();
      const orm = await createOrm({ url: c.databaseUrl, sslCa: c.databaseSslCa });
      try {
        const pending = await pendingMigrations(orm);
        io.out(pending.length ? `pending: ${pending.join(", ")}` : "no pending migrations");
        return pending.length ? 3 : 0;
      } finally {
        await orm.close();
      }
    },
  },
  "worker ping": {
    usage: "worker ping [--hold-ms N] [--timeout-s N]",
    summary: "send a job through the queue and wait for a worker to complete it",
    async run(args, io) {
      const { values } = parseArgs({
        args,
        options: { "hold-ms": { type: "string" }, "timeout-s": { type: "string" } },
      });
      const holdMs = Number(values["hold-ms"] ?? 0);
      const timeoutS = Number(values["timeout-s"] ?? 30);
      if (!Number.isInteger(holdMs) || holdMs < 0 || holdMs > 60_000) {
        io.err("--hold-ms must be a whole number of milliseconds from 0 to 60000");
        return 2;
      }
      const c = config();
      const redis = createRedisFactory({ url: c.redisUrl, keyPrefix: c.redisPrefix });
      const queues = createQueueRegistry(redis.create("producer", "cli"), redis.bullPrefix);
      const events = new QueueEvents("system", {
        connection: redis.create("worker", "cli-events"),
        prefix: redis.bullPrefix,
      });
      try {
        await events.waitUntilReady();
        const job = await queues.get("system").add("ping", { holdMs });
        const result = await job.waitUntilFinished(events, timeoutS * 1000);
        io.out(`job ${job.id} completed by ${(result as { worker: string }).worker}`);
        return 0;
      } catch (err) {
        io.err(`ping failed: ${(err as Error).message} (is a worker role running?)`);
        return 1;
      } finally {
        await events.close();
        await queues.close();
        await redis.closeAll();
      }
    },
  },
};

export function helpText(): string {
  const width = Math.max(...Object.values(COMMANDS).map((c) => c.usage.length));
  return [
    "Usage: npm run cli -- <command> [options]",
    "",
    "Commands:",
    ...Object.values(COMMANDS).map((c) => `  ${c.usage.padEnd(width)}  ${c.summary}`),
  ].join("\n");
}

export async function runCli(argv: string[], io: CliIo): Promise<number> {
  if (argv.length === 0 || argv.includes("--help") || argv.includes("-h") || argv[0] === "help") {
    io.out(helpText());
    return argv.length === 0 ? 2 : 0;
  }
  const name = [argv[0], argv[1]].join(" ");
  const command = COMMANDS[name];
  if (!command) {
    io.err(`Unknown command "${argv.slice(0, 2).join(" ")}".\n\n${helpText()}`);
    return 2;
  }
  try {
    return await command.run(argv.slice(2), io);
  } catch (err) {
    if (err instanceof ConfigError) io.err(`configuration error: ${err.message}`);
    else io.err(createScrubber().scrubString(`error: ${(err as Error).message}`));
    return 1;
  }
}

if (process.argv[1]?.endsWith("cli.ts")) {
  runCli(process.argv.slice(2), {
    out: (l) => process.stdout.write(`${l}\n`),
    err: (l) => process.stderr.write(`${l}\n`),
  }).then((code) => process.exit(code));
}
