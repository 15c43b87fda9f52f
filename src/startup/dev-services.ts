// What development needs before the configuration is read: generated secrets, the embedded
// PostgreSQL when DATABASE_URL is unset, and a private redis-server when nothing answers at the
// default Redis. Production gets none of this: its variables are required and checked.
import { execFileSync, spawn } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createServer, Socket } from "node:net";
import { join, resolve } from "node:path";
import type { Env } from "../infra/config";
import { ensureDevSecrets } from "../infra/dev-secrets";
import { isAlive, recoverStaleLock, startEmbeddedPostgres } from "./embedded-postgres";
import { REDIS_HELP, StartupError } from "./errors";

export const DEFAULT_REDIS_URL = "redis://127.0.0.1:6379";

export interface DevServices {
  env: Env;
  /** Secrets generated now (names only), and where they are kept. */
  generated: string[];
  secretsFile: string | undefined;
  /** The embedded database's data directory when it is in use. */
  embeddedDatabase: string | undefined;
  /** The private redis-server's data directory when one was started. */
  privateRedis: string | undefined;
  /** Stops what was started here (after everything using it has closed). */
  stop(): Promise<void>;
}

/** Development secrets only (no servers): for code that reads configuration synchronously. */
export function prepareEnv(
  env: Env,
  opts: { signer?: boolean } = {},
): { env: Env; generated: string[]; file?: string } {
  const nodeEnv = env.NODE_ENV ?? "development";
  if (nodeEnv !== "development") return { env, generated: [] };
  const file = resolve(env.DEV_SECRETS_FILE ?? ".secrets/dev.env");
  return { ...ensureDevSecrets(env, file, opts), file };
}

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => res(port));
    });
  });
}

/** True when a Redis server answers PING at host:port within a second. */
export async function redisAnswers(host: string, port: number): Promise<boolean> {
  return new Promise((res) => {
    const socket = new Socket();
    let data = "";
    const done = (ok: boolean) => {
      socket.destroy();
      res(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once("error", () => done(false));
    socket.on("data", (d) => {
      data += d.toString();
      // +PONG, or -NOAUTH: a Redis answers either way (auth is checked later).
      if (/^[+-]/.test(data)) done(true);
    });
    socket.connect(port, host, () => socket.write("PING\r\n"));
  });
}

function onPath(cmd: string): string | undefined {
  try {
    return (
      execFileSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" }).trim() || undefined
    );
  } catch {
    return undefined;
  }
}

async function startPrivateRedis(
  root: string,
): Promise<{ url: string; dir: string; stop(): Promise<void> }> {
  const bin = onPath("redis-server");
  if (!bin) {
    throw new StartupError(
      "REDIS_URL",
      `nothing answers at ${DEFAULT_REDIS_URL} and there is no redis-server on PATH to start a private one.`,
      REDIS_HELP,
    );
  }
  const dir = resolve(root, ".data", "redis");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const lockFile = join(resolve(root, ".data"), "redis.lock");
  await recoverStaleLock(lockFile);
  const port = await freePort();
  const log = openSync(join(dir, "redis.log"), "a");
  const child = spawn(
    bin,
    [
      "--bind",
      "127.0.0.1",
      "--port",
      String(port),
      "--dir",
      dir,
      "--save",
      "60 1",
      "--appendonly",
      "no",
    ],
    { detached: true, stdio: ["ignore", log, log] },
  );
  closeSync(log);
  child.unref();
  const pid = child.pid ?? 0;
  writeFileSync(lockFile, JSON.stringify({ wardenPid: process.pid, serverPid: pid, port }));
  const stop = async () => {
    if (isAlive(pid)) {
      process.kill(pid, "SIGTERM");
      for (let i = 0; i < 100 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
    }
    rmSync(lockFile, { force: true });
  };
  for (let i = 0; i < 100; i++) {
    if (await redisAnswers("127.0.0.1", port))
      return { url: `redis://127.0.0.1:${port}`, dir, stop };
    if (!isAlive(pid)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  const logText = existsSync(join(dir, "redis.log"))
    ? readFileSync(join(dir, "redis.log"), "utf8")
    : "";
  throw new StartupError(
    "REDIS_URL",
    `the private redis-server did not start: ${logText.trim().split("\n").slice(-2).join(" ")}`,
    REDIS_HELP,
  );
}

/**
 * Development: secrets, the embedded database (DATABASE_URL unset) and Redis (a private server
 * when REDIS_URL is unset and nothing answers at the default; REDIS_URL set but silent is an
 * error). Other environments pass through untouched.
 */
export async function startDevServices(
  input: Env,
  root = process.cwd(),
  /** `signer: false`: a process without the signer role gets no generated MASTER_KEYS. */
  opts: { signer?: boolean } = {},
): Promise<DevServices> {
  const nodeEnv = input.NODE_ENV ?? "development";
  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const s of stops.splice(0).reverse()) await s();
  };
  const result: DevServices = {
    env: input,
    generated: [],
    secretsFile: undefined,
    embeddedDatabase: undefined,
    privateRedis: undefined,
    stop,
  };
  // Production: DATABASE_URL is required (loadConfig says so), nothing is started here.
  if (nodeEnv === "production") return result;
  try {
    let env: Env = input;
    if (nodeEnv === "development") {
      const secrets = prepareEnv(input, opts);
      env = secrets.env;
      result.generated = secrets.generated;
      result.secretsFile = secrets.file;
    }
    if (!env.DATABASE_URL?.trim()) {
      const password = env.EMBEDDED_POSTGRES_PASSWORD;
      if (!password) {
        throw new StartupError(
          "DATABASE_URL",
          "is not set, and the embedded database needs NODE_ENV=development (its password lives in .secrets/dev.env).",
          "Set DATABASE_URL, or leave NODE_ENV unset for development",
        );
      }
      const pgServer = await startEmbeddedPostgres({ root, port: await freePort(), password });
      stops.push(pgServer.stop);
      env = { ...env, DATABASE_URL: pgServer.url };
      result.embeddedDatabase = pgServer.dataDir;
    }
    if (nodeEnv === "development") {
      const url = env.REDIS_URL?.trim();
      if (!url) {
        if (!(await redisAnswers("127.0.0.1", 6379))) {
          const redis = await startPrivateRedis(root);
          stops.push(redis.stop);
          env = { ...env, REDIS_URL: redis.url };
          result.privateRedis = redis.dir;
        }
      } else {
        let target: URL | undefined;
        try {
          target = new URL(url);
        } catch {
          // loadConfig names the malformed variable.
        }
        if (target && !(await redisAnswers(target.hostname, Number(target.port || 6379)))) {
          throw new StartupError(
            "REDIS_URL",
            `nothing answers at ${target.hostname}:${target.port || 6379} (Redis is not running there).`,
            `Start that Redis or fix REDIS_URL. Leave REDIS_URL unset to use ${DEFAULT_REDIS_URL} or a private redis-server. ${REDIS_HELP}`,
          );
        }
      }
    }
    result.env = env;
    return result;
  } catch (err) {
    await stop();
    throw err;
  }
}
