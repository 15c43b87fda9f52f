// The signer's own database role (issue 19): logged in as warden_app, as a fully compromised api,
// bot or worker process is, the published intake keys can be read but not replaced, and intake
// claims can be neither removed nor changed; logged in as warden_signer, the signer's own
// statements (src/infra/intake-store.ts) publish, retire and claim. The migration's down step
// gives warden_app its earlier rights back. At start-up a process checks its login against its
// roles (src/infra/database-login.ts).
import { createHash, randomBytes } from "node:crypto";
import type { MikroORM } from "@mikro-orm/postgresql";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Migration20261205063000SignerDbRole } from "../../../migrations/20261205063000-signer-db-role";
import { generateIntakeKey, parseIntakeKeys } from "../../../src/domain/vault";
import { createOrm, prepareDatabase, sqlOf } from "../../../src/infra/database";
import { checkDatabaseLogin } from "../../../src/infra/database-login";
import {
  createIntakeClaims,
  currentIntakePublicKeys,
  publishIntakeKeys,
  purgeExpiredClaims,
} from "../../../src/infra/intake-store";
import {
  APP_LOGIN,
  connectAsRoles,
  ensureOwnerLogin,
  loginUrl,
  OWNER_LOGIN,
  type RoleConnections,
  SIGNER_LOGIN,
} from "../../support/app-role";
import { createTestDatabase, type TestDatabase, unusedDatabaseUrl } from "../../support/context";

let db: TestDatabase;
let owner: pg.Client;
let app: pg.Client;
let roles: RoleConnections;
let signerOrm: MikroORM;
let appOrm: MikroORM;
const intakeV1 = generateIntakeKey();
const intakeV2 = generateIntakeKey();

beforeAll(async () => {
  db = await createTestDatabase();
  roles = await connectAsRoles(db.url);
  ({ owner, app, appOrm, signerOrm } = roles);
});

afterAll(async () => {
  await roles?.close();
  await db?.drop();
});

const encHash = () => createHash("sha256").update(randomBytes(32)).digest();
const claim = (requestId: string, hash = encHash()) => ({
  requestId,
  encHash: hash,
  userId: "1",
  venue: "bybit" as const,
  jobRef: `job-${requestId}`,
  expiresAt: new Date(Date.now() + 60_000),
});

/** What warden_app may not do to the intake tables, as an attacker would try it. */
const forbidden = [
  "insert into signer_intake_keys (version, public_key) values (9, repeat('A', 43))",
  "update signer_intake_keys set public_key = repeat('A', 43)",
  "update signer_intake_keys set retired_at = now()",
  "delete from signer_intake_keys",
  "truncate signer_intake_keys",
  "delete from signer_intake_claims",
  "update signer_intake_claims set job_ref = 'mine'",
  "update signer_intake_claims set expires_at = now() - interval '2 days'",
  "insert into signer_intake_claims (request_id, enc_hash, user_id, venue, job_ref, expires_at) values (repeat('a', 32), '\\x00', 1, 'bybit', 'x', now())",
  "truncate signer_intake_claims",
];

