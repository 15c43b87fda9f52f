// The whole service in-process (startWarden, the real composition root) against a database and
// Redis prefix of its own, an HIBP range server and an SMTP server, listening on 127.0.0.1.
import type { Role } from "../../src/infra/config";
import { createLogger } from "../../src/infra/logger";
import { createScrubber } from "../../src/infra/scrub";
import { type RunningWarden, startWarden } from "../../src/main";
import {
  createTestDatabase,
  createTestRedis,
  type TestDatabase,
  type TestRedis,
  testEnv,
} from "./context";
import { type HibpServer, startHibpServer } from "./hibp/server";
import { captureLogs, type LogCapture } from "./log-capture";
import { freePort } from "./process";
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
  env: Record<string, string | undefined>;
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
  const logs = captureLogs();
  const scrubber = createScrubber();
  const logger = createLogger({ level: "info", pretty: false, scrubber, destination: logs.stream });
  const warden = await startWarden({
    env,
    roles: opts.roles ?? ["api", "worker", "signer"],
    logger,
    now: opts.now,
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
    async stop() {
      await warden.shutdown.run("test finished");
      await Promise.all([hibp.close(), smtp.close()]);
      await redis.cleanup();
      await db.drop();
    },
  };
}
