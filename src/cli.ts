// Operator CLI: `npm run cli -- <command>`. Each command reads the same configuration as the
// service and prints a short, scrubbed result; the exit code tells success.
import { parseArgs } from "node:util";
import { QueueEvents } from "bullmq";
import { type Config, ConfigError, loadConfig } from "./infra/config";
import { createOrm, ensureDatabase, migrate, pendingMigrations } from "./infra/database";
import { createRedisFactory } from "./infra/redis";
import { createScrubber } from "./infra/scrub";
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

export const COMMANDS: Record<string, Command> = {
  "db migrate": {
    usage: "db migrate",
    summary: "create the database if missing (not in production) and apply pending migrations",
    async run(_args, io) {
      const c = config();
      if (c.nodeEnv !== "production" && (await ensureDatabase(c.databaseUrl, c.databaseSslCa))) {
        io.out("created the database");
      }
      const orm = await createOrm({ url: c.databaseUrl, sslCa: c.databaseSslCa });
      try {
        const applied = await migrate(orm, c.databaseUrl, c.databaseSslCa);
        io.out(applied.length ? `applied: ${applied.join(", ")}` : "database is up to date");
        return 0;
      } finally {
        await orm.close();
      }
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