describe("the signer's database role", () => {
  it("when the signer logs in as a warden_signer member, then it publishes, rotates and retires intake keys, claims a request once and purges expired claims", async () => {
    const sql = sqlOf(signerOrm);
    const v1 = parseIntakeKeys(`1:${intakeV1}`);
    await publishIntakeKeys(sql, v1);
    const both = parseIntakeKeys(`1:${intakeV1},2:${intakeV2}`);
    await publishIntakeKeys(sql, both);
    const v2 = parseIntakeKeys(`2:${intakeV2}`);
    await publishIntakeKeys(sql, v2);
    const { rows } = await owner.query(
      "select version, public_key, retired_at is not null as retired from signer_intake_keys order by version",
    );
    expect(rows).toEqual([
      { version: 1, public_key: v1.publicKeys().toString().slice(2), retired: true },
      { version: 2, public_key: v2.publicKeys().toString().slice(2), retired: false },
    ]);
    const claims = createIntakeClaims(sql);
    const first = claim(randomBytes(16).toString("hex"));
    expect(await claims.claim(first)).toBe("claimed");
    expect(await claims.claim({ ...first, jobRef: "another-job" })).toBe("replayed");
    await owner.query(
      "update signer_intake_claims set expires_at = now() - interval '2 days' where request_id = $1",
      [first.requestId],
    );
    await purgeExpiredClaims(sql);
    expect((await owner.query("select count(*)::int as n from signer_intake_claims")).rows).toEqual(
      [{ n: 0 }],
    );
    for (const ring of [v1, both, v2]) ring.dispose();
  });

  it("when a warden_app login (a compromised api, bot or worker) reads the published keys, then it gets the current one", async () => {
    const keys = await currentIntakePublicKeys(sqlOf(appOrm));
    expect(keys?.currentVersion).toBe(2);
    expect(keys?.versions).toEqual([2]);
  });

  it("when a warden_app login publishes its own intake key, retires the signer's, or removes or changes a claim, then each is refused with permission denied and nothing changes", async () => {
    const sql = sqlOf(signerOrm);
    const kept = claim(randomBytes(16).toString("hex"));
    expect(await createIntakeClaims(sql).claim(kept)).toBe("claimed");
    const before = await owner.query(
      "select (select json_agg(k order by version) from signer_intake_keys k) as keys, (select json_agg(c) from signer_intake_claims c) as claims",
    );
    for (const statement of forbidden) {
      await expect(app.query(statement), statement).rejects.toThrow(/permission denied/);
    }
    // The store's own publish, as a compromised api would call it with its own ring.
    const attacker = parseIntakeKeys(`3:${generateIntakeKey()}`);
    await expect(publishIntakeKeys(sqlOf(appOrm), attacker)).rejects.toThrow(/permission denied/);
    attacker.dispose();
    await expect(purgeExpiredClaims(sqlOf(appOrm))).rejects.toThrow(/permission denied/);
    const after = await owner.query(
      "select (select json_agg(k order by version) from signer_intake_keys k) as keys, (select json_agg(c) from signer_intake_claims c) as claims",
    );
    expect(after.rows).toEqual(before.rows);
    // And the api still seals to the signer's key.
    expect((await currentIntakePublicKeys(sqlOf(appOrm)))?.versions).toEqual([2]);
  });

  it("when the migration is rolled back and applied again, then warden_app gets its earlier rights back and then loses them again, and warden_signer keeps the shared tables", async () => {
    const run = async (step: "up" | "down") => {
      const m = new Migration20261205063000SignerDbRole(
        signerOrm.em.getDriver() as never,
        signerOrm.config as never,
      );
      await m[step]();
      for (const q of m.getQueries().map(String)) await owner.query(q);
    };
    const appMayWrite = async () => {
      const { rows } = await owner.query(
        `select has_table_privilege($1, 'signer_intake_keys', 'INSERT') as keys_insert,
                has_table_privilege($1, 'signer_intake_keys', 'UPDATE') as keys_update,
                has_table_privilege($1, 'signer_intake_claims', 'DELETE') as claims_delete,
                has_table_privilege($1, 'signer_intake_claims', 'UPDATE') as claims_update,
                has_table_privilege($1, 'signer_intake_keys', 'SELECT') as keys_select`,
        [APP_LOGIN],
      );
      return rows[0];
    };
    try {
      await run("down");
      expect(await appMayWrite()).toEqual({
        keys_insert: true,
        keys_update: true,
        claims_delete: true,
        claims_update: true,
        keys_select: true,
      });
    } finally {
      await run("up");
    }
    expect(await appMayWrite()).toEqual({
      keys_insert: false,
      keys_update: false,
      claims_delete: false,
      claims_update: false,
      keys_select: true,
    });
    const { rows } = await owner.query(
      `select has_table_privilege($1, 'trades', 'INSERT') as trades,
              has_table_privilege($1, 'exchange_credentials', 'UPDATE') as credentials,
              has_table_privilege($1, 'trade_audit_log', 'INSERT') as audit_insert,
              has_table_privilege($1, 'trade_audit_log', 'UPDATE') as audit_update,
              has_table_privilege($1, 'signer_intake_claims', 'DELETE') as claims_delete`,
      [SIGNER_LOGIN],
    );
    expect(rows[0]).toEqual({
      trades: true,
      credentials: true,
      audit_insert: true,
      audit_update: false,
      claims_delete: true,
    });
  });

  it("when a process checks its login at start-up, then the signer role needs warden_signer's rights, and in production api, bot and worker refuse a login that has them or is a superuser", async () => {
    const asApp = sqlOf(appOrm);
    const asSigner = sqlOf(signerOrm);
    const superOrm = await createOrm({ url: db.url, poolMax: 1 });
    try {
      await expect(
        checkDatabaseLogin(asApp, { roles: ["signer"], production: false }),
      ).rejects.toThrow(
        `DATABASE_URL: logs in as "${APP_LOGIN}", which cannot publish intake keys or claim sealed keys: the signer role's login must be a member of warden_signer (GRANT warden_signer TO it)`,
      );
      await expect(
        checkDatabaseLogin(asApp, { roles: ["api", "signer"], production: true }),
      ).rejects.toThrow(/must be a member of warden_signer/);
      await checkDatabaseLogin(asSigner, { roles: ["signer"], production: true });
      await checkDatabaseLogin(asSigner, { roles: ["api", "worker", "signer"], production: true });
      await checkDatabaseLogin(asApp, { roles: ["api"], production: true });
      await checkDatabaseLogin(asApp, { roles: ["bot", "worker"], production: true });
      for (const roles of [["api"], ["bot"], ["worker"]] as const) {
        await expect(
          checkDatabaseLogin(asSigner, { roles, production: true }),
          roles[0],
        ).rejects.toThrow(
          `DATABASE_URL: logs in as "${SIGNER_LOGIN}", which has the signer's rights (warden_signer): the ${roles[0]} role must log in as a member of warden_app only, never with the signer's login`,
        );
      }
      // Outside production the signer's login may run anything (one process for all roles).
      await checkDatabaseLogin(asSigner, { roles: ["api"], production: false });
      // A superuser passes every grant and the exchange_credentials guard: in production only
      // the signer may log in as one; outside production (the tests', the embedded database's
      // superuser) any role may.
      for (const roles of [["api"], ["bot"], ["worker"], ["api", "bot", "worker"]] as const) {
        await expect(
          checkDatabaseLogin(sqlOf(superOrm), { roles, production: true }),
          roles.join(","),
        ).rejects.toThrow(
          `DATABASE_URL: logs in as "postgres", a superuser: the ${roles.join(", ")} role must log in as a member of warden_app only`,
        );
      }
      await checkDatabaseLogin(sqlOf(superOrm), { roles: ["api"], production: false });
      await checkDatabaseLogin(sqlOf(superOrm), { roles: ["signer"], production: true });
    } finally {
      await superOrm.close();
    }
  });

  it("when the schema owner is neither superuser nor CREATEROLE, as in production, and the roles exist, then every migration applies and warden_app still cannot write the intake tables", async () => {
    await ensureOwnerLogin(owner);
    const url = unusedDatabaseUrl();
    const name = new URL(url).pathname.slice(1);
    // Created by the admin for the owner, as README step 2 does; the run's teardown drops it.
    await owner.query(`create database "${name}" owner ${OWNER_LOGIN}`);
    const ownerUrl = loginUrl(url, OWNER_LOGIN);
    const applied = await prepareDatabase({ url: ownerUrl, ownerUrl, create: false });
    expect(applied.applied).toContain("20261205063000-signer-db-role");
    const check = new pg.Client({ connectionString: url });
    await check.connect();
    try {
      const { rows } = await check.query(
        `select tableowner::text as owner,
                has_table_privilege($1, 'signer_intake_keys', 'INSERT') as app_insert,
                has_table_privilege($1, 'signer_intake_keys', 'SELECT') as app_select,
                has_table_privilege($2, 'signer_intake_keys', 'INSERT') as signer_insert,
                has_table_privilege($2, 'signer_intake_claims', 'DELETE') as signer_delete
           from pg_tables where tablename = 'signer_intake_keys'`,
        [APP_LOGIN, SIGNER_LOGIN],
      );
      expect(rows).toEqual([
        {
          owner: OWNER_LOGIN,
          app_insert: false,
          app_select: true,
          signer_insert: true,
          signer_delete: true,
        },
      ]);
    } finally {
      await check.end();
      await owner.query(`drop database if exists "${name}" with (force)`);
    }
  });
});
