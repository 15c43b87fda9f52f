// Sealed key intake through the real API (issue 19): the api process runs without the signer
// role, so POST /api/keys seals the pasted key to the signer's published intake key and files it
// on the `signer-keys` queue; a signer of its own (the real processor) opens it, verifies the
// scopes at a fake Bybit, encrypts and stores. Replays, retired intake keys and stale envelopes
// are refused and recorded; nothing secret crosses Redis in clear.
import { randomBytes } from "node:crypto";
import type { MikroORM } from "@mikro-orm/postgresql";
import { Job } from "bullmq";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  generateIntakeKey,
  type IntakeKeyRing,
  type IntakePublicKeys,
  parseIntakeKeys,
  parseMasterKeys,
} from "../../../src/domain/vault";
import { refusalMessage } from "../../../src/domain/venues/keys";
import { INTAKE_REQUEST_TTL_MS, sealKeyMaterial } from "../../../src/domain/venues/sealed-keys";
import { loadConfig } from "../../../src/infra/config";
import { createOrm } from "../../../src/infra/database";
import type { WorkerPool } from "../../../src/jobs/registry";
import { keyJobId, type SignerKeyJob } from "../../../src/jobs/signer-keys";
import { confirmationToken } from "../../support/email-confirmation";
import {
  createTestKeyProcessor,
  keyQueueClient,
  startTestKeySigner,
} from "../../support/key-signer";
import { scanPostgres, scanRedis } from "../../support/secret-scan";
import { seedPaperUsers } from "../../support/trading-fixtures";
import {
  BYBIT_TRADE_ONLY_QUERY_API,
  type FakeBybit,
  startFakeBybit,
} from "../../support/venues/bybit";
import { startTestWarden, type TestWarden } from "../../support/warden-harness";

const hex = (n: number) => randomBytes(n).toString("hex");
const good = { apiKey: `SG${hex(9)}`, secret: `SS${hex(18)}` };
const later = { apiKey: `SL${hex(9)}`, secret: `SM${hex(18)}` };
const withdraws = { apiKey: `SW${hex(9)}`, secret: `SX${hex(18)}` };
const rotated = { apiKey: `SR${hex(9)}`, secret: `ST${hex(18)}` };
// Rotations of one key by several requests (the exactly-once tests).
const [r1, r2, r3, r4] = ["A", "B", "C", "D"].map((c) => ({
  apiKey: `R${c}${hex(9)}`,
  secret: `Q${c}${hex(18)}`,
})) as [typeof good, typeof good, typeof good, typeof good];
const needles = [good, later, withdraws, rotated, r1, r2, r3, r4].flatMap((k) => [
  k.apiKey,
  k.secret,
]);
const intakeV1 = generateIntakeKey();
const intakeV2 = generateIntakeKey();

let bybit: FakeBybit;
let w: TestWarden;
let orm: MikroORM;
let db: pg.Client;
let signer: WorkerPool | undefined;
let ring: IntakeKeyRing;
let kq: Awaited<ReturnType<typeof keyQueueClient>>;
let token: string;
let userId: string;
const bullPrefix = () => `${w.redis.prefix}bull`;

async function startSigner(keys: string): Promise<void> {
  await signer?.close(5_000);
  ring = parseIntakeKeys(keys);
  signer = await startTestKeySigner({
    orm,
    config: loadConfig(w.signerEnv),
    redisUrl: w.redis.url,
    bullPrefix: bullPrefix(),
    intakeKeys: ring,
  });
}

