// Fault: a worker process is killed with SIGKILL in the middle of a backup and in the middle of
// a batch of emails, and another worker takes over (BullMQ's stalled-job check redelivers the
// job). Nothing lost, nothing doubled: the backup is redone cleanly (no partial file left, none
// counted as a backup, the one backup verifies) and every mail arrives at the SMTP server once.
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Queue, QueueEvents } from "bullmq";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { parseAccountKeys } from "../../src/domain/vault";
import { listBackups, verifyBackup } from "../../src/infra/backup";
import { createEmailOutbox } from "../../src/jobs/email-outbox";
import {
  createTestDatabase,
  createTestRedis,
  type TestDatabase,
  testEnv,
} from "../support/context";
import { baseEnv, type Spawned, spawnProcess } from "../support/process";
import { startSmtpServer, type TestSmtpServer } from "../support/smtp/server";

const redis = createTestRedis();
// A killed worker's job comes back once its lock has run out (the backup queue's is 60 s, the
// email queue's 30 s); capped at 5 s it is redelivered within seconds, by the same mechanism.
const env = testEnv({ LOG_LEVEL: "info", JOB_LOCK_MAX_MS: "5000" });
let database: TestDatabase;
let smtp: TestSmtpServer;
let dir: string;
const connection = () => ({ url: redis.url });
const prefix = () => `${redis.prefix}bull`;
const running: Spawned[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  smtp = await startSmtpServer();
  dir = mkdtempSync(join(tmpdir(), "warden-fault-backup-"));
  // Enough rows that pg_dump runs for a few seconds, so the kill lands mid-dump.
  const db = new pg.Client({ connectionString: database.url });
  await db.connect();
  await db.query(
    `create table fault_ballast as
       select g, md5(g::text) || repeat(md5((g * 7)::text), 6) as pad
       from generate_series(1, 600000) g`,
  );
  await db.end();
}, 120_000);

afterEach(() => {
  for (const p of running.splice(0)) p.kill("SIGKILL");
});

afterAll(async () => {
  await smtp?.close();
  await database?.drop();
  await redis.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A worker process of its own, as `npm start -- --roles worker` runs it. */
async function worker(): Promise<Spawned> {
  const p = spawnProcess(
    "node",
    ["--import", "tsx", "src/main.ts", "--roles", "worker"],
    baseEnv({
      ...env,
      DATABASE_URL: database.url,
      REDIS_URL: redis.url,
      REDIS_PREFIX: redis.prefix,
      SMTP_URL: smtp.url,
      BACKUP_DIR: dir,
      BACKUP_CRON: "40 2 * * *",
    }),
  );
  running.push(p);
  await p.waitForOutput(/worker role started/, 90_000);
  return p;
}

async function until<T>(what: string, fn: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("fault: worker killed mid-job", () => {
  it("when the worker is killed with SIGKILL mid-backup, then the next worker redoes the backup, no partial file is left or counted, and the one backup verifies", async () => {
    const queue = new Queue("backup", { connection: connection(), prefix: prefix() });
    const events = new QueueEvents("backup", { connection: connection(), prefix: prefix() });
    try {
      await events.waitUntilReady();
      const first = await worker();
      const job = await queue.add("create", {});
      const partial = await until(
        "a partial backup being written",
        () =>
          readdirSync(dir).find((f) => f.endsWith(".partial") && statSync(join(dir, f)).size > 0),
        60_000,
      );
      first.kill("SIGKILL");
      await first.exited;
      // The dead worker's file is there, and it is not a backup.
      expect(readdirSync(dir)).toContain(partial);
      expect(await listBackups(dir)).toEqual([]);

      await worker();
      const result = (await job.waitUntilFinished(events, 150_000)) as { file: string };
      expect(await listBackups(dir)).toEqual([result.file.split("/").pop()]);
      expect(readdirSync(dir).filter((f) => f.endsWith(".partial"))).toEqual([]);
      const summary = await verifyBackup(result.file, env.BACKUP_ENCRYPTION_KEY!);
      expect(summary.header.database).toBe(database.name);
    } finally {
      await events.close();
      await queue.close();
    }
  }, 240_000);

  it("when the worker is killed with SIGKILL mid-batch of emails, then the next worker delivers the rest, none is lost, and the only mails seen twice are ones the kill caught between the relay accepting and answering, each copy with the same Message-ID", async () => {
    const MAILS = 200;
    const queue = new Queue("email", { connection: connection(), prefix: prefix() });
    try {
      const outbox = createEmailOutbox({
        queue,
        accountKeys: { ring: parseAccountKeys(env.ACCOUNT_KEYS!), legacy: undefined },
      });
      const subjects = Array.from({ length: MAILS }, (_, i) => `fault mail ${i}`);
      for (const subject of subjects) {
        await outbox.send({ to: "batch@example.com", subject, text: `${subject}\n` });
      }
      const first = await worker();
      await until(
        "a part of the batch",
        () => (smtp.messages.length >= 30 ? true : undefined),
        60_000,
      );
      first.kill("SIGKILL");
      await first.exited;
      const beforeKill = smtp.messages.length;
      expect(beforeKill).toBeLessThan(MAILS);

      await worker();
      await until(
        "every mail",
        () => (new Set(smtp.messages.map((m) => m.subject)).size >= MAILS ? true : undefined),
        150_000,
      );
      // Jobs in flight at the kill are redelivered after their lock expires: wait until every
      // job has finished (each redelivered one included), so any duplicate has shown.
      const finishedBy = Date.now() + 60_000;
      for (;;) {
        const counts = await queue.getJobCounts("completed", "failed");
        if ((counts.completed ?? 0) + (counts.failed ?? 0) >= MAILS) break;
        if (Date.now() > finishedBy)
          throw new Error(`jobs still unfinished: ${JSON.stringify(counts)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      // SMTP cannot be exactly-once: a mail the relay accepted but whose answer the killed worker
      // never read is sent again (RFC 5321 §4.1.1.4 / RFC 1047). Only the jobs in flight at the
      // kill (the queue's concurrency, 5) can be among them, and each copy carries the
      // message's one Message-ID, so the receiver sees a single message. Everything the worker
      // knew it had sent (marked on the job) is never sent again.
      const idsOf = new Map<string, Set<string>>();
      for (const m of smtp.messages) {
        const id = /^Message-ID:\s*(<[^>]+>)/im.exec(m.raw)?.[1] ?? "";
        expect(id).toMatch(/^<warden-[0-9a-f]{32}@/);
        idsOf.set(m.subject, (idsOf.get(m.subject) ?? new Set()).add(id));
      }
      expect([...idsOf.values()].filter((ids) => ids.size !== 1)).toEqual([]);
      expect(new Set([...idsOf.values()].flatMap((ids) => [...ids])).size).toBe(MAILS);
      expect([...idsOf.keys()].sort()).toEqual([...subjects].sort());
      expect(smtp.messages.length - MAILS).toBeLessThanOrEqual(5);
      expect(await queue.getJobCounts("completed", "failed")).toEqual({
        completed: MAILS,
        failed: 0,
      });
    } finally {
      await queue.close();
    }
  }, 240_000);
});
