// Email through BullMQ and a local SMTP relay: sealed job data (S1.1), delivery, permanent
// refusals that fail at once, transient failures that are retried, the development outbox,
// and logs that show only a masked recipient.
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Job, Queue } from "bullmq";
import { simpleParser } from "mailparser";
import { afterAll, describe, expect, it } from "vitest";
import {
  type EmailMessage,
  newLoginEmail,
  resetPasswordEmail,
} from "../../../src/domain/accounts/email";
import {
  generateFernetKey,
  InvalidFernetToken,
  parseAccountKeys,
  parseMasterKeys,
} from "../../../src/domain/vault";
import { createLogger } from "../../../src/infra/logger";
import {
  createMailer,
  type Mailer,
  PermanentEmailError,
  TransientEmailError,
} from "../../../src/infra/mailer";
import { createRedisFactory, type RedisFactory } from "../../../src/infra/redis";
import { createScrubber } from "../../../src/infra/scrub";
import { createEmailOutbox, openEmail, sealedEmailData } from "../../../src/jobs/email-outbox";
import { createEmailProcessor } from "../../../src/jobs/processors/email";
import { QUEUE_DEFINITIONS, startWorkers, type WorkerPool } from "../../../src/jobs/registry";
import { createTestRedis, type TestRedis } from "../../support/context";
import { captureLogs } from "../../support/log-capture";
import { scanRedis } from "../../support/secret-scan";
import {
  type SmtpServerOptions,
  startSmtpServer,
  type TestSmtpServer,
} from "../../support/smtp/server";

const FROM = "Warden <no-reply@warden.example>";
const ALICE = "alice.liddell@example.com";
const BOB = "bob.builder@example.org";
const REFUSED = "nobody.home@example.net";
const resetLink = () => `https://warden.example/reset?t=${randomBytes(32).toString("base64url")}`;

const masterRing = parseMasterKeys(`1:${generateFernetKey()}`);
/** Mail is sealed under ACCOUNT_KEYS; MASTER_KEYS opens only jobs queued before the split. */
const keyRing = { ring: parseAccountKeys(`1:${generateFernetKey()}`), legacy: masterRing };
const logs = captureLogs();
const logger = createLogger({
  level: "info",
  pretty: false,
  scrubber: createScrubber(),
  destination: logs.stream,
});
/** Every message handed to the pipeline in this file, for the log check at the end. */
const sent: EmailMessage[] = [];

interface Stack {
  smtp: TestSmtpServer;
  redis: TestRedis;
  queue: Queue;
  outbox: ReturnType<typeof createEmailOutbox>;
  startWorker(): void;
  close(): Promise<void>;
}

const stacks: Stack[] = [];
afterAll(async () => {
  await Promise.all(stacks.map((s) => s.close()));
});

/**
 * A queue under its own key prefix, the outbox on it, an SMTP relay, and (on demand) the email
 * worker from the registry. Retries wait `backoffMs` instead of the registry's 2 s exponential.
 */
async function startStack(smtpOptions: SmtpServerOptions, backoffMs = 200): Promise<Stack> {
  const smtp = await startSmtpServer(smtpOptions);
  const redis = createTestRedis();
  const factory: RedisFactory = createRedisFactory({ url: redis.url, keyPrefix: redis.prefix });
  const queue = new Queue(QUEUE_DEFINITIONS.email.name, {
    connection: factory.create("producer", "test-queue"),
    prefix: factory.bullPrefix,
    defaultJobOptions: {
      ...QUEUE_DEFINITIONS.email.defaultJobOptions,
      backoff: { type: "fixed", delay: backoffMs },
    },
  });
  await queue.waitUntilReady();
  const mailer: Mailer = createMailer({ smtpUrl: smtp.url, from: FROM, logger });
  let pool: WorkerPool | undefined;
  const stack: Stack = {
    smtp,
    redis,
    queue,
    outbox: createEmailOutbox({ queue, accountKeys: keyRing }),
    startWorker() {
      pool = startWorkers({
        connection: () => factory.create("worker", "test-worker"),
        prefix: factory.bullPrefix,
        processors: { email: createEmailProcessor({ mailer, accountKeys: keyRing, logger }) },
        logger,
      });
    },
    async close() {
      await pool?.close(5_000);
      await queue.close();
      await mailer.close();
      await smtp.close();
      await factory.closeAll();
      await redis.cleanup();
    },
  };
  stacks.push(stack);
  return stack;
}

async function send(stack: Stack, message: EmailMessage): Promise<void> {
  sent.push(message);
  await stack.outbox.send(message);
}

async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The job of the message to `to`, once it is in `state`. */
function jobTo(stack: Stack, to: string, state: "completed" | "failed"): Promise<Job> {
  return eventually(`the job to ${to} to be ${state}`, async () => {
    const jobs = await stack.queue.getJobs([state]);
    return jobs.find((j) => j.name === "send" && recipientOf(j) === to);
  });
}

