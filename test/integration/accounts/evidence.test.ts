// Evidence outlives everything (issue 15): as the application's database role, findings, their
// deliveries, security events and the audit log cannot be deleted or truncated, and a user row
// with findings cannot take them along when it goes.
import type { MikroORM } from "@mikro-orm/postgresql";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { anonymiseAccount } from "../../../src/infra/account-deletion";
import { createOrm } from "../../../src/infra/database";
import { APP_LOGIN, ensureAppLogin } from "../../support/app-role";
import { createTestDatabase, type TestDatabase } from "../../support/context";

let db: TestDatabase;
let owner: pg.Client;
let app: pg.Client;
/** The service's own pool, logged in as the application role. */
let appOrm: MikroORM;

beforeAll(async () => {
  db = await createTestDatabase();
  owner = new pg.Client({ connectionString: db.url });
  await owner.connect();
  await ensureAppLogin(owner);
  const u = new URL(db.url);
  u.username = APP_LOGIN;
  app = new pg.Client({ connectionString: u.toString() });
  await app.connect();
  appOrm = await createOrm({ url: u.toString(), poolMax: 2 });
});
afterAll(async () => {
  await appOrm?.close();
  await app?.end();
  await owner?.end();
  await db?.drop();
});

/** A user with a finding, one delivery of it and one security event, written as the app role. */
async function userWithEvidence(telegramId: number) {
  const user = (
    await app.query("insert into users (telegram_user_id) values ($1) returning id::text as id", [
      telegramId,
    ])
  ).rows[0].id as string;
  const anomaly = (
    await app.query(
      `insert into anomalies (user_id, rule, window_start, window_end, evidence, created_at, alert)
       values ($1, 'rapid_fire', now(), now(), '{"opens":11}', now(), true)
       returning id::text as id`,
      [user],
    )
  ).rows[0].id as string;
  await app.query(
    `insert into alert_deliveries (anomaly_id, audience, recipient_user_id, channel, attempt, outcome)
     values ($1, 'user', $2, 'telegram', 1, 'sent')`,
    [anomaly, user],
  );
  await app.query(
    "insert into security_events (user_id, kind, outcome) values ($1, 'login', 'ok')",
    [user],
  );
  return { user, anomaly };
}

const count = async (sql: string, params: unknown[]) =>
  Number((await owner.query(sql, params)).rows[0].n);

