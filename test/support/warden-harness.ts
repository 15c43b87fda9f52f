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
import type { ClockAck, ClockMessage, TestClock } from "./test-clock";

export interface TestWarden {
  base: string;
  origin: string;
  warden: RunningWarden;
  db: TestDatabase;
  redis: TestRedis;
  hibp: HibpServer;
  smtp: SmtpServer;
  logs: LogCapture;
  /**
   * The in-process roles' environment: without MASTER_KEYS and SIGNER_INTAKE_KEY unless the
   * signer runs in this process (`signerProcess: false`).
   */
  env: Record<string, string | undefined>;
  /**
   * The signer's environment (MASTER_KEYS, SIGNER_INTAKE_KEY and the rest): what the signer
   * process runs with, and what a test's own signer (fixtures) takes its keys from.
   */
  signerEnv: Record<string, string | undefined>;
  /** The signer's process, when the roles include the signer and it runs apart (the default). */
  signer: { process: Spawned; env: Record<string, string | undefined> } | undefined;
  stop(): Promise<void>;
}

/** How long a clock move may wait for the signer process's acknowledgement. */
const CLOCK_ACK_MS = 10_000;

export async function startTestWarden(
  opts: {
    env?: Record<string, string | undefined>;
    breached?: string[];
    /**
     * The service's roles (api, worker and signer by default). Without "signer" no signer runs
     * (the test runs its own, or needs none); api and bot then seal pasted keys and send trade
     * intents to whichever signer consumes the queues (issue 19).
     */
    roles?: Role[];
    /**
     * The domain clock (activity, anomaly scan, alert dedup) of every role, the signer process's
     * included: each move is awaited until the signer has it.
     */
    clock?: TestClock;
    /**
     * Where the signer role runs. By default in a process of its own
     * (test/support/signer-main.ts, with MASTER_KEYS and an intake key) while the other roles
     * run here without either, as in production (issue 19). `false`: every role in this
     * process, with MASTER_KEYS — for a file that tests the single-process setup itself.
     */
    signerProcess?: boolean;
    /**
     * The database logins of a production deployment (by default when the signer runs apart;
     * a production-mode test asks for them, since production refuses a superuser's login). The roles here log in as a warden_app member, the signer as a warden_signer
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
  const signerEnv = testEnv({
    PORT: String(port),
    PUBLIC_URL: origin,
    DATABASE_URL: db.url,
    REDIS_URL: redis.url,
    REDIS_PREFIX: redis.prefix,
    HIBP_API_URL: hibp.url,
    SMTP_URL: smtp.url,
    BCRYPT_COST: "4",
    LOG_LEVEL: "info",
    SIGNER_INTAKE_KEY: `1:${generateIntakeKey()}`,
    ...opts.env,
  });
  const allRoles = opts.roles ?? ["api", "worker", "signer"];
  const apart = allRoles.includes("signer") && opts.signerProcess !== false;
  const inProcess = apart ? allRoles.filter((r) => r !== "signer") : allRoles;
  let appDatabaseUrl: string | undefined;
  if (opts.databaseLogins ?? apart) {
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    try {
      await ensureAppLogin(admin);
      await ensureSignerLogin(admin);
    } finally {
      await admin.end();
    }
    signerEnv.DATABASE_OWNER_URL = db.url;
    if (apart) signerEnv.DATABASE_URL = loginUrl(db.url, SIGNER_LOGIN);
    appDatabaseUrl = loginUrl(db.url, APP_LOGIN);
  }
  const env: Record<string, string | undefined> = { ...signerEnv };
  if (appDatabaseUrl) env.DATABASE_URL = appDatabaseUrl;
  if (!inProcess.includes("signer")) {
    // Only the signer holds the exchange-key ring and the intake private key (issue 19).
    delete env.MASTER_KEYS;
    delete env.SIGNER_INTAKE_KEY;
  }
  let signer: TestWarden["signer"];
  let detachClock: (() => void) | undefined;
  let signerUp: Promise<unknown> = Promise.resolve();
  if (apart) {
    const childEnv = {
      ...signerEnv,
      ...(opts.clock ? { WARDEN_TEST_CLOCK: String(opts.clock.now()) } : {}),
    };
    const proc = spawnProcess(
      "node",
      ["--import", "tsx", "test/support/signer-main.ts"],
      baseEnv(childEnv),
      { ipc: true },
    );
    signer = { process: proc, env: signerEnv };
    // The roles here start meanwhile, as separate units do in production: a pasted key is sealed
    // to the intake key the signer publishes, read when sealing, so nothing here needs it yet.
    signerUp = proc.waitForOutput(/Warden started/, 90_000).catch((err: unknown) => {
      throw new Error(`the signer process did not start: ${proc.stderr().slice(-2_000)}`, {
        cause: err,
      });
    });
    if (opts.clock) detachClock = opts.clock.attach(clockFollower(proc));
  }
  const logs = captureLogs();
  const scrubber = createScrubber();
  const logger = createLogger({ level: "info", pretty: false, scrubber, destination: logs.stream });
  const now = opts.clock?.now;
  const started = await Promise.allSettled([
    startWarden({ env, roles: inProcess, logger, now }),
    signerUp,
  ]);
  const [here, apartUp] = started;
  const failed =
    here.status === "rejected"
      ? here.reason
      : apartUp.status === "rejected"
        ? apartUp.reason
        : here.value.config.masterKeys && !inProcess.includes("signer")
          ? // Nothing (a development secrets file included) may hand these roles the key ring.
            new Error(`MASTER_KEYS reached the roles ${inProcess.join(",")} (issue 19)`)
          : undefined;
  if (failed !== undefined || here.status === "rejected") {
    detachClock?.();
    signer?.process.kill("SIGKILL");
    if (here.status === "fulfilled") await here.value.shutdown.run("start-up failed");
    throw failed;
  }
  const warden = here.value;
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
    signerEnv,
    signer,
    async stop() {
      await warden.shutdown.run("test finished");
      detachClock?.();
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

/** Sets the signer process's clock over its IPC channel and waits for its acknowledgement. */
function clockFollower(proc: Spawned): (ms: number) => Promise<void> {
  let seq = 0;
  return (ms) =>
    new Promise<void>((resolve, reject) => {
      const mine = ++seq;
      const timer = setTimeout(() => {
        proc.child.off("message", onMessage);
        reject(new Error(`the signer process did not take the clock within ${CLOCK_ACK_MS} ms`));
      }, CLOCK_ACK_MS);
      const onMessage = (m: ClockAck) => {
        if (m?.type !== "warden-test-clock-ack" || m.seq !== mine) return;
        clearTimeout(timer);
        proc.child.off("message", onMessage);
        resolve();
      };
      proc.child.on("message", onMessage);
      const message: ClockMessage = { type: "warden-test-clock", seq: mine, now: ms };
      proc.child.send(message, (err) => {
        if (!err) return;
        clearTimeout(timer);
        proc.child.off("message", onMessage);
        reject(err);
      });
    });
}
