// Composition root: reads configuration, starts the requested roles (api, bot, worker, signer),
// each wired in its own module under ./roles, and stops them in reverse order on SIGINT/SIGTERM.

import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  accountKeysOf,
  type Config,
  ConfigError,
  type Env,
  loadConfig,
  ROLES,
  type Role,
  requireMasterKeys,
  rolesOf,
} from "./infra/config";
import { sqlOf } from "./infra/database";
import { checkDatabaseLogin } from "./infra/database-login";
import type { Logger } from "./infra/logger";
import type { ErrorReporter } from "./infra/sentry";
import { createShutdown, type Shutdown } from "./infra/shutdown";
import { startApiRole } from "./roles/api";
import { createRoleBot, startBotRole } from "./roles/bot";
import { startServices } from "./roles/services";
import { createObservability, SIGNER_GRACE_MS, startShared, withoutKeyRing } from "./roles/shared";
import { JOB_GRACE_MS, startWorkerRole } from "./roles/worker";
import { startTelegramEmulator, type TelegramEmulator } from "./sandbox/telegram";
import { startupBanner } from "./startup/banner";
import { startDevServices } from "./startup/dev-services";
import { reportStartupFailure } from "./startup/errors";

export interface StartOptions {
  env?: Env;
  /** Overrides WARDEN_ROLES (the --roles flag). */
  roles?: Role[];
  logger?: Logger;
  /** The domain clock (epoch ms) of trade activity, the anomaly scan and alert dedup; tests drive it. */
  now?: () => number;
  /** Print the start-up banner (the `npm start` process). */
  banner?: boolean;
}

export interface RunningWarden {
  config: Config;
  logger: Logger;
  /** The API's port when the api role runs. */
  port: number | undefined;
  /** The Telegram emulator behind /sandbox (development without a bot token only). */
  sandbox: TelegramEmulator | undefined;
  shutdown: Shutdown;
  /** Sentry when SENTRY_DSN is set; a no-op otherwise. */
  reporter: ErrorReporter;
}

export async function startWarden(opts: StartOptions = {}): Promise<RunningWarden> {
  const input = opts.env ?? process.env;
  // Development secrets: MASTER_KEYS and the intake key only for a process that runs the signer.
  const signer = (opts.roles ?? rolesOf(input)).includes("signer");
  const dev = await startDevServices(input, process.cwd(), { signer });
  const loaded = await Promise.resolve()
    // The roles decide which secrets belong in this process (MASTER_KEYS: the signer's only).
    .then(() =>
      loadConfig(opts.roles ? { ...dev.env, WARDEN_ROLES: opts.roles.join(",") } : dev.env),
    )
    .catch(async (err) => {
      await dev.stop();
      throw err;
    });
  const roles = opts.roles ?? loaded.roles;
  let config = loaded;
  const { logger, reporter } = createObservability(config, roles, opts.logger);
  if (dev.generated.length > 0) {
    logger.warn(
      { variables: dev.generated, file: dev.secretsFile },
      "generated development secrets (never use them in production)",
    );
  }

  const shutdown = createShutdown(logger);
  shutdown.add("development services", dev.stop); // the embedded database stops last
  // First in, last out: reports of errors during shutdown are still sent.
  shutdown.add("error reports", () => reporter.close(2_000));
  let sandbox: TelegramEmulator | undefined;
  try {
    // The local sandbox: the bot talks to an in-process Telegram emulator that /sandbox shows as
    // a web chat. Development without a bot token only (config.sandbox is never true in
    // production), and only where this process runs both the bot and the API.
    if (config.sandbox && roles.includes("bot") && roles.includes("api")) {
      const tg = await startTelegramEmulator({ botUsername: "warden_sandbox_bot" });
      sandbox = tg;
      shutdown.add("sandbox telegram", () => tg.close());
      config = {
        ...config,
        telegram: { ...config.telegram, botToken: tg.token, apiRoot: tg.apiRoot },
      };
    }
    // The key rings go only where they are passed from here: the start-up coverage check, the
    // signer, which builds the consumers of MASTER_KEYS (./roles/signer.ts, loaded with import()
    // only in a process that runs it), and the services (accounts, alerts, mail: ACCOUNT_KEYS;
    // keys, trading, cockpit: the signer's consumers when it runs here, otherwise built with no
    // exchange-key ring). A signer-only process builds no services.
    const keyRing = config.masterKeys;
    const accountKeys = accountKeysOf(config);
    const roleConfig = withoutKeyRing(config);
    const now = opts.now ?? Date.now;
    const { shared, stop: stopShared } = await startShared(roleConfig, {
      logger,
      keyRing,
      accountKeyRing: accountKeys.ring,
    });
    shutdown.add("shared infrastructure", stopShared);
    // The signer logs in as a warden_signer member, the other roles never with its rights.
    await checkDatabaseLogin(sqlOf(shared.orm), {
      roles,
      production: config.nodeEnv === "production",
    });

    let direct: ReturnType<typeof import("./roles/signer").createSignerConsumers> | undefined;
    if (roles.includes("signer")) {
      const signer = await import("./roles/signer");
      const signerDeps = {
        shared,
        keyRing: requireMasterKeys({ masterKeys: keyRing }),
        accountKeys,
        logger,
        reporter,
        now,
      };
      direct = signer.createSignerConsumers(roleConfig, signerDeps);
      const stop = await signer.startSignerRole(roleConfig, { ...signerDeps, consumers: direct });
      shutdown.add("signer", stop);
    }
    let port: number | undefined;
    if (roles.some((r) => r !== "signer")) {
      const services = await startServices(roleConfig, {
        shared,
        direct,
        accountKeys,
        logger,
        now,
        roles,
      });
      shutdown.add("services", services.stop);
      if (roles.includes("worker")) {
        const stop = await startWorkerRole(roleConfig, {
          shared,
          services,
          accountKeys,
          logger,
          reporter,
        });
        shutdown.add("worker", stop);
      }
      const bot = createRoleBot(
        roleConfig,
        { shared, services, logger, reporter, now },
        { roles, tokenConfigured: Boolean(loaded.telegram.botToken), sandbox: Boolean(sandbox) },
      );
      if (roles.includes("api")) {
        const api = await startApiRole(roleConfig, {
          shared,
          services,
          bot,
          sandbox,
          logger,
          reporter,
          now,
        });
        port = api.port;
        shutdown.add("api", api.stop);
      }
      if (bot && roles.includes("bot")) {
        shutdown.add("bot", await startBotRole(roleConfig, bot, { logger }));
      }
    }

    logger.info({ roles }, "Warden started");
    if (opts.banner) process.stdout.write(startupBanner({ ...dev, config, roles, port, sandbox }));
    return { config, logger, port, sandbox, shutdown, reporter };
  } catch (err) {
    await shutdown.run("start-up failed");
    throw err;
  }
}