function recipientOf(job: Job): string | undefined {
  const data = sealedEmailData.safeParse(job.data);
  if (!data.success) return undefined;
  try {
    return openEmail(keyRing, data.data).to;
  } catch {
    return undefined;
  }
}

describe("email over BullMQ (S1.1)", () => {
  let main: Stack;

  it("when a reset mail is queued, then Redis holds neither the link nor the address, and the mail arrives with the link", async () => {
    main = await startStack({ rejectRecipients: [REFUSED] });
    const link = resetLink();
    await send(main, resetPasswordEmail({ to: ALICE, link, expiresMinutes: 30 }));

    // Waiting, no worker yet: the job data is only the sealed token, its ring and key version.
    const [waiting] = await main.queue.getJobs(["waiting"]);
    expect(waiting?.name).toBe("send");
    expect(Object.keys(waiting?.data ?? {}).sort()).toEqual(["ring", "sealed", "version"]);
    expect(sealedEmailData.parse(waiting?.data).version).toBe(1);
    expect(sealedEmailData.parse(waiting?.data).ring).toBe("account");
    expect(await scanRedis(main.redis.url, main.redis.prefix, [link, ALICE])).toEqual([]);

    main.startWorker();
    const mail = await main.smtp.waitForMessage((m) => m.to.includes(ALICE));
    expect(mail.from).toBe("no-reply@warden.example");
    expect(mail.subject).toBe("Reset your Warden password");
    expect(mail.text).toContain(link);
    expect(mail.text).toContain("The link works once and only for the next 30 minutes.");
    expect(mail.html).toContain(`href="${link}"`);

    const done = await jobTo(main, ALICE, "completed");
    expect(done.returnvalue).toEqual({ messageId: expect.stringMatching(/^<.+>$/) });
    expect(await scanRedis(main.redis.url, main.redis.prefix, [link, ALICE])).toEqual([]);
    expect(logs.text()).toContain('"to":"a***@example.com"');
  });

  it("when the relay refuses a recipient with 550, then that job fails after one attempt and a later mail to a good address is still delivered", async () => {
    await send(
      main,
      newLoginEmail({ to: REFUSED, when: new Date(), ip: "203.0.113.9", userAgent: "curl/8" }),
    );
    await send(
      main,
      newLoginEmail({ to: BOB, when: new Date(), ip: "198.51.100.4", userAgent: "Firefox" }),
    );

    const delivered = await main.smtp.waitForMessage((m) => m.to.includes(BOB));
    expect(delivered.subject).toBe("New sign-in to your Warden account");
    const failed = await jobTo(main, REFUSED, "failed");
    expect(await failed.getState()).toBe("failed");
    expect(failed.attemptsMade).toBe(1);
    expect(failed.failedReason).toMatch(/550/);
    expect(failed.failedReason).toContain("n***@example.net");
    expect(main.smtp.messages.some((m) => m.to.includes(REFUSED))).toBe(false);
    // The relay echoed the address in its reply; the stored failure reason does not.
    expect(await scanRedis(main.redis.url, main.redis.prefix, [REFUSED])).toEqual([]);
  });

  it("when a job has an unknown name or data that is not a sealed message, then it fails at once", async () => {
    const unknown = await main.queue.add("frobnicate", {});
    const forged = await main.queue.add("send", { sealed: "gAAAAAnot-a-token", version: 1 });
    const plain = await main.queue.add("send", { to: BOB, subject: "hi", text: "plaintext" });
    for (const job of [unknown, forged, plain]) {
      const state = await eventually(`job ${job.id} to fail`, async () => {
        const s = await main.queue.getJobState(job.id!);
        return s === "failed" ? s : undefined;
      });
      expect(state).toBe("failed");
    }
    const reasons = await Promise.all(
      [unknown, forged, plain].map(async (j) => {
        const job = await main.queue.getJob(j.id!);
        expect(job?.attemptsMade).toBe(1);
        return job?.failedReason;
      }),
    );
    expect(reasons).toEqual([
      'email queue: unknown job "frobnicate"',
      "email job: cannot open the sealed message (InvalidFernetToken)",
      "email job: data is not a sealed message",
    ]);
  });

  it("when a mail is queued after the rings split, then it is sealed under the account ring and the master ring does not open it", async () => {
    const to = "carol.split@example.com";
    await send(main, newLoginEmail({ to, when: new Date(), ip: "203.0.113.7", userAgent: "x" }));
    const job = await jobTo(main, to, "completed");
    const data = sealedEmailData.parse(job.data);
    expect(data.ring).toBe("account");
    expect(() => masterRing.decrypt(data.version, data.sealed)).toThrow(InvalidFernetToken);
    // Opened under the ring it records, with no master ring at hand at all.
    expect(openEmail({ ring: keyRing.ring, legacy: undefined }, data).to).toBe(to);
  });

  it("when a mail sealed under MASTER_KEYS before the split (no ring in its job) is still queued, then the worker delivers it", async () => {
    const to = "dave.legacy@example.com";
    const message = newLoginEmail({ to, when: new Date(), ip: "203.0.113.8", userAgent: "x" });
    sent.push(message);
    const { token, version } = masterRing.encrypt(Buffer.from(JSON.stringify(message)));
    await main.queue.add("send", { sealed: token, version });
    const mail = await main.smtp.waitForMessage((m) => m.to.includes(to));
    expect(mail.subject).toBe("New sign-in to your Warden account");
    expect((await jobTo(main, to, "completed")).attemptsMade).toBe(1);
  });

  it("when the relay answers 451 to the first two sessions, then the job is retried and the mail is delivered", async () => {
    const flaky = await startStack({ failTimes: 2 });
    flaky.startWorker();
    const started = Date.now();
    const link = resetLink();
    await send(flaky, resetPasswordEmail({ to: ALICE, link, expiresMinutes: 15 }));

    const mail = await flaky.smtp.waitForMessage((m) => m.to.includes(ALICE), 12_000);
    expect(mail.text).toContain(link);
    expect(flaky.smtp.connections()).toBeGreaterThanOrEqual(3);
    const done = await jobTo(flaky, ALICE, "completed");
    expect(done.attemptsMade).toBe(3);
    expect(Date.now() - started).toBeLessThan(12_000);
    expect(logs.text()).toMatch(/email delivery failed, will retry/);
    expect(await scanRedis(flaky.redis.url, flaky.redis.prefix, [link, ALICE])).toEqual([]);
  });
});

