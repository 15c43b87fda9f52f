// Master key rotation against real PostgreSQL: 100,000 rows, a concurrent writer and reader,
// concurrent edits, corrupt rows, and the start-up canary.
import { spawnSync } from "node:child_process";
import type { MikroORM } from "@mikro-orm/postgresql";
import pg from "pg";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  ENCRYPTED_TABLES,
  generateFernetKey,
  KeyRingCoverageError,
  parseMasterKeys,
  rotateAll,
  type VaultStore,
  verifyKeyRingCoverage,
} from "../../../src/domain/vault";
import { createOrm, sqlOf } from "../../../src/infra/database";
import { createVaultStore } from "../../../src/infra/vault-store";
import { createTestDatabase, type TestDatabase } from "../../support/context";
import { scanPostgres } from "../../support/secret-scan";
import {
  expectedApiKey,
  expectedSecret,
  mismatchedRows,
  newMarker,
  seedCredentials,
} from "../../support/vault-fixtures";

const k1 = generateFernetKey();
const k2 = generateFernetKey();
const ringV1 = parseMasterKeys(`1:${k1}`);
const ringV12 = parseMasterKeys(`1:${k1},2:${k2}`);
const ringV2only = parseMasterKeys(`2:${k2}`);
const table = ENCRYPTED_TABLES[0]!;

let db: TestDatabase;
let orm: MikroORM;
let store: VaultStore;
let client: pg.Client;
const markers: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  orm = await createOrm({ url: db.url });
  store = createVaultStore(sqlOf(orm));
  client = new pg.Client({ connectionString: db.url });
  await client.connect();
});
beforeEach(async () => {
  await client.query("truncate exchange_credentials restart identity cascade");
});
afterAll(async () => {
  // S1.1: after everything above, no plaintext of any test is stored anywhere.
  const hits = await scanPostgres(db.url, markers);
  expect(hits).toEqual([]);
  await client.end();
  await orm.close();
  await db.drop();
});

const tokenTimestamp = (token: string) =>
  Buffer.from(token.replace(/=+$/, ""), "base64url").readBigUInt64BE(1);

describe("master key rotation", () => {
  it("when 100,000 rows at version 1 are rotated while a writer adds rows and a reader decrypts, then every row ends at version 2 with its original plaintext and timestamp", async () => {
    const marker = newMarker();
    markers.push(marker);
    await seedCredentials(client, ringV1, marker, 0, 100_000);
    const before = await client.query<{ label: string; api_key: string }>(
      "select label, api_key from exchange_credentials where label in ('#0', '#4242', '#99999')",
    );

    let stop = false;
    let written = 100_000;
    let reads = 0;
    const readErrors: string[] = [];
    const writer = (async () => {
      const w = new pg.Client({ connectionString: db.url });
      await w.connect();
      while (!stop) {
        // Half the writes come from a process that has not been given version 2 yet.
        const ring = written % 2 === 0 ? ringV1 : ringV12;
        await seedCredentials(w, ring, marker, written, 50);
        written += 50;
      }
      await w.end();
    })();
    const reader = (async () => {
      const r = new pg.Client({ connectionString: db.url });
      await r.connect();
      while (!stop) {
        const { rows } = await r.query(
          "select label, api_key, secret, encryption_key_version as v from exchange_credentials where id = $1",
          [1 + Math.floor(Math.random() * 100_000)],
        );
        const row = rows[0];
        const n = Number(row.label.slice(1));
        try {
          if (ringV12.decrypt(row.v, row.api_key).toString() !== expectedApiKey(marker, n)) {
            readErrors.push(`#${n} api_key mismatch`);
          }
          if (ringV12.decrypt(row.v, row.secret).toString() !== expectedSecret(marker, n)) {
            readErrors.push(`#${n} secret mismatch`);
          }
        } catch (err) {
          readErrors.push(`#${n}: ${(err as Error).message}`);
        }
        reads++;
      }
      await r.end();
    })();

    const report = await rotateAll({
      store,
      keyRing: ringV12,
      tables: ENCRYPTED_TABLES,
      batchSize: 1000,
    });
    stop = true;
    await Promise.all([writer, reader]);
    // Rows the stale writer added after the last pass are caught by the next run, as the
    // daily schedule would.
    const again = await rotateAll({ store, keyRing: ringV12, tables: ENCRYPTED_TABLES });

    expect(readErrors).toEqual([]);
    expect(reads).toBeGreaterThan(0);
    expect(report.toVersion).toBe(2);
    expect(report.failedIds).toEqual([]);
    expect(report.tables[0]!.rotated).toBeGreaterThanOrEqual(100_000);
    expect(again.remaining).toBe(0);
    const { rows: versions } = await client.query(
      "select encryption_key_version as v, count(*)::int as n from exchange_credentials group by 1",
    );
    expect(versions).toEqual([{ v: 2, n: written }]);
    // Only version 2 is needed now: decrypting with a ring that lacks version 1 proves it.
    expect(await mismatchedRows(client, ringV2only, marker)).toEqual([]);
    // Like MultiFernet.rotate(), the token keeps its original timestamp.
    for (const b of before.rows) {
      const { rows } = await client.query(
        "select api_key from exchange_credentials where label = $1",
        [b.label],
      );
      expect(rows[0].api_key).not.toBe(b.api_key);
      expect(tokenTimestamp(rows[0].api_key)).toBe(tokenTimestamp(b.api_key));
    }
  });

  it("when batches are small, then one pass still visits every row in id order (keyset pagination)", async () => {
    const marker = newMarker();
    markers.push(marker);
    await seedCredentials(client, ringV1, marker, 0, 2_345);
    const report = await rotateAll({
      store,
      keyRing: ringV12,
      tables: ENCRYPTED_TABLES,
      batchSize: 100,
      maxPasses: 1,
    });
    expect(report.tables[0]!.rotated).toBe(2_345);
    expect(report.remaining).toBe(0);
  });

  it("when a row is edited between read and write, then the edit is kept and the next pass rotates it", async () => {
    const marker = newMarker();
    markers.push(marker);
    await seedCredentials(client, ringV1, marker, 0, 10);
    const rows = await store.fetchBelow(table, 2, null, 100);
    // A user replaces the key material of #3 (by a process still on version 1).
    const edited = ringV1.encrypt(Buffer.from(expectedApiKey(marker, 1003))).token;
    await client.query("update exchange_credentials set api_key = $1 where label = '#3'", [edited]);

    const rotated = rows.map((r) => ({
      ...r,
      values: Object.fromEntries(
        Object.entries(r.values).map(([c, t]) => [
          c,
          t === null ? null : ringV12.rotate(t, r.version).token,
        ]),
      ),
    }));
    expect(await store.applyRotated(table, 2, rotated)).toBe(9);
    const { rows: kept } = await client.query(
      "select api_key, encryption_key_version as v from exchange_credentials where label = '#3'",
    );
    expect(kept[0]).toEqual({ api_key: edited, v: 1 });

    const report = await rotateAll({ store, keyRing: ringV12, tables: ENCRYPTED_TABLES });
    expect(report.tables[0]!.rotated).toBe(1);
    expect(report.remaining).toBe(0);
    const { rows: after } = await client.query(
      "select api_key, encryption_key_version as v from exchange_credentials where label = '#3'",
    );
    expect(ringV12.decrypt(after[0].v, after[0].api_key).toString()).toBe(
      expectedApiKey(marker, 1003),
    );
  });

  it("when a row's token is corrupt, then the others rotate and its id is reported", async () => {
    const marker = newMarker();
    markers.push(marker);
    await seedCredentials(client, ringV1, marker, 0, 20);
    const { rows } = await client.query(
      "update exchange_credentials set secret = 'gAAAAABcorrupted' where label = '#7' returning id::text as id",
    );
    const report = await rotateAll({ store, keyRing: ringV12, tables: ENCRYPTED_TABLES });
    expect(report.failedIds).toEqual([rows[0].id]);
    expect(report.tables[0]).toMatchObject({ rotated: 19, failed: 1 });
    expect(report.remaining).toBe(1);
  });

  it("when nothing is below the current version, then a run does no writes", async () => {
    const marker = newMarker();
    markers.push(marker);
    await seedCredentials(client, ringV12, marker, 0, 5);
    const report = await rotateAll({ store, keyRing: ringV12, tables: ENCRYPTED_TABLES });
    expect(report.tables[0]).toMatchObject({ rotated: 0, skippedConcurrent: 0, failed: 0 });
  });
});

