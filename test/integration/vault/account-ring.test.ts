// Two key rings (issue 19) against the running service, real PostgreSQL and Redis: account
// secrets written after the split are under ACCOUNT_KEYS only; `account-key migrate` moves
// those written under MASTER_KEYS while TOTP sign-in keeps working, and does nothing the second
// time; the worker's rotation job re-encrypts both rings' rows.
import type { MikroORM } from "@mikro-orm/postgresql";
import { Queue, QueueEvents } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrateAccountSecrets } from "../../../src/cli/account-key";
import { generateTotpSecret } from "../../../src/domain/accounts/totp";
import {
  type AccountKeyRing,
  accountMoves,
  ENCRYPTED_TABLES,
  type ExchangeKeyRing,
  generateFernetKey,
  InvalidFernetToken,
  KeyRingCoverageError,
  moveToAccountRing,
  parseAccountKeys,
  parseMasterKeys,
  type VaultStore,
  verifyKeyRingCoverage,
} from "../../../src/domain/vault";
import { requireMasterKeys } from "../../../src/infra/config";
import { createOrm, sqlOf } from "../../../src/infra/database";
import { createLogger } from "../../../src/infra/logger";
import { createRedisFactory } from "../../../src/infra/redis";
import { createScrubber } from "../../../src/infra/scrub";
import { createVaultStore } from "../../../src/infra/vault-store";
import { createVaultProcessor, requestRotation } from "../../../src/jobs/processors/vault";
import { QUEUE_DEFINITIONS, startWorkers } from "../../../src/jobs/registry";
import { createTestRedis } from "../../support/context";
import { captureLogs } from "../../support/log-capture";
import { newMarker, seedCredentials } from "../../support/vault-fixtures";
import { startTestWarden, type TestWarden } from "../../support/warden-harness";
import {
  AuthClient,
  type Caller,
  createSecrets,
  freshIp,
  roomInStep,
  sql,
  TRUSTED_LOOPBACK,
  totpAt,
} from "../api/auth-support";

const masterKey = generateFernetKey();
const accountKey = generateFernetKey();
const masterKey2 = generateFernetKey();
const accountKey2 = generateFernetKey();

let w: TestWarden;
let c: AuthClient;
let orm: MikroORM;
let store: VaultStore;
let master: ExchangeKeyRing;
let account: AccountKeyRing;

beforeAll(async () => {
  w = await startTestWarden({
    env: { ...TRUSTED_LOOPBACK, MASTER_KEYS: `1:${masterKey}`, ACCOUNT_KEYS: `1:${accountKey}` },
    // Before the split: TOTP secrets under MASTER_KEYS open only in a process that holds it.
    signerProcess: false,
  });
  c = new AuthClient(w, createSecrets());
  orm = await createOrm({ url: w.db.url });
  store = createVaultStore(sqlOf(orm));
  master = requireMasterKeys(w.warden.config);
  account = w.warden.config.accountKeys;
});
afterAll(async () => {
  await orm?.close();
  await w?.stop();
});

interface TotpRow {
  id: string;
  totp_secret: string;
  totp_key_version: number;
  totp_key_ring: string;
  xmin: string;
}

const totpRows = (ids: string[]) =>
  sql<TotpRow>(
    w,
    `select id::text as id, totp_secret, totp_key_version, totp_key_ring, xmin::text as xmin
     from users where id = any($1::bigint[]) order by id`,
    [ids],
  );

/** Password step then TOTP step over HTTP; the status of the second. */
async function signInWithTotp(u: Caller, email: string, password: string, code: string) {
  const first = await u.post("/login", { email, password });
  expect(first.status, JSON.stringify(first.body)).toBe(200);
  const challenge = first.body.challenge as string;
  expect(challenge).toEqual(expect.any(String));
  return (await u.post("/login/2fa", { challenge, code })).status;
}

/**
 * A user with 2FA on whose secret was stored before the split: a Fernet token under
 * MASTER_KEYS, its version, and the ring the migration gave every existing row ('master').
 */
async function enrolledBeforeSplit(tag: string) {
  const u = c.as(freshIp());
  const s = await u.signedUp(tag);
  const [{ id }] = (await sql<{ id: string }>(
    w,
    "select id::text as id from users where email = $1",
    [s.email],
  )) as [{ id: string }];
  const secret = generateTotpSecret();
  const { token, version } = master.encrypt(Buffer.from(secret));
  await sql(
    w,
    `update users set totp_secret = $1, totp_key_version = $2, totp_key_ring = 'master',
       totp_enabled_at = now(), totp_last_step = null where id = $3`,
    [token, version, id],
  );
  return { u, id, secret, email: s.email, password: s.password };
}

