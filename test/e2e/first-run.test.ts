// The first ten minutes: `npm start` in a fresh working copy without DATABASE_URL runs the
// embedded PostgreSQL from the npm package, keeps its data between runs, stops it with Warden,
// and recovers from a run that was killed without its shutdown.
import {
  chmodSync,
  cpSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { createTestRedis } from "../support/context";
import {
  baseEnv,
  freePort,
  REPO_ROOT,
  type Spawned,
  spawnProcess,
  waitForHttp,
} from "../support/process";

const redis = createTestRedis();
const scratch = mkdtempSync(join(tmpdir(), "warden-first-run-"));
// When the tests run as root the cluster belongs to the postgres user, who must reach it.
chmodSync(scratch, 0o755);
for (const entry of ["package.json", "tsconfig.json", "src", "migrations"]) {
  cpSync(join(REPO_ROOT, entry), join(scratch, entry), { recursive: true });
}
symlinkSync(join(REPO_ROOT, "node_modules"), join(scratch, "node_modules"));

/** PIDs of processes whose command line names the scratch copy's data directory. */
function postgresOf(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      if (cmd.includes(join(dir, ".data", "postgres"))) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

async function noPostgresLeft(dir: string): Promise<number[]> {
  for (let i = 0; i < 300 && postgresOf(dir).length > 0; i++) {
    await new Promise((r) => setTimeout(r, 200));
  }
  return postgresOf(dir);
}

const running: Spawned[] = [];
afterEach(async () => {
  for (const p of running.splice(0)) {
    p.kill("SIGTERM");
    await Promise.race([p.exited, new Promise((r) => setTimeout(r, 20_000))]);
    p.kill("SIGKILL");
  }
});
afterAll(async () => {
  await redis.cleanup();
  // Whatever a failed assertion left running is stopped; the scratch copy is removed.
  for (const pid of postgresOf(scratch)) {
    try {
      process.kill(pid, "SIGINT");
    } catch {
      // already gone
    }
  }
  await noPostgresLeft(scratch);
  rmSync(scratch, { recursive: true, force: true });
});

async function npmStart(port: number, hibpPort: number): Promise<Spawned> {
  const p = spawnProcess(
    "npm",
    ["start"],
    baseEnv({
      PORT: String(port),
      REDIS_URL: redis.url,
      REDIS_PREFIX: redis.prefix,
      // Nothing listens there: the breach check is unreachable (development fails open).
      HIBP_API_URL: `http://127.0.0.1:${hibpPort}`,
      BCRYPT_COST: "4",
    }),
    { cwd: scratch },
  );
  running.push(p);
  await waitForHttp(`http://127.0.0.1:${port}/readyz`, 200, 120_000);
  await p.waitForOutput(/Warden is running[\s\S]*Roles/, 30_000);
  return p;
}

/** The confirmation link as the development mailbox (/sandbox/mail) shows it, clickable. */
async function confirmationFromMailbox(port: number): Promise<string> {
  for (let i = 0; i < 150; i++) {
    const res = await fetch(`http://127.0.0.1:${port}/sandbox/mail`);
    expect(res.status).toBe(200);
    const m = /<a href="http:\/\/localhost:\d+\/confirm-email#token=([A-Za-z0-9_%-]+)"/.exec(
      await res.text(),
    );
    if (m) return decodeURIComponent(m[1]!);
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error("no confirmation mail in the development mailbox");
}

const credentials = { email: "first@example.test", password: "a long first-run passphrase 7" };

async function login(port: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/api/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(credentials),
  });
  return res.status;
}

describe("first run", () => {
  it("when npm start runs without DATABASE_URL, then the embedded database serves it, keeps its data, stops with it and survives a killed run", async () => {
    const port = await freePort();
    const hibpPort = await freePort();

    // First run: the cluster is created under .data/postgres and named in the banner.
    const first = await npmStart(port, hibpPort);
    const banner = first.output();
    expect(banner).toMatch(/Database\s+embedded PostgreSQL at \.data\/postgres/);
    expect(banner).toContain(`Settings  http://localhost:${port}/settings`);
    expect(banner).toContain(`Mailbox   http://localhost:${port}/sandbox/mail`);
    const lock = JSON.parse(readFileSync(join(scratch, ".data", "postgres.lock"), "utf8"));
    expect(postgresOf(scratch)).toContain(lock.serverPid);
    // No password of the embedded superuser anywhere in the output.
    const secrets = readFileSync(join(scratch, ".secrets", "dev.env"), "utf8");
    const pgPassword = /EMBEDDED_POSTGRES_PASSWORD=(.+)/.exec(secrets)?.[1] ?? "";
    expect(pgPassword.length).toBeGreaterThan(20);
    expect(banner).not.toContain(pgPassword);

    const register = await fetch(`http://127.0.0.1:${port}/api/auth/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(credentials),
    });
    expect(register.status).toBe(202);
    // Without SMTP_URL the mail lands in the development mailbox; its link confirms the address.
    const token = await confirmationFromMailbox(port);
    const confirmed = await fetch(`http://127.0.0.1:${port}/api/auth/email/confirm`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token }),
    });
    expect(confirmed.status).toBe(200);
    expect(await login(port)).toBe(200);

    // SIGTERM: Warden stops, and its PostgreSQL with it.
    // (npm itself dies of the signal; Warden, in the same process group, shuts down.)
    first.kill("SIGTERM");
    await first.exited;
    running.splice(0);
    expect(await noPostgresLeft(scratch)).toEqual([]);

    // Second run: the same data; the user of the first run still signs in.
    const second = await npmStart(port, hibpPort);
    expect(await login(port)).toBe(200);

    // A SIGKILLed run leaves its (detached) PostgreSQL and a stale lock behind...
    second.kill("SIGKILL");
    await second.exited;
    running.splice(0);
    const stale = JSON.parse(readFileSync(join(scratch, ".data", "postgres.lock"), "utf8"));
    expect(postgresOf(scratch)).toContain(stale.serverPid);

    // ...which the next start recovers: the old server is stopped, a new one serves the data.
    const third = await npmStart(port, hibpPort);
    const fresh = JSON.parse(readFileSync(join(scratch, ".data", "postgres.lock"), "utf8"));
    expect(fresh.serverPid).not.toBe(stale.serverPid);
    expect(postgresOf(scratch)).not.toContain(stale.serverPid);
    expect(await login(port)).toBe(200);
    third.kill("SIGTERM");
    await third.exited;
    running.splice(0);
    expect(await noPostgresLeft(scratch)).toEqual([]);

    // The CLI uses the same embedded database, and stops it when the command is done.
    const cli = spawnProcess(
      "npm",
      ["run", "cli", "--", "db", "status"],
      baseEnv({ REDIS_URL: redis.url, REDIS_PREFIX: redis.prefix }),
      { cwd: scratch },
    );
    running.push(cli);
    expect((await cli.exited).code).toBe(0);
    running.splice(0);
    expect(cli.output()).toContain("no pending migrations");
    expect(await noPostgresLeft(scratch)).toEqual([]);
  }, 300_000);
});