describe("mailer failure classes", () => {
  it("when the relay refuses the recipient with 550, then delivery fails as permanent; when it cannot be reached, as transient", async () => {
    const smtp = await startSmtpServer({ rejectRecipients: [REFUSED] });
    const refusing = createMailer({ smtpUrl: smtp.url, from: FROM, logger });
    const message = { to: REFUSED, subject: "s", text: "t" };
    const refused = await refusing.deliver(message).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(PermanentEmailError);
    expect((refused as PermanentEmailError).responseCode).toBe(550);
    expect((refused as Error).message).not.toContain(REFUSED);
    await refusing.close();
    await smtp.close();

    // The port was just freed, so nothing listens there now: connection refused.
    const unreachable = createMailer({ smtpUrl: smtp.url, from: FROM, logger });
    const down = await unreachable.deliver({ ...message, to: BOB }).catch((err: unknown) => err);
    expect(down).toBeInstanceOf(TransientEmailError);
    expect((down as Error).message).toMatch(/ECONNREFUSED/);
    await unreachable.close();
  });
});

describe("development outbox", () => {
  it("when there is no SMTP URL, then each mail is a parseable .eml file in a private directory, and the directory is logged", async () => {
    const tmp = await mkdtemp(join(tmpdir(), "warden-outbox-"));
    const outboxDir = join(tmp, "outbox");
    const mailer = createMailer({ from: FROM, outboxDir, logger });
    try {
      const link = resetLink();
      const message = resetPasswordEmail({ to: ALICE, link, expiresMinutes: 30 });
      sent.push(message);
      const { messageId } = await mailer.deliver(message);
      expect(messageId).toMatch(/^<.+>$/);

      expect((await stat(outboxDir)).mode & 0o777).toBe(0o700);
      const files = await readdir(outboxDir);
      expect(files).toHaveLength(1);
      expect(files[0]).toMatch(/\.eml$/);
      const file = join(outboxDir, files[0]!);
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      const raw = await readFile(file);
      expect(raw.includes("\r\n")).toBe(true);
      const parsed = await simpleParser(raw);
      expect(parsed.subject).toBe("Reset your Warden password");
      expect(parsed.messageId).toBe(messageId);
      expect(parsed.text).toContain(link);
      expect(parsed.html || "").toContain(`href="${link}"`);
      const to = Array.isArray(parsed.to) ? parsed.to[0] : parsed.to;
      expect(to?.value[0]?.address).toBe(ALICE);

      expect(logs.text()).toContain(JSON.stringify(outboxDir).slice(1, -1));
    } finally {
      await mailer.close();
      await rm(tmp, { recursive: true, force: true });
    }
  });
});

describe("email logs", () => {
  it("when mails were delivered, refused and retried, then the logs hold no subject, body, link or full address", () => {
    const out = logs.text();
    expect(sent.length).toBeGreaterThanOrEqual(5);
    for (const m of sent) {
      expect(out).not.toContain(m.to);
      expect(out).not.toContain(m.subject);
      for (const line of m.text.split("\n").filter((l) => l.length > 12)) {
        expect(out).not.toContain(line);
      }
    }
    expect(out).toContain("email delivered");
    expect(out).toContain("email refused permanently, not retrying");
  });
});