describe("account secrets after the split", () => {
  it("when a user enrols TOTP after the split, then the row records the account ring and the master ring does not decrypt it", async () => {
    const u = c.as(freshIp());
    const s = await u.signedUp("split");
    const enrol = await u.post("/2fa/enroll", undefined, { token: s.accessToken });
    expect(enrol.status).toBe(200);
    const secret = enrol.body.secret as string;
    const step = await roomInStep(6_000);
    const confirm = await u.post(
      "/2fa/confirm",
      { code: totpAt(secret, step - 1) },
      { token: s.accessToken },
    );
    expect(confirm.status, JSON.stringify(confirm.body)).toBe(200);

    const [row] = await sql<TotpRow>(
      w,
      "select totp_secret, totp_key_version, totp_key_ring from users where email = $1",
      [s.email],
    );
    expect(row?.totp_key_ring).toBe("account");
    expect(row?.totp_key_version).toBe(1);
    expect(() => master.decrypt(1, row!.totp_secret)).toThrow(InvalidFernetToken);
    expect(account.decrypt(1, row!.totp_secret).toString()).toBe(secret);
    expect(await signInWithTotp(u, s.email, s.password, totpAt(secret, step))).toBe(200);
  });
});

describe("account-key migrate", () => {
  it("when account-key migrate moves rows written under MASTER_KEYS, then TOTP sign-in works before, half-moved and after, and a second run changes nothing", async () => {
    const users = [];
    for (let i = 0; i < 5; i++) users.push(await enrolledBeforeSplit(`legacy${i}`));
    const ids = users.map((x) => x.id);
    // Three fresh steps for each user: before, during, after.
    const step = await roomInStep(20_000);

    // Before: every row under MASTER_KEYS, and each signs in.
    expect((await totpRows(ids)).map((r) => r.totp_key_ring)).toEqual(Array(5).fill("master"));
    for (const x of users) {
      expect(await signInWithTotp(x.u, x.email, x.password, totpAt(x.secret, step - 1))).toBe(200);
    }

    // During: a run stopped after its first batches (one row each) leaves the rings mixed.
    const stop = new AbortController();
    await expect(
      moveToAccountRing({
        store,
        from: master,
        to: account,
        moves: accountMoves(),
        batchSize: 1,
        onProgress: (p) => {
          if (p.rotated >= 1) stop.abort();
        },
        signal: stop.signal,
      }),
    ).rejects.toThrow();
    const half = await totpRows(ids);
    const moved = half.filter((r) => r.totp_key_ring === "account").length;
    expect(moved).toBeGreaterThanOrEqual(1);
    expect(moved).toBeLessThan(5);
    for (const x of users) {
      expect(await signInWithTotp(x.u, x.email, x.password, totpAt(x.secret, step))).toBe(200);
    }

    // The CLI's step finishes the move.
    const out: string[] = [];
    const io = { out: (l: string) => out.push(l), err: (l: string) => out.push(`ERR ${l}`) };
    expect(await migrateAccountSecrets(store, { master, account }, io)).toBe(0);
    expect(out).toContain("no account secret is under MASTER_KEYS any more");
    const after = await totpRows(ids);
    for (const [i, r] of after.entries()) {
      expect([r.totp_key_ring, r.totp_key_version]).toEqual(["account", 1]);
      expect(() => master.decrypt(1, r.totp_secret)).toThrow(InvalidFernetToken);
      expect(account.decrypt(1, r.totp_secret).toString()).toBe(users[i]!.secret);
    }
    // sign-in also moves totp_last_step: snapshot after it, for the idempotence check.
    for (const x of users) {
      expect(await signInWithTotp(x.u, x.email, x.password, totpAt(x.secret, step + 1))).toBe(200);
    }

    // Again: nothing to move, and not one row is written (same token, same xmin).
    const before = await totpRows(ids);
    const again: string[] = [];
    const io2 = { out: (l: string) => again.push(l), err: (l: string) => again.push(`ERR ${l}`) };
    expect(await migrateAccountSecrets(store, { master, account }, io2)).toBe(0);
    expect(again).toContain(
      "users: 0 row(s) moved from MASTER_KEYS to ACCOUNT_KEYS version 1, 0 failed",
    );
    expect(await totpRows(ids)).toEqual(before);
  }, 60_000);
});