describe("evidence outlives everything", () => {
  it("when the application role deletes or truncates anomalies, alert_deliveries, security_events or trade_audit_log, then each is refused and the rows stay", async () => {
    const { user, anomaly } = await userWithEvidence(7_100_001);
    expect((await app.query("select current_user as u")).rows[0].u).toBe(APP_LOGIN);
    for (const statement of [
      "delete from anomalies",
      "delete from alert_deliveries",
      "delete from security_events",
      "delete from trade_audit_log",
      "truncate anomalies cascade",
      "truncate alert_deliveries",
      "truncate security_events",
      "truncate trade_audit_log",
    ]) {
      await expect(app.query(statement), statement).rejects.toThrow(/permission denied/);
    }
    expect(await count("select count(*)::int as n from anomalies where id = $1", [anomaly])).toBe(
      1,
    );
    expect(
      await count("select count(*)::int as n from alert_deliveries where anomaly_id = $1", [
        anomaly,
      ]),
    ).toBe(1);
    expect(
      await count("select count(*)::int as n from security_events where user_id = $1", [user]),
    ).toBe(1);
  });

  it("when a user with findings is deleted, as the application role or even as the owner, then the delete is refused and the findings and their deliveries stay", async () => {
    const { user, anomaly } = await userWithEvidence(7_100_002);
    await expect(app.query("delete from users where id = $1", [user])).rejects.toThrow(
      /violates foreign key constraint "anomalies_user_id_fkey"/,
    );
    await expect(owner.query("delete from users where id = $1", [user])).rejects.toThrow(
      /violates foreign key constraint "anomalies_user_id_fkey"/,
    );
    // The owner cannot take deliveries away with their finding either.
    await expect(owner.query("delete from anomalies where id = $1", [anomaly])).rejects.toThrow(
      /alert_deliveries_anomaly_id_fkey/,
    );
    expect(await count("select count(*)::int as n from users where id = $1", [user])).toBe(1);
    expect(
      await count(
        `select count(*)::int as n from anomalies a join alert_deliveries d on d.anomaly_id = a.id
         where a.user_id = $1`,
        [user],
      ),
    ).toBe(1);
  });

  it("when a user row without findings goes, then its security events stay (without the id)", async () => {
    const user = (
      await app.query(
        "insert into users (telegram_user_id) values (7100003) returning id::text as id",
      )
    ).rows[0].id as string;
    const event = (
      await app.query(
        "insert into security_events (user_id, kind, outcome) values ($1, 'telegram_account_created', 'ok') returning id::text as id",
        [user],
      )
    ).rows[0].id as string;
    await app.query("delete from users where id = $1", [user]);
    const rows = (
      await owner.query("select user_id, kind from security_events where id = $1", [event])
    ).rows;
    expect(rows).toEqual([{ user_id: null, kind: "telegram_account_created" }]);
  });

  it("when an account with findings is deleted (as the application role), then the user row is anonymised and its sessions, keys and 2FA go, while its findings, their deliveries and its security events stay", async () => {
    const { user, anomaly } = await userWithEvidence(7_100_004);
    await app.query(
      `update users set email = 'gone@example.com',
         password_hash = '$2b$04$abcdefghijklmnopqrstuuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0',
         totp_secret = 'gAAAAAsecret', totp_key_version = 1, totp_enabled_at = now()
       where id = $1`,
      [user],
    );
    await app.query("insert into sessions (user_id) values ($1)", [user]);
    await app.query("insert into backup_codes (user_id, idx, hash) values ($1, 0, 'h')", [user]);
    await app.query(
      `insert into exchange_credentials (user_id, venue, api_key, secret, encryption_key_version)
       values ($1, 'binanceusdm', 'gAAAAAkey', 'gAAAAAsecret', 1)`,
      [user],
    );

    const done = await anonymiseAccount(appOrm, user, "test");
    expect(done).toEqual({ userId: user, sessionsEnded: 1, keysRevoked: 1 });
    // A second deletion finds nothing left to delete.
    expect(await anonymiseAccount(appOrm, user, "test")).toBeNull();

    const [row] = (
      await owner.query(
        `select email, password_hash, telegram_user_id, totp_secret, totp_enabled_at,
           deleted_at is not null as deleted from users where id = $1`,
        [user],
      )
    ).rows;
    expect(row).toEqual({
      email: null,
      password_hash: null,
      telegram_user_id: null,
      totp_secret: null,
      totp_enabled_at: null,
      deleted: true,
    });
    for (const table of ["sessions", "backup_codes"]) {
      expect(
        await count(`select count(*)::int as n from ${table} where user_id = $1`, [user]),
        table,
      ).toBe(0);
    }
    const [key] = (
      await owner.query(
        "select api_key, secret, revoked_at is not null as revoked from exchange_credentials where user_id = $1",
        [user],
      )
    ).rows;
    expect(key).toEqual({ api_key: null, secret: null, revoked: true });
    // The evidence: the finding with its delivery, and the security events (with the deletion).
    expect(
      await count(
        `select count(*)::int as n from anomalies a join alert_deliveries d on d.anomaly_id = a.id
         where a.id = $1 and a.user_id = $2`,
        [anomaly, user],
      ),
    ).toBe(1);
    const kinds = (
      await owner.query("select kind from security_events where user_id = $1 order by id", [user])
    ).rows.map((r) => r.kind);
    expect(kinds).toEqual(["login", "account_deleted"]);
  });
});
