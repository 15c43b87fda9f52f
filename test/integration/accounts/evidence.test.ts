// Evidence outlives everything (issue 15): as the application's database role, findings, their
// deliveries, security events and the audit log cannot be deleted or truncated, and a user row
// with findings cannot take them along when it goes.
import type { MikroORM } from "@mikro-orm/postgresql";
import { Redis } from "ioredis";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccountHasOpenTrades, anonymiseAccount } from "../../../src/infra/account-deletion";
import { createOrm } from "../../../src/infra/database";
import { createOneTimeTokenStore } from "../../../src/infra/one-time-tokens";
import { APP_LOGIN, ensureAppLogin } from "../../support/app-role";
import { createTestDatabase, createTestRedis, type TestDatabase } from "../../support/context";

let db: TestDatabase;
let owner: pg.Client;
let app: pg.Client;
/** The service's own pool, logged in as the application role. */
let appOrm: MikroORM;
const testRedis = createTestRedis();
let redis: Redis;

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
  redis = new Redis(testRedis.url, { keyPrefix: testRedis.prefix });
});
afterAll(async () => {
  redis?.disconnect();
  await testRedis.cleanup();
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
    // Stored as the signer would (warden_app may not store key material: 20261205067000).
    await owner.query(
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

  it("when an account with an open trade or an order still being placed is deleted, then it is refused and nothing changes; once neither is left, its trading settings go and its reset, link and confirmation tokens stop working", async () => {
    const { user } = await userWithEvidence(7_100_005);
    await app.query(
      `update users set email = 'trader@example.com',
         password_hash = '$2b$04$abcdefghijklmnopqrstuuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0'
       where id = $1`,
      [user],
    );
    await app.query("insert into sessions (user_id) values ($1)", [user]);
    const credential = (
      await owner.query(
        `insert into exchange_credentials (user_id, venue, api_key, secret, encryption_key_version)
         values ($1, 'binanceusdm', 'gAAAAAkey', 'gAAAAAsecret', 1) returning id::text as id`,
        [user],
      )
    ).rows[0].id as string;
    const trade = (
      await app.query(
        `insert into trades (user_id, credential_id, venue, symbol, side, size, source)
         values ($1, $2, 'binanceusdm', 'BTCUSDT', 'long', 0.01, 'telegram') returning id::text as id`,
        [user, credential],
      )
    ).rows[0].id as string;
    await app.query("insert into trading_settings (user_id, max_order_notional) values ($1, 500)", [
      user,
    ]);
    await app.query(
      `insert into open_intents (client_order_id, user_id, credential_id, symbol, base_symbol, side, size, source)
       values ('w-evidence-1', $1, $2, 'BTCUSDT', 'BTC', 'long', 0.01, 'telegram')`,
      [user, credential],
    );
    const tokens = createOneTimeTokenStore(redis);
    const reset = await tokens.issue("reset", { userId: user }, 600, user);
    const link = await tokens.issue("link:web", { userId: user }, 600, user);
    const confirm = await tokens.issue(
      "email_confirm",
      { userId: user, email: "next@example.com" },
      600,
      user,
    );

    const refused = anonymiseAccount(appOrm, user, "test", { tokens });
    await expect(refused).rejects.toBeInstanceOf(AccountHasOpenTrades);
    await expect(refused).rejects.toThrow(
      "the account has 1 open trade(s) and 1 order(s) still being placed: close them first",
    );
    const [kept] = (
      await owner.query(
        `select email, deleted_at is null as live,
           (select count(*)::int from sessions where user_id = u.id) as sessions,
           (select count(*)::int from trading_settings where user_id = u.id) as settings,
           (select count(*)::int from open_intents where user_id = u.id) as intents
         from users u where id = $1`,
        [user],
      )
    ).rows;
    expect(kept).toEqual({
      email: "trader@example.com",
      live: true,
      sessions: 1,
      settings: 1,
      intents: 1,
    });
    expect(await tokens.peek("reset", reset)).toEqual({ userId: user });

    await app.query("update trades set status = 'closed', closed_at = now() where id = $1", [
      trade,
    ]);
    // The order still being placed may be filled at the venue: deletion waits for its recovery.
    await expect(anonymiseAccount(appOrm, user, "test", { tokens })).rejects.toThrow(
      "the account has 0 open trade(s) and 1 order(s) still being placed: close them first",
    );
    await app.query("delete from open_intents where user_id = $1", [user]);
    expect(await anonymiseAccount(appOrm, user, "test", { tokens })).toEqual({
      userId: user,
      sessionsEnded: 1,
      keysRevoked: 1,
    });
    for (const table of ["trading_settings", "open_intents"]) {
      expect(
        await count(`select count(*)::int as n from ${table} where user_id = $1`, [user]),
        table,
      ).toBe(0);
    }
    // The trade is evidence: it stays.
    expect(await count("select count(*)::int as n from trades where id = $1", [trade])).toBe(1);
    expect(await tokens.consume("reset", reset)).toBeNull();
    expect(await tokens.consume("link:web", link)).toBeNull();
    expect(await tokens.consume("email_confirm", confirm)).toBeNull();
  });
});