describe("rotation job", () => {
  it("when both rings gain a version and the worker's rotation job runs, then every account row and every exchange row is re-encrypted under its own ring", async () => {
    // Rows under each ring's version 1: exchange keys, TOTP secrets written after the split.
    const marker = newMarker();
    const pg = await import("pg");
    const client = new pg.default.Client({ connectionString: w.db.url });
    await client.connect();
    const secrets = new Map<string, string>();
    try {
      await seedCredentials(client, master, marker, 0, 20);
      for (let i = 0; i < 4; i++) {
        const secret = generateTotpSecret();
        const sealed = account.encrypt(Buffer.from(secret));
        const { rows } = await client.query<{ id: string }>(
          `insert into users (email, totp_secret, totp_key_version, totp_key_ring, totp_enabled_at)
           values ($1, $2, $3, 'account', now()) returning id::text as id`,
          [`rot${i}-${marker.toLowerCase()}@example.com`, sealed.token, sealed.version],
        );
        secrets.set(rows[0]!.id, secret);
      }
    } finally {
      await client.end();
    }
    const master12 = parseMasterKeys(`1:${masterKey},2:${masterKey2}`);
    const account12 = parseAccountKeys(`1:${accountKey},2:${accountKey2}`);

    const redis = createTestRedis();
    const factory = createRedisFactory({ url: redis.url, keyPrefix: redis.prefix });
    const logs = captureLogs();
    const logger = createLogger({
      level: "info",
      pretty: false,
      scrubber: createScrubber(),
      destination: logs.stream,
    });
    const queue = new Queue(QUEUE_DEFINITIONS.vault.name, {
      connection: factory.create("producer", "test"),
      prefix: factory.bullPrefix,
    });
    const events = new QueueEvents(QUEUE_DEFINITIONS.vault.name, {
      connection: factory.create("worker", "events"),
      prefix: factory.bullPrefix,
    });
    const pool = startWorkers({
      connection: () => factory.create("worker", "test-worker"),
      prefix: factory.bullPrefix,
      processors: { vault: createVaultProcessor({ store, rings: [master12, account12], logger }) },
      logger,
    });
    try {
      await events.waitUntilReady();
      const id = await requestRotation(queue);
      const job = await queue.getJob(id!);
      const result = await job!.waitUntilFinished(events, 30_000);
      expect(result.account.toVersion).toBe(2);
      expect(result.account.remaining).toBe(0);
      expect(result.master.remaining).toBe(0);
    } finally {
      await pool.close(5_000);
      await events.close();
      await queue.close();
      await factory.closeAll();
      await redis.cleanup();
    }

    // Every account row (these, and those of the tests above) is at ACCOUNT_KEYS version 2.
    const accountRows = await sql<TotpRow>(
      w,
      `select id::text as id, totp_secret, totp_key_version, totp_key_ring from users
       where totp_secret is not null`,
    );
    expect(accountRows.length).toBeGreaterThanOrEqual(secrets.size + 6);
    for (const r of accountRows) {
      expect([r.totp_key_ring, r.totp_key_version]).toEqual(["account", 2]);
      const plain = account12.decrypt(2, r.totp_secret).toString();
      if (secrets.has(r.id)) expect(plain).toBe(secrets.get(r.id));
      expect(() => master12.decrypt(2, r.totp_secret)).toThrow(InvalidFernetToken);
    }
    const exchange = await sql<{ v: number; n: number }>(
      w,
      "select encryption_key_version as v, count(*)::int as n from exchange_credentials group by 1",
    );
    expect(exchange).toEqual([{ v: 2, n: 20 }]);
    expect(logs.text()).toContain("account key rotation finished");
    expect(logs.text()).toContain("master key rotation finished");
  }, 60_000);
});

describe("start-up canary", () => {
  it("when ACCOUNT_KEYS lacks a version still used by account rows, then the check refuses naming ACCOUNT_KEYS, and MASTER_KEYS is not asked to cover them", async () => {
    // After the rotation above every account row is at ACCOUNT_KEYS version 2.
    const err = await verifyKeyRingCoverage({
      store,
      keyRing: parseAccountKeys(`1:${accountKey}`),
      tables: ENCRYPTED_TABLES,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeyRingCoverageError);
    expect((err as Error).message).toMatch(
      /^ACCOUNT_KEYS lacks version 2, still used by \d+ row\(s\) in users;/,
    );
    // Each ring covers its own rows only: both pass with just their version 2, although the
    // users rows' version 2 is not MASTER_KEYS' key.
    await expect(
      verifyKeyRingCoverage({
        store,
        keyRing: parseMasterKeys(`2:${masterKey2}`),
        tables: ENCRYPTED_TABLES,
      }),
    ).resolves.toBeUndefined();
    await expect(
      verifyKeyRingCoverage({
        store,
        keyRing: parseAccountKeys(`2:${accountKey2}`),
        tables: ENCRYPTED_TABLES,
      }),
    ).resolves.toBeUndefined();
  });
});