beforeAll(async () => {
  bybit = await startFakeBybit({
    keys: {
      [good.apiKey]: { secret: good.secret, queryApi: BYBIT_TRADE_ONLY_QUERY_API },
      [later.apiKey]: { secret: later.secret, queryApi: BYBIT_TRADE_ONLY_QUERY_API },
      [rotated.apiKey]: { secret: rotated.secret, queryApi: BYBIT_TRADE_ONLY_QUERY_API },
      ...Object.fromEntries(
        [r1, r2, r3, r4].map((k) => [
          k.apiKey,
          { secret: k.secret, queryApi: BYBIT_TRADE_ONLY_QUERY_API },
        ]),
      ),
      [withdraws.apiKey]: {
        secret: withdraws.secret,
        queryApi: {
          ...BYBIT_TRADE_ONLY_QUERY_API,
          permissions: {
            ...(BYBIT_TRADE_ONLY_QUERY_API.permissions as object),
            Wallet: ["Withdraw"],
          },
        },
      },
    },
  });
  // api and worker here; the signer runs apart (below), as in a split deployment.
  w = await startTestWarden({ env: { VENUE_URL_BYBIT: bybit.url }, roles: ["api", "worker"] });
  orm = await createOrm({ url: w.db.url });
  db = new pg.Client({ connectionString: w.db.url });
  await db.connect();
  await startSigner(`1:${intakeV1}`);
  kq = await keyQueueClient(w.redis.url, bullPrefix());
  const reg = { email: "sealed@example.com", password: "a long unique passphrase" };
  await api("POST", "/api/auth/register", reg);
  await api("POST", "/api/auth/email/confirm", {
    token: await confirmationToken(w.smtp, reg.email),
  });
  token = ((await api("POST", "/api/auth/login", reg)).body as { accessToken: string }).accessToken;
  expect((await api("POST", "/api/auth/step-up", { password: reg.password }, token)).status).toBe(
    200,
  );
  const [me] = (await db.query("select id::text as id from users where email = $1", [reg.email]))
    .rows;
  userId = me.id;
});

afterAll(async () => {
  await signer?.close(5_000);
  ring?.dispose();
  await kq?.close();
  await db?.end();
  await orm?.close();
  await w?.stop();
  await bybit?.close();
});

