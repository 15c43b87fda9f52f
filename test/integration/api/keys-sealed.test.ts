// Sealed key intake through the real API (issue 19): the api process runs without the signer
// role, so POST /api/keys seals the pasted key to the signer's published intake key and files it
// on the `signer-keys` queue; a signer of its own (the real processor) opens it, verifies the
// scopes at a fake Bybit, encrypts and stores. Replays, retired intake keys and stale envelopes
// are refused and recorded; nothing secret crosses Redis in clear.
import { randomBytes } from "node:crypto";
import type { MikroORM } from "@mikro-orm/postgresql";
import type { Job } from "bullmq";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  generateIntakeKey,
  type IntakeKeyRing,
  parseIntakeKeys,
  parseMasterKeys,
} from "../../../src/domain/vault";
import { refusalMessage } from "../../../src/domain/venues/keys";
import { INTAKE_REQUEST_TTL_MS, sealKeyMaterial } from "../../../src/domain/venues/sealed-keys";
import { loadConfig } from "../../../src/infra/config";
import { createOrm } from "../../../src/infra/database";
import type { WorkerPool } from "../../../src/jobs/registry";
import type { SignerKeyJob } from "../../../src/jobs/signer-keys";
import { confirmationToken } from "../../support/email-confirmation";
import { keyQueueClient, startTestKeySigner } from "../../support/key-signer";
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
const needles = [good, later, withdraws, rotated].flatMap((k) => [k.apiKey, k.secret]);
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
    expect(data.envelope).toMatch(/^wsi1\.1\./);
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
    const publicKeys = ring.publicKeys();
    const expiresAt = Date.now() - 1_000;
    const requestId = hex(16);
    const envelope = sealKeyMaterial(publicKeys, {
      userId,
      venue: "bybit",
      material: { apiKey: Buffer.from(later.apiKey), secret: Buffer.from(later.secret) },
      requestId,
      expiresAt,
    });
    const outcome = await kq.client.connect(
      {
        action: "connect",
        requestId,
        userId,
        venue: "bybit",
        label: "",
        testnet: false,
        expiresAt,
        envelope,
        ip: null,
      },
      { deadlineMs: 20_000 },
    );
    expect(outcome.status === "refused" && outcome.reason).toContain("expired");
    expect(await intakeRefusals("expired")).toHaveLength(1);
  });

  it("when the signer's intake key is rotated and version 1 retired, then an envelope sealed to version 1 is refused with a clear message and the api seals to version 2", async () => {
    const oldKeys = ring.publicKeys();
    const requestId = hex(16);
    const expiresAt = Date.now() + INTAKE_REQUEST_TTL_MS;
    const envelope = sealKeyMaterial(oldKeys, {
      userId,
      venue: "bybit",
      material: { apiKey: Buffer.from(later.apiKey), secret: Buffer.from(later.secret) },
      requestId,
      expiresAt,
    });
    await startSigner(`2:${intakeV2}`);
    const { rows } = await db.query(
      "select version, retired_at is not null as retired from signer_intake_keys order by version",
    );
    expect(rows).toEqual([
      { version: 1, retired: true },
      { version: 2, retired: false },
    ]);
    const outcome = await kq.client.connect(
      {
        action: "connect",
        requestId,
        userId,
        venue: "bybit",
        label: "",
        testnet: false,
        expiresAt,
        envelope,
        ip: null,
      },
      { deadlineMs: 20_000 },
    );
    expect(outcome).toEqual({
      status: "refused",
      reason:
        "This key was sealed to a retired intake key (version 1). Nothing was stored; paste the key again.",
    });
    expect(await intakeRefusals("retired_intake_key")).toHaveLength(1);
    const again = await api("POST", "/api/keys", { venue: "bybit", label: "v2", ...good }, token);
    expect(again.status).toBe(201);
    expect(((await keyJobs()).at(-1)!.data as SignerKeyJob).envelope).toMatch(/^wsi1\.2\./);
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

  it("when all of that is done, then no api key or secret is in Redis, PostgreSQL or the log", async () => {
    expect(await scanRedis(w.redis.url, w.redis.prefix, needles)).toEqual([]);
    expect(await scanPostgres(w.db.url, needles)).toEqual([]);
    for (const n of needles) expect(w.logs.text()).not.toContain(n);
  });
});
