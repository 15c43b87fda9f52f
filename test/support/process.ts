// Spawns the real service (or CLI) as a child process and follows its output.
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { resolve } from "node:path";

export const REPO_ROOT = resolve(import.meta.dirname, "../..");

export interface Spawned {
  child: ChildProcess;
  output(): string;
  /** What the process wrote to stderr alone. */
  stderr(): string;
  waitForOutput(re: RegExp, timeoutMs?: number): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Kills the whole process group (npm → node) if it is still running. */
  kill(signal?: NodeJS.Signals): void;
}

/** A minimal environment: PATH and HOME only, so the developer's variables do not leak in. */
export function baseEnv(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME };
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) env[k] = v;
  return env;
}

export function spawnProcess(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  opts: {
    cwd?: string /** An IPC channel (child.send / process.send) beside the pipes. */;
    ipc?: boolean;
  } = {},
): Spawned {
  const child = spawn(command, args, {
    cwd: opts.cwd ?? REPO_ROOT,
    env,
    detached: true,
    stdio: opts.ipc ? ["pipe", "pipe", "pipe", "ipc"] : "pipe",
  });
  let out = "";
  let err = "";
  const waiters: Array<() => void> = [];
  const onData = (d: Buffer) => {
    out += d.toString();
    for (const w of waiters.splice(0)) w();
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", (d: Buffer) => {
    err += d.toString();
    onData(d);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => {
    child.once("exit", (code, signal) => {
      res({ code, signal });
      for (const w of waiters.splice(0)) w();
    });
  });
  let done = false;
  void exited.then(() => {
    done = true;
  });
  return {
    child,
    output: () => out,
    stderr: () => err,
    exited,
    waitForOutput(re, timeoutMs = 60_000) {
      return new Promise((res, rej) => {
        const timer = setTimeout(
          () => rej(new Error(`timed out waiting for ${re}; output so far:\n${out}`)),
          timeoutMs,
        );
        const check = () => {
          const m = re.exec(out);
          if (m) {
            clearTimeout(timer);
            res(m[0]);
          } else if (done) {
            clearTimeout(timer);
            rej(new Error(`process exited before ${re}; output:\n${out}`));
          } else {
            waiters.push(check);
          }
        };
        check();
      });
    },
    kill(signal = "SIGKILL") {
      if (done || child.pid === undefined) return;
      try {
        process.kill(-child.pid, signal);
      } catch {
        // already gone
      }
    },
  };
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

export async function waitForHttp(
  url: string,
  status: number,
  timeoutMs = 60_000,
): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url);
      if (res.status === status) return res;
      last = `status ${res.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} did not answer ${status} within ${timeoutMs} ms (last: ${last})`);
}
