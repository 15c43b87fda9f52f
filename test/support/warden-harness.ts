// The whole service in-process (startWarden, the real composition root) against a database and
// Redis prefix of its own, an HIBP range server and an SMTP server, listening on 127.0.0.1.
import pg from "pg";
import { generateIntakeKey } from "../../src/domain/vault";
import type { Role } from "../../src/infra/config";
import { createLogger } from "../../src/infra/logger";
import { createScrubber } from "../../src/infra/scrub";
import { type RunningWarden, startWarden } from "../../src/main";
import { APP_LOGIN, ensureAppLogin, ensureSignerLogin, loginUrl, SIGNER_LOGIN } from "./app-role";
import {
  createTestDatabase,
  createTestRedis,
  type TestDatabase,
  type TestRedis,
  testEnv,
} from "./context";
import { type HibpServer, startHibpServer } from "./hibp/server";
import { captureLogs, type LogCapture } from "./log-capture";
import { baseEnv, freePort, type Spawned, spawnProcess } from "./process";
import { type TestSmtpServer as SmtpServer, startSmtpServer } from "./smtp/server";

export interface TestWarden {
  base: string;
  origin: string;
  warden: RunningWarden;
  db: TestDatabase;
  redis: TestRedis;
  hibp: HibpServer;
  smtp: SmtpServer;
  logs: LogCapture;
  /** The in-process roles' environment (without MASTER_KEYS when the signer runs apart). */
  env: Record<string, string | undefined>;
  /** The signer's process and environment (MASTER_KEYS, SIGNER_INTAKE_KEY), with `signerProcess`. */
  signer: { process: Spawned; env: Record<string, string | undefined> } | undefined;
  stop(): Promise<void>;
}

export async function startTestWarden(
  opts: {
    env?: Record<string, string | undefined>;
    breached?: string[];
    /** Without "signer", api and bot seal pasted keys to a signer the test runs (issue 19). */
    roles?: Role[];
    /** The domain clock (activity, anomaly scan, alert dedup). */
    now?: () => number;
    /**
     * The signer in a process of its own (`--roles signer`, with MASTER_KEYS and an intake key),
     * and the roles here (api and worker unless `roles` says otherwise) without MASTER_KEYS, as
     * in production (issue 19).
     */
    signerProcess?: boolean;
    /**
     * With `signerProcess` (and by default there): the database logins of a production
     * deployment. The roles here log in as a warden_app member, the signer as a warden_signer
     * member, and migrations run as the owner (DATABASE_OWNER_URL, the database's superuser URL).
     * `false` keeps the superuser for all.
     */
    databaseLogins?: boolean;
  } = {},
): Promise<TestWarden> {
  const db = await createTestDatabase();
  const redis = createTestRedis();
  const hibp = await startHibpServer({
    breached: opts.breached ?? ["password123", "correct horse battery staple"],
  });
  const smtp = await startSmtpServer();
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const env = testEnv({
    PORT: String(port),
    PUBLIC_URL: origin,
    DATABASE_URL: db.url,
    REDIS_URL: redis.url,
    REDIS_PREFIX: redis.prefix,
    HIBP_API_URL: hibp.url,
    SMTP_URL: smtp.url,
    BCRYPT_COST: "4",
    LOG_LEVEL: "info",
    ...opts.env,
  });
  let signer: TestWarden["signer"];
  let roles = opts.roles ?? ["api", "worker", "signer"];
  let signerDatabaseUrl: string | undefined;
  if (opts.databaseLogins ?? opts.signerProcess) {
    if (!opts.signerProcess) throw new Error("databaseLogins needs signerProcess");
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    try {
      await ensureAppLogin(admin);
      await ensureSignerLogin(admin);
    } finally {
      await admin.end();
    }
    env.DATABASE_OWNER_URL = db.url;
    env.DATABASE_URL = loginUrl(db.url, APP_LOGIN);
    signerDatabaseUrl = loginUrl(db.url, SIGNER_LOGIN);
  }
  if (opts.signerProcess) {
    const signerEnv = {
      SIGNER_INTAKE_KEY: `1:${generateIntakeKey()}`,
      ...env,
      ...(signerDatabaseUrl ? { DATABASE_URL: signerDatabaseUrl } : {}),
    };
    const proc = spawnProcess(
      "node",
      ["--import", "tsx", "src/main.ts", "--roles", "signer"],
      baseEnv(signerEnv),
    );
    try {
      // Its intake public key is published before anything here may seal a key to it.
      await proc.waitForOutput(/Warden started/, 90_000);
    } catch (err) {
      proc.kill("SIGKILL");
      throw new Error(`the signer process did not start: ${proc.stderr().slice(-2_000)}`, {
        cause: err,
      });
    }
    signer = { process: proc, env: signerEnv };
    delete env.MASTER_KEYS;
    delete env.SIGNER_INTAKE_KEY;
    roles = (opts.roles ?? ["api", "worker"]).filter((r) => r !== "signer");
  }
  const logs = captureLogs();
  const scrubber = createScrubber();
  const logger = createLogger({ level: "info", pretty: false, scrubber, destination: logs.stream });
  const warden = await startWarden({ env, roles, logger, now: opts.now }).catch((err) => {
    signer?.process.kill("SIGKILL");
    throw err;
  });
  return {
    base: `http://127.0.0.1:${warden.port}`,
    origin,
    warden,
    db,
    redis,
    hibp,
    smtp,
    logs,
    env,
    signer,
    async stop() {
      await warden.shutdown.run("test finished");
      if (signer) {
        signer.process.kill("SIGTERM");
        await Promise.race([signer.process.exited, new Promise((r) => setTimeout(r, 15_000))]);
        signer.process.kill("SIGKILL");
      }
      await Promise.all([hibp.close(), smtp.close()]);
      await redis.cleanup();
      await db.drop();
    },
  };
}