async function api(method: string, path: string, body?: unknown, auth?: string) {
  const res = await fetch(`${w.base}${path}`, {
    method,
    headers: {
      "content-type": "application/json",
      ...(auth ? { authorization: `Bearer ${auth}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** The signer-keys jobs in Redis, oldest first. */
async function keyJobs(): Promise<Job[]> {
  const jobs = await kq.queue.getJobs(["completed", "failed", "waiting", "active"]);
  return jobs.sort((a, b) => a.timestamp - b.timestamp);
}

async function intakeRefusals(reason: string) {
  const { rows } = await db.query(
    `select user_id::text as user_id, details from security_events
      where kind = 'key_intake_refused' and details->>'reason' = $1`,
    [reason],
  );
  return rows as Array<{ user_id: string | null; details: Record<string, unknown> }>;
}

/** A job as the api files it: `key` sealed to `publicKeys` with every field of the job bound. */
function sealedJob(
  publicKeys: IntakePublicKeys,
  key: { apiKey: string; secret: string },
  fields: Partial<Omit<SignerKeyJob, "envelope">> = {},
): SignerKeyJob {
  const request: Omit<SignerKeyJob, "envelope"> = {
    action: "connect",
    requestId: hex(16),
    userId,
    venue: "bybit",
    label: "",
    testnet: false,
    expiresAt: Date.now() + INTAKE_REQUEST_TTL_MS,
    ip: null,
    ...fields,
  };
  const material = { apiKey: Buffer.from(key.apiKey), secret: Buffer.from(key.secret) };
  return { ...request, envelope: sealKeyMaterial(publicKeys, request, material) };
}

/** The secret stored for key `id`, decrypted with the service's master keys. */
async function storedSecret(id: string): Promise<string> {
  const { rows } = await db.query(
    "select secret, encryption_key_version from exchange_credentials where id = $1",
    [id],
  );
  const secret = parseMasterKeys(w.signerEnv.MASTER_KEYS!).decrypt(
    rows[0].encryption_key_version,
    rows[0].secret,
  );
  const text = secret.toString("utf8");
  secret.fill(0);
  return text;
}

/** The request ids of the key_rotated events of key `id`, oldest first. */
async function rotatedEvents(id: string): Promise<string[]> {
  const { rows } = await db.query(
    `select details->>'requestId' as request_id from security_events
      where kind = 'key_rotated' and details->>'credentialId' = $1 order by id`,
    [id],
  );
  return rows.map((r) => r.request_id as string);
}

/** The job BullMQ would hand the signer for `data` (filed as the api files it). */
function jobOf(data: SignerKeyJob): Job {
  return new Job(kq.queue, data.action, data, {}, keyJobId(data.userId, data.requestId));
}

async function credentialCount(): Promise<number> {
  const { rows } = await db.query(
    "select count(*)::int as n from exchange_credentials where venue = 'bybit'",
  );
  return rows[0].n;
}

describe("sealed key intake through /api/keys", () => {
  it("when a trade-only Bybit key is added to an api without the signer role, then the signer stores it encrypted and usable, and the queued job carried only an envelope", async () => {
    const res = await api("POST", "/api/keys", { venue: "bybit", label: "sealed", ...good }, token);
    expect(res.status).toBe(201);
    expect(res.body.key).toMatchObject({
      venue: "bybit",
      label: "sealed",
      keyHint: `${good.apiKey.slice(0, 4)}…${good.apiKey.slice(-4)}`,
      status: "active",
    });
    const { rows } = await db.query(
      "select api_key, secret, encryption_key_version from exchange_credentials where id = $1",
      [(res.body.key as { id: string }).id],
    );
    expect(rows[0].api_key).toMatch(/^gAAAAA/);
    expect(rows[0].secret).toMatch(/^gAAAAA/);
    const masterKeys = parseMasterKeys(w.signerEnv.MASTER_KEYS!);
    const secret = masterKeys.decrypt(rows[0].encryption_key_version, rows[0].secret);
    expect(secret.equals(Buffer.from(good.secret))).toBe(true);
    secret.fill(0);
    const jobs = await keyJobs();
    expect(jobs).toHaveLength(1);
    const data = jobs[0]!.data as SignerKeyJob;
    expect(Object.keys(data).sort()).toEqual(
      [
        "action",
        "envelope",
        "expiresAt",
        "ip",
        "label",
        "requestId",
        "testnet",
        "userId",
        "venue",
      ].sort(),
    );
    expect(data.envelope).toMatch(/^wsi2\.1\./);
    expect(data.userId).toBe(userId);
  });

  it("when the Redis keys under the test prefix are scanned, then neither the api key nor the secret is in any of them, nor in PostgreSQL", async () => {
    expect(await scanRedis(w.redis.url, w.redis.prefix, needles)).toEqual([]);
    expect(await scanPostgres(w.db.url, needles)).toEqual([]);
  });

  it("when the same envelope is filed again as a new job for the same request, then the signer refuses it as replayed, stores nothing and records a security event", async () => {
    const [first] = await keyJobs();
    const data = first!.data as SignerKeyJob;
    await first!.remove();
    const before = await credentialCount();
    const outcome = await kq.client.connect(data, { deadlineMs: 20_000 });
    expect(outcome.status).toBe("refused");
    expect(outcome.status === "refused" && outcome.reason).toContain("already used once");
    expect(await credentialCount()).toBe(before);
    const events = await intakeRefusals("replayed");
    expect(events).toHaveLength(1);
    expect(events[0]!.user_id).toBe(userId);
    expect(events[0]!.details.requestId).toBe(data.requestId);
  });

  it("when the same envelope is filed under a fresh request id, or for another user, then it does not open, nothing is stored and each attempt is recorded", async () => {
    const res = await api("POST", "/api/keys", { venue: "bybit", label: "again", ...later }, token);
    expect(res.status).toBe(201);
    const data = (await keyJobs()).at(-1)!.data as SignerKeyJob;
    const request = data;
    const [mallory] = await seedPaperUsers(orm, 1, 9_810_000);
    const before = await credentialCount();
    const asNewRequest = await kq.client.connect(
      { ...request, requestId: hex(16) },
      { deadlineMs: 20_000 },
    );
    const forAnotherUser = await kq.client.connect(
      { ...request, userId: mallory! },
      { deadlineMs: 20_000 },
    );
    for (const outcome of [asNewRequest, forAnotherUser]) {
      expect(outcome.status).toBe("refused");
      expect(outcome.status === "refused" && outcome.reason).toContain(
        "does not open for this account and request",
      );
    }
    expect(await credentialCount()).toBe(before);
    const events = await intakeRefusals("open_failed");
    expect(events.map((e) => e.user_id).sort()).toEqual([userId, mallory].sort());
  });

  it("when an envelope is older than its expiry, then the signer refuses it as expired and records it", async () => {
    const job = sealedJob(ring.publicKeys(), later, { expiresAt: Date.now() - 1_000 });
    const outcome = await kq.client.connect(job, { deadlineMs: 20_000 });
    expect(outcome.status === "refused" && outcome.reason).toContain("expired");
    expect(await intakeRefusals("expired")).toHaveLength(1);
  });

  it("when an envelope of the older format (wsi1, its job's other fields unbound) is filed, then the signer refuses it as outdated, records it and stores nothing", async () => {
    const job = sealedJob(ring.publicKeys(), later);
    const before = await credentialCount();
    const outcome = await kq.client.connect(
      { ...job, envelope: job.envelope.replace(/^wsi2\./, "wsi1.") },
      { deadlineMs: 20_000 },
    );
    expect(outcome).toEqual({
      status: "refused",
      reason:
        "This key was sealed by an older version of Warden. Nothing was stored; paste the key again.",
    });
    expect(await credentialCount()).toBe(before);
    const events = await intakeRefusals("outdated_envelope");
    expect(events.map((e) => e.details.requestId)).toEqual([job.requestId]);
  });

  it("when the signer's intake key is rotated and version 1 retired, then an envelope sealed to version 1 is refused with a clear message and the api seals to version 2", async () => {
    const job = sealedJob(ring.publicKeys(), later);
    await startSigner(`2:${intakeV2}`);
    const { rows } = await db.query(
      "select version, retired_at is not null as retired from signer_intake_keys order by version",
    );
    expect(rows).toEqual([
      { version: 1, retired: true },
      { version: 2, retired: false },
    ]);
    const outcome = await kq.client.connect(job, { deadlineMs: 20_000 });
    expect(outcome).toEqual({
      status: "refused",
      reason:
        "This key was sealed to a retired intake key (version 1). Nothing was stored; paste the key again.",
    });
    expect(await intakeRefusals("retired_intake_key")).toHaveLength(1);
    const again = await api("POST", "/api/keys", { venue: "bybit", label: "v2", ...good }, token);
    expect(again.status).toBe(201);
    expect(((await keyJobs()).at(-1)!.data as SignerKeyJob).envelope).toMatch(/^wsi2\.2\./);
  });

  it("when the key can withdraw, then the sealed path answers 422 with today's message naming Wallet.Withdraw and nothing is stored", async () => {
    const before = await credentialCount();
    const res = await api("POST", "/api/keys", { venue: "bybit", ...withdraws }, token);
    expect(res.status).toBe(422);
    expect(res.body.error).toBe("key_refused");
    const refusals = res.body.refusals as Array<{ permission: string; fix: string }>;
    expect(refusals.map((r) => r.permission)).toContain("Wallet.Withdraw");
    expect(res.body.message).toBe(refusalMessage("bybit", refusals as never));
    expect(await credentialCount()).toBe(before);
  });

  it("when a key is rotated through the api without the signer role, then the signer replaces its material and the job names the key, not the secret", async () => {
    const { rows } = await db.query(
      "select id::text as id from exchange_credentials where label = 'sealed' and venue = 'bybit'",
    );
    const id = rows[0].id as string;
    const res = await api("POST", `/api/keys/${id}/rotate`, rotated, token);
    expect(res.status).toBe(200);
    expect((res.body.key as { keyHint: string }).keyHint).toBe(
      `${rotated.apiKey.slice(0, 4)}…${rotated.apiKey.slice(-4)}`,
    );
    const job = (await keyJobs()).at(-1)!.data as SignerKeyJob;
    expect(job).toMatchObject({ action: "rotate", credentialId: id, venue: "bybit" });
    const { rows: after } = await db.query(
      "select secret, encryption_key_version from exchange_credentials where id = $1",
      [id],
    );
    const masterKeys = parseMasterKeys(w.signerEnv.MASTER_KEYS!);
    const secret = masterKeys.decrypt(after[0].encryption_key_version, after[0].secret);
    expect(secret.equals(Buffer.from(rotated.secret))).toBe(true);
    secret.fill(0);
  });

  it("when a queued job's action, target key, network, label or IP is edited before the signer takes it, then it does not open: refused, recorded, nothing stored or replaced; the unedited request still stores", async () => {
    const ids = async (label: string) =>
      (
        await db.query(
          "select id::text as id from exchange_credentials where label = $1 and venue = 'bybit' order by id",
          [label],
        )
      ).rows[0].id as string;
    const [sealedId, againId, v2Id] = [await ids("sealed"), await ids("again"), await ids("v2")];
    const snapshot = async () =>
      (
        await db.query(
          `select id, label, testnet, api_key, secret, key_hint, updated_at, revoked_at
             from exchange_credentials order by id`,
        )
      ).rows;
    const before = await snapshot();
    const publicKeys = ring.publicKeys();
    // The signer is down while the jobs wait in Redis, where an attacker edits them.
    await signer?.close(5_000);
    signer = undefined;
    const edits: Array<{ field: string; sealed: SignerKeyJob; edited: SignerKeyJob }> = [];
    const edit = (field: string, sealed: SignerKeyJob, changes: Partial<SignerKeyJob>) => {
      const edited = { ...sealed, ...changes };
      if (changes.action === "connect") delete edited.credentialId;
      edits.push({ field, sealed, edited });
    };
    edit("testnet → mainnet", sealedJob(publicKeys, later, { testnet: true }), { testnet: false });
    edit("label", sealedJob(publicKeys, later, { label: "mine" }), { label: "attacker" });
    edit("ip", sealedJob(publicKeys, later, { ip: "203.0.113.7" }), { ip: "198.51.100.1" });
    const rotateAgain = { action: "rotate", credentialId: againId } as const;
    edit("credentialId", sealedJob(publicKeys, later, rotateAgain), { credentialId: v2Id });
    edit("action connect → rotate", sealedJob(publicKeys, later), {
      action: "rotate",
      credentialId: sealedId,
    });
    edit("action rotate → connect", sealedJob(publicKeys, later, rotateAgain), {
      action: "connect",
    });
    const jobs: Job[] = [];
    for (const { sealed, edited } of edits) {
      const jobId = keyJobId(sealed.userId, sealed.requestId);
      if (sealed.action === edited.action) {
        // Edited in place: same job, same name, other data.
        const job = await kq.queue.add(sealed.action, sealed, { jobId });
        await job.updateData(edited);
        jobs.push(job);
      } else {
        // Another action is another job name: filed as such under the request's job id.
        jobs.push(await kq.queue.add(edited.action, edited, { jobId }));
      }
    }
    await startSigner(`2:${intakeV2}`);
    for (const [i, job] of jobs.entries()) {
      const answer = await job.waitUntilFinished(kq.events, 20_000);
      expect(answer, edits[i]!.field).toEqual({
        refused:
          "This sealed key does not open for this account and request (tampered or replayed). Nothing was stored.",
      });
    }
    expect(await snapshot()).toEqual(before);
    const refusals = await intakeRefusals("open_failed");
    for (const { field, sealed } of edits) {
      const mine = refusals.filter((e) => e.details.requestId === sealed.requestId);
      expect(mine, field).toHaveLength(1);
      expect(mine[0]!.user_id).toBe(userId);
    }
    // Control: the request as sealed (never claimed, as it never opened) still opens and stores.
    await jobs[1]!.remove();
    const unedited = await kq.client.connect(edits[1]!.sealed, { deadlineMs: 20_000 });
    expect(unedited).toMatchObject({ status: "done", result: { ok: true } });
    const stored = unedited.status === "done" && unedited.result.ok ? unedited.result : null;
    const { rows } = await db.query(
      "select label, testnet from exchange_credentials where id = $1",
      [stored?.credentialId],
    );
    expect(rows).toEqual([{ label: "mine", testnet: false }]);
  });

  it("when the signer runs the same connect job twice at once, again after answering, again after a crash between storing and answering, past its expiry, and edited in place, then one key is stored, added once, and every run answers that key", async () => {
    const processor = await createTestKeyProcessor({
      orm,
      config: loadConfig(w.signerEnv),
      intakeKeys: ring,
    });
    const data = sealedJob(ring.publicKeys(), good, { label: "redelivered" });
    // One job (its id and creation time), delivered again and again, as BullMQ redelivers.
    const job = new Job(kq.queue, "connect", data, {}, keyJobId(userId, data.requestId));
    const before = await credentialCount();
    const [a, b] = await Promise.all([processor(job), processor(job)]);
    expect(a).toMatchObject({ ok: true });
    const first = a as { ok: true; credentialId: string };
    expect(b).toEqual(first);
    expect(await credentialCount()).toBe(before + 1);
    expect(await processor(job)).toEqual(first);
    // The state a crash leaves after the key was stored and before its answer was recorded.
    await db.query("update signer_intake_claims set answer = null where request_id = $1", [
      data.requestId,
    ]);
    expect(await processor(job)).toEqual(first);
    await db.query("update signer_intake_claims set answer = null where request_id = $1", [
      data.requestId,
    ]);
    const late = await createTestKeyProcessor({
      orm,
      config: loadConfig(w.signerEnv),
      intakeKeys: ring,
      now: () => data.expiresAt + 60_000,
    });
    expect(await late(job)).toEqual(first);
    // The same job edited in place (its label) before another redelivery: the edit is refused
    // and recorded, and the answer its first run gave stands.
    const edited = new Job(
      kq.queue,
      "connect",
      { ...data, label: "edited" },
      { timestamp: job.timestamp },
      job.id,
    );
    expect(await processor(edited)).toEqual(first);
    const refusals = await intakeRefusals("open_failed");
    expect(refusals.filter((e) => e.details.requestId === data.requestId)).toHaveLength(1);
    expect(await credentialCount()).toBe(before + 1);
    const { rows } = await db.query(
      `select count(*)::int as n from security_events
        where kind = 'key_added' and details->>'credentialId' = $1`,
      [first.credentialId],
    );
    expect(rows[0].n).toBe(1);
    const { rows: stored } = await db.query(
      "select label, intake_request_id from exchange_credentials where id = $1",
      [first.credentialId],
    );
    expect(stored).toEqual([{ label: "redelivered", intake_request_id: data.requestId }]);
  });

  it("when a connect crashes inside its store (the key inserted, its event not yet), then nothing is stored, and its redelivery stores the key once with its key_added event", async () => {
    const processor = await createTestKeyProcessor({
      orm,
      config: loadConfig(w.signerEnv),
      intakeKeys: ring,
    });
    const job = jobOf(sealedJob(ring.publicKeys(), good, { label: "crash-in-store" }));
    const before = await credentialCount();
    await db.query(
      `create function fail_key_added() returns trigger language plpgsql as $$
       begin
         if new.kind = 'key_added' then raise exception 'signer crashed'; end if;
         return new;
       end $$`,
    );
    await db.query(
      `create trigger fail_key_added before insert on security_events
         for each row execute function fail_key_added()`,
    );
    try {
      await expect(processor(job)).rejects.toThrow(/signer crashed/);
    } finally {
      await db.query("drop trigger fail_key_added on security_events");
      await db.query("drop function fail_key_added()");
    }
    expect(await credentialCount()).toBe(before);
    // Redelivered: the same job (its id and creation time).
    const answer = await processor(job);
    expect(answer).toMatchObject({ ok: true });
    const id = (answer as { credentialId: string }).credentialId;
    expect(await credentialCount()).toBe(before + 1);
    const { rows } = await db.query(
      `select count(*)::int as n from security_events
        where kind = 'key_added' and details->>'credentialId' = $1`,
      [id],
    );
    expect(rows[0].n).toBe(1);
  });

  it("when the signer runs the same rotate job twice at once, again after answering, and again after a crash between storing and answering, then the key is rotated once, to that request's material, and every run answers that key", async () => {
    const processor = await createTestKeyProcessor({
      orm,
      config: loadConfig(w.signerEnv),
      intakeKeys: ring,
    });
    const added = await processor(jobOf(sealedJob(ring.publicKeys(), good, { label: "rot1" })));
    const id = (added as { credentialId: string }).credentialId;
    const data = sealedJob(ring.publicKeys(), r1, { action: "rotate", credentialId: id });
    const job = jobOf(data);
    const [a, b] = await Promise.all([processor(job), processor(job)]);
    expect(a).toEqual({ ok: true, credentialId: id });
    expect(b).toEqual(a);
    expect(await processor(job)).toEqual(a);
    // The state a crash leaves after the material was stored and before the answer was recorded.
    await db.query("update signer_intake_claims set answer = null where request_id = $1", [
      data.requestId,
    ]);
    expect(await processor(job)).toEqual(a);
    expect(await storedSecret(id)).toBe(r1.secret);
    expect(await rotatedEvents(id)).toEqual([data.requestId]);
  });

  it("when a rotation crashes after storing and a newer rotation of the same key completes before it is redelivered, then the newer material stays, the older request is answered without being applied again, and each request rotated at most once", async () => {
    const processor = await createTestKeyProcessor({
      orm,
      config: loadConfig(w.signerEnv),
      intakeKeys: ring,
    });
    const added = await processor(jobOf(sealedJob(ring.publicKeys(), good, { label: "rot2" })));
    const id = (added as { credentialId: string }).credentialId;
    const t0 = Date.now() + INTAKE_REQUEST_TTL_MS;
    const rotation = (key: typeof good, expiresAt: number) => {
      const data = sealedJob(ring.publicKeys(), key, {
        action: "rotate",
        credentialId: id,
        expiresAt,
      });
      return jobOf(data);
    };
    const requestOf = (job: Job) => (job.data as SignerKeyJob).requestId;
    const rotatedSince = {
      ok: false,
      code: "key_refused",
      message:
        "This key was rotated again by a newer paste since this one was sent: the newer key stays in place. See /keys (or GET /api/keys).",
      refusals: [],
      warnings: [],
    };

    // R1 crashes inside its store (after the material was written, before the commit).
    const [job1, job2] = [rotation(r1, t0), rotation(r2, t0 + 1_000)];
    await db.query(
      `create function fail_key_rotated() returns trigger language plpgsql as $$
       begin
         if new.kind = 'key_rotated' and new.details->>'credentialId' = '${id}' then
           raise exception 'signer crashed';
         end if;
         return new;
       end $$`,
    );
    await db.query(
      `create trigger fail_key_rotated before insert on security_events
         for each row execute function fail_key_rotated()`,
    );
    try {
      await expect(processor(job1)).rejects.toThrow(/signer crashed/);
    } finally {
      await db.query("drop trigger fail_key_rotated on security_events");
      await db.query("drop function fail_key_rotated()");
    }
    expect(await storedSecret(id)).toBe(good.secret);
    // R2 completes, then R1 is redelivered: refused, R2's material stays.
    expect(await processor(job2)).toEqual({ ok: true, credentialId: id });
    expect(await processor(job1)).toEqual(rotatedSince);
    expect(await processor(job1)).toEqual(rotatedSince);
    expect(await storedSecret(id)).toBe(r2.secret);
    expect(await rotatedEvents(id)).toEqual([requestOf(job2)]);

    // R3 stores and the signer dies before BullMQ hears its answer; R4 completes; R3 is
    // redelivered: its first answer, and R4's material stays.
    const [job3, job4] = [rotation(r3, t0 + 2_000), rotation(r4, t0 + 3_000)];
    expect(await processor(job3)).toEqual({ ok: true, credentialId: id });
    expect(await processor(job4)).toEqual({ ok: true, credentialId: id });
    expect(await processor(job3)).toEqual({ ok: true, credentialId: id });
    expect(await storedSecret(id)).toBe(r4.secret);
    // Even with R3's answer lost (as a crash between storing and answering would leave it),
    // R3 does not put its older material back.
    await db.query("update signer_intake_claims set answer = null where request_id = $1", [
      requestOf(job3),
    ]);
    expect(await processor(job3)).toEqual(rotatedSince);
    expect(await storedSecret(id)).toBe(r4.secret);
    expect(await rotatedEvents(id)).toEqual([requestOf(job2), requestOf(job3), requestOf(job4)]);
  });

  it("when the api's request is filed again with the same request id, then it joins the first job and answers its key, storing nothing new; a new paste of the same key is a second key, as on the direct path", async () => {
    const res = await api("POST", "/api/keys", { venue: "bybit", label: "once", ...good }, token);
    expect(res.status).toBe(201);
    const id = (res.body.key as { id: string }).id;
    const data = (await keyJobs()).at(-1)!.data as SignerKeyJob;
    const before = await credentialCount();
    const retried = await kq.client.connect(data, { deadlineMs: 20_000 });
    expect(retried).toEqual({ status: "done", result: { ok: true, credentialId: id } });
    expect(await credentialCount()).toBe(before);
    // The direct path has no duplicate check (connect verifies and inserts): neither has this.
    const again = await api("POST", "/api/keys", { venue: "bybit", label: "once", ...good }, token);
    expect(again.status).toBe(201);
    expect((again.body.key as { id: string }).id).not.toBe(id);
    expect(await credentialCount()).toBe(before + 1);
  });

  it("when all of that is done, then no api key or secret is in Redis, PostgreSQL or the log", async () => {
    expect(await scanRedis(w.redis.url, w.redis.prefix, needles)).toEqual([]);
    expect(await scanPostgres(w.db.url, needles)).toEqual([]);
    for (const n of needles) expect(w.logs.text()).not.toContain(n);
  });
});