const hasPythonFernet =
  spawnSync("python3", ["-c", "import cryptography.fernet"], { encoding: "utf8" }).status === 0;

describe("interoperability of stored columns", () => {
  it.skipIf(!hasPythonFernet)(
    `when a stored column is handed to Python's cryptography with its master key, then it decrypts${hasPythonFernet ? "" : " [skipped: python3 with cryptography is not installed]"}`,
    async () => {
      const marker = newMarker();
      markers.push(marker);
      await seedCredentials(client, ringV12, marker, 0, 1);
      const { rows } = await client.query("select api_key, secret from exchange_credentials");
      const script =
        "import sys, json; from cryptography.fernet import Fernet; d = json.load(sys.stdin); " +
        "f = Fernet(d['key']); print(json.dumps([f.decrypt(t.encode()).decode() for t in d['tokens']]))";
      const out = spawnSync("python3", ["-c", script], {
        input: JSON.stringify({ key: k2, tokens: [rows[0].api_key, rows[0].secret] }),
        encoding: "utf8",
      });
      expect(out.stderr).toBe("");
      expect(JSON.parse(out.stdout)).toEqual([
        expectedApiKey(marker, 0),
        expectedSecret(marker, 0),
      ]);
    },
  );
});

describe("start-up canary", () => {
  it("when the key ring lacks a version still in use, then it refuses naming the version and the row count", async () => {
    await seedCredentials(client, ringV1, newMarker(), 0, 3);
    const err = await verifyKeyRingCoverage({
      store,
      keyRing: ringV2only,
      tables: ENCRYPTED_TABLES,
    }).catch((e) => e);
    expect(err).toBeInstanceOf(KeyRingCoverageError);
    expect(err.message).toBe(
      "MASTER_KEYS lacks version 1, still used by 3 row(s) in exchange_credentials; add it back until rotation has re-encrypted them",
    );
  });

  it("when a version's key is not the one that encrypted the rows, then it refuses naming the version", async () => {
    await seedCredentials(client, ringV1, newMarker(), 0, 2);
    const impostor = parseMasterKeys(`1:${generateFernetKey()}`);
    await expect(
      verifyKeyRingCoverage({ store, keyRing: impostor, tables: ENCRYPTED_TABLES }),
    ).rejects.toThrow(
      "MASTER_KEYS version 1 is not the key that encrypted exchange_credentials (2 row(s) use version 1)",
    );
  });

  it("when every version in use is present and correct, then it passes", async () => {
    await seedCredentials(client, ringV1, newMarker(), 0, 2);
    await seedCredentials(client, ringV12, newMarker(), 10, 2);
    await expect(
      verifyKeyRingCoverage({ store, keyRing: ringV12, tables: ENCRYPTED_TABLES }),
    ).resolves.toBeUndefined();
  });
});