export function parseRolesFlag(argv: string[]): Role[] | undefined {
  const i = argv.findIndex((a) => a === "--roles" || a.startsWith("--roles="));
  if (i < 0) return undefined;
  const arg = argv[i] ?? "";
  const value = arg.includes("=") ? arg.slice(arg.indexOf("=") + 1) : argv[i + 1];
  if (!value) throw new ConfigError("--roles", "needs a value such as api,worker");
  const roles = value.split(",").map((r) => r.trim());
  if (roles.includes("all")) return [...ROLES];
  for (const r of roles) {
    if (!(ROLES as readonly string[]).includes(r)) {
      throw new ConfigError("--roles", `unknown role "${r}" (use api, bot, worker, signer or all)`);
    }
  }
  return roles as Role[];
}

async function main(): Promise<void> {
  let warden: RunningWarden;
  try {
    warden = await startWarden({ roles: parseRolesFlag(process.argv.slice(2)), banner: true });
  } catch (err) {
    const env = process.env;
    process.exit(reportStartupFailure(err, { databaseUrl: env.DATABASE_URL, port: env.PORT }));
  }
  const { shutdown, logger, reporter } = warden;
  const stop = (reason: string, exitCode: number) => {
    if (shutdown.started) {
      logger.warn({ reason }, "already shutting down; send SIGKILL to force");
      return;
    }
    const hard = setTimeout(() => {
      logger.error("shutdown took too long; exiting");
      process.exit(1);
    }, Math.max(JOB_GRACE_MS, SIGNER_GRACE_MS) + 10_000);
    hard.unref();
    void shutdown.run(reason).then((ok) => process.exit(ok ? exitCode : 1));
  };
  process.on("SIGINT", (signal) => stop(signal, 0));
  process.on("SIGTERM", (signal) => stop(signal, 0));
  // A crash is logged (scrubbed) and reported, then the process stops as on a signal (the
  // error report is flushed last) and exits 1: a supervisor restarts it, and running jobs are
  // redelivered. Node's default would print the raw error and skip both.
  const crash = (kind: string) => (err: unknown) => {
    logger.fatal({ err }, kind);
    reporter.capture(err, { source: "process", tags: { mechanism: kind } });
    stop(kind, 1);
  };
  process.on("uncaughtException", crash("uncaught exception"));
  process.on("unhandledRejection", crash("unhandled promise rejection"));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  void main();
}
