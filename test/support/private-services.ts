// A PostgreSQL cluster and a Redis server of a test's own, which the fault tests stop, restart
// and kill under a running Warden (the shared servers on 5432/6379 are never touched). As root,
// initdb and pg_ctl run as the `postgres` OS user in a temp dir it owns.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./process";

const PG_BIN = process.env.TEST_PG_BIN ?? "/usr/lib/postgresql/15/bin";

function run(cmd: string, args: string[], asPostgres = false): string {
  const [file, argv] =
    asPostgres && process.getuid?.() === 0
      ? ["runuser", ["-u", "postgres", "--", cmd, ...args]]
      : [cmd, args];
  return execFileSync(file, argv, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

export interface PrivatePostgres {
  port: number;
  url(db?: string): string;
  /** Stops the server: "fast" ends sessions cleanly, "immediate" is a crash (recovery on start). */
  stop(mode?: "fast" | "immediate"): void;
  start(): void;
  /** Removes the cluster and its files. */
  destroy(): void;
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const root = mkdtempSync(join(tmpdir(), "warden-pgfault-"));
  chmodSync(root, 0o755);
  const data = join(root, "data");
  const log = join(root, "server.log");
  if (process.getuid?.() === 0) run("chown", ["postgres:postgres", root]);
  run(
    join(PG_BIN, "initdb"),
    ["-D", data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C"],
    true,
  );
  const port = await freePort();
  writeFileSync(
    join(data, "postgresql.auto.conf"),
    [
      `port = ${port}`,
      "listen_addresses = '127.0.0.1'",
      `unix_socket_directories = '${root}'`,
      "fsync = off",
      "max_connections = 60",
      "",
    ].join("\n"),
  );
  if (process.getuid?.() === 0)
    run("chown", ["postgres:postgres", join(data, "postgresql.auto.conf")]);
  const pgCtl = (...args: string[]) => run(join(PG_BIN, "pg_ctl"), ["-D", data, ...args], true);
  const start = () => pgCtl("-l", log, "-w", "-t", "60", "start");
  start();
  let running = true;
  return {
    port,
    url: (db = "postgres") => `postgres://postgres@127.0.0.1:${port}/${db}`,
    stop(mode = "fast") {
      pgCtl("-m", mode, "-w", "-t", "60", "stop");
      running = false;
    },
    start() {
      start();
      running = true;
    },
    destroy() {
      try {
        if (running) pgCtl("-m", "immediate", "-w", "stop");
      } catch {
        // already down
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    },
  };
}

export interface PrivateRedis {
  port: number;
  url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

/** A redis-server on a free port that keeps nothing on disk (so a restart empties it). */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "warden-redisfault-"));
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn(
      "redis-server",
      ["--bind", "127.0.0.1", "--port", String(port), "--save", "", "--appendonly", "no"],
      { cwd: dir, stdio: ["ignore", "pipe", "pipe"] },
    );
    await new Promise<void>((res, rej) => {
      const timer = setTimeout(() => rej(new Error("redis-server did not start")), 10_000);
      child?.stdout?.on("data", (d: Buffer) => {
        if (/Ready to accept connections/.test(d.toString())) {
          clearTimeout(timer);
          res();
        }
      });
      child?.once("exit", (code) => {
        clearTimeout(timer);
        rej(new Error(`redis-server exited with ${code}`));
      });
    });
  };
  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once("exit", r));
    c.kill("SIGKILL");
    await exited;
  };
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    stop,
    start,
    async destroy() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
