// The scheduled backup: a worker with BACKUP_DIR registers the daily scheduler once, each
// `create` job writes a verified, 0600 backup there, and only the newest BACKUP_KEEP stay.
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Queue, QueueEvents } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyBackup } from "../../../src/infra/backup";
import { BACKUP_SCHEDULER_ID } from "../../../src/jobs/processors/backup";
import { startTestWarden, type TestWarden } from "../../support/warden-harness";

let w: TestWarden;
let dir: string;
let queue: Queue;
let events: QueueEvents;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "warden-backup-job-"));
  w = await startTestWarden({
    roles: ["worker"],
    env: { BACKUP_DIR: dir, BACKUP_KEEP: "2", BACKUP_CRON: "40 2 * * *" },
  });
  const connection = { url: w.redis.url };
  queue = new Queue("backup", { connection, prefix: `${w.redis.prefix}bull` });
  events = new QueueEvents("backup", { connection, prefix: `${w.redis.prefix}bull` });
  await events.waitUntilReady();
}, 60_000);

afterAll(async () => {
  await events?.close();
  await queue?.close();
  await w?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("scheduled backups", () => {
  it("when the worker starts with BACKUP_DIR, then the daily backup is scheduled once, in UTC", async () => {
    const scheduler = await queue.getJobScheduler(BACKUP_SCHEDULER_ID);
    expect(scheduler).toMatchObject({ pattern: "40 2 * * *", tz: "UTC", name: "create" });
    expect(await queue.getJobSchedulersCount()).toBe(1);
  });

  it("when three backup jobs run with BACKUP_KEEP=2, then the two newest backups remain and each verifies", async () => {
    const made: string[] = [];
    for (let i = 0; i < 3; i++) {
      const job = await queue.add("create", {});
      const result = (await job.waitUntilFinished(events, 60_000)) as { file: string };
      expect(statSync(result.file).mode & 0o777).toBe(0o600);
      made.push(result.file);
    }
    const files = readdirSync(dir).sort();
    expect(files.map((f) => join(dir, f))).toEqual(made.slice(1));
    for (const f of files) {
      expect(f).toMatch(/^warden-backup-\d{8}T\d{9}Z-[0-9a-f]{8}\.wbk$/);
      const summary = await verifyBackup(join(dir, f), w.env.BACKUP_ENCRYPTION_KEY!);
      expect(summary.header.database).toBe(w.db.name);
    }
  }, 120_000);
});
