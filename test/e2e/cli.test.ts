// The operator CLI as operators run it: `node --import tsx src/cli.ts …` (what `npm run cli --` runs).
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  generateFernetKey,
  InvalidFernetToken,
  parseAccountKeys,
  parseMasterKeys,
} from "../../src/domain/vault";
import {
  createTestDatabase,
  createTestRedis,
  type TestDatabase,
  testEnv,
} from "../support/context";
import { baseEnv, spawnProcess } from "../support/process";

// One pair of rings for every command of this file, as a deployment has.
const MASTER_KEYS = `1:${generateFernetKey()}`;
const ACCOUNT_KEYS = `1:${generateFernetKey()}`;

let db: TestDatabase;
const redis = createTestRedis();
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await redis.cleanup();
  await db.drop();
});

async function cli(...args: string[]) {
  const p = spawnProcess(
    "node",
    ["--import", "tsx", "src/cli.ts", ...args],
    baseEnv(
      testEnv({
        MASTER_KEYS,
        ACCOUNT_KEYS,
        DATABASE_URL: db.url,
        REDIS_URL: redis.url,
        REDIS_PREFIX: redis.prefix,
      }),
    ),
  );
  const { code } = await p.exited;
  return { code, out: p.output() };
}

describe("CLI", () => {
  it("when asked for --help, then every command is listed", async () => {
    const { code, out } = await cli("--help");
    expect(code).toBe(0);
    for (const c of [
      "db migrate",
      "db status",
      "worker ping",
      "master-key generate",
      "master-key status",
      "master-key rotate",
      "account-key generate",
      "account-key status",
      "account-key rotate",
      "account-key migrate",
      "user promote",
      "user delete",
      "backup create",
      "backup verify",
      "backup restore",
      "trading pause",
      "trading resume",
      "trading status",
    ]) {
      expect(out).toContain(c);
    }
  });

  it("when given an unknown command, then it exits 2 with the help", async () => {
    const { code, out } = await cli("frobnicate", "now");
    expect(code).toBe(2);
    expect(out).toContain('Unknown command "frobnicate now"');
  });

  it("when master-key generate runs, then it prints one padded base64url 32-byte key", async () => {
    const { code, out } = await cli("master-key", "generate");
    expect(code).toBe(0);
    const key = out.trim().split("\n").at(-1) ?? "";
    expect(key).toMatch(/^[A-Za-z0-9_-]{43}=$/);
    expect(Buffer.from(key, "base64url")).toHaveLength(32);
  });

  it("when user promote names an existing email, then the account becomes admin and it is recorded; an unknown email fails", async () => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query(
      "insert into users (email, password_hash) values ('ops@example.com', '$2b$04$abcdefghijklmnopqrstuuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0')",
    );
    const ok = await cli("user", "promote", "OPS@example.com");
    expect(ok.code).toBe(0);
    expect(ok.out).toContain(
      "ops@example.com is now an admin. Admin actions stay locked until they enable 2FA.",
    );
    const { rows } = await client.query(
      "select u.role, e.kind from users u join security_events e on e.user_id = u.id where u.email = 'ops@example.com'",
    );
    expect(rows).toEqual([{ role: "admin", kind: "admin_promoted" }]);
    await client.end();
    const missing = await cli("user", "promote", "nobody@example.com");
    expect(missing.code).toBe(1);
    expect(missing.out).toContain("no account with email nobody@example.com");
  });

  it("when user delete names an account with a finding, then it is anonymised and the finding stays; without --yes or for an unknown account it refuses", async () => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const { rows } = await client.query(
        "insert into users (email, password_hash, telegram_user_id) values ('leaving@example.com', '$2b$04$abcdefghijklmnopqrstuuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0', 9100001) returning id::text as id",
      );
      const id = rows[0].id as string;
      await client.query(
        `insert into anomalies (user_id, rule, window_start, window_end, evidence, created_at, alert)
         values ($1, 'new_ip', now(), now(), '{}', now(), true)`,
        [id],
      );
      const unsure = await cli("user", "delete", "leaving@example.com");
      expect(unsure.code).toBe(2);
      const ok = await cli("user", "delete", "leaving@example.com", "--yes");
      expect(ok.code, ok.out).toBe(0);
      expect(ok.out).toContain(`account #${id} deleted`);
      const { rows: after } = await client.query(
        `select u.email, u.telegram_user_id, count(a.id)::int as findings from users u
         join anomalies a on a.user_id = u.id where u.id = $1 group by 1, 2`,
        [id],
      );
      expect(after).toEqual([{ email: null, telegram_user_id: null, findings: 1 }]);
      const again = await cli("user", "delete", `#${id}`, "--yes");
      expect(again.code).toBe(1);
      expect(again.out).toContain(`no account #${id}`);
    } finally {
      await client.end();
    }
  });

  it("when user delete names an account with an open trade, then it exits 1 saying to close it first and nothing is deleted", async () => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const { rows } = await client.query(
        "insert into users (email, password_hash) values ('trading@example.com', '$2b$04$abcdefghijklmnopqrstuuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0') returning id::text as id",
      );
      const id = rows[0].id as string;
      const { rows: keys } = await client.query(
        `insert into exchange_credentials (user_id, venue, api_key, secret, encryption_key_version)
         values ($1, 'binanceusdm', 'gAAAAAkey', 'gAAAAAsecret', 1) returning id`,
        [id],
      );
      await client.query(
        `insert into trades (user_id, credential_id, venue, symbol, side, size, source)
         values ($1, $2, 'binanceusdm', 'BTCUSDT', 'long', 0.01, 'telegram')`,
        [id, keys[0].id],
      );
      const refused = await cli("user", "delete", "trading@example.com", "--yes");
      expect(refused.code, refused.out).toBe(1);
      expect(refused.out).toContain(
        "account trading@example.com has 1 open trade(s): close them first (in the bot or on the web), then delete the account. Nothing was deleted.",
      );
      const { rows: after } = await client.query(
        `select u.email, u.deleted_at, c.api_key from users u
         join exchange_credentials c on c.user_id = u.id where u.id = $1`,
        [id],
      );
      expect(after).toEqual([
        { email: "trading@example.com", deleted_at: null, api_key: "gAAAAAkey" },
      ]);
    } finally {
      await client.end();
    }
  });

  it("when account-key migrate runs on TOTP secrets stored under MASTER_KEYS, then they move to ACCOUNT_KEYS, account-key status shows them, and a second run moves none", async () => {
    const master = parseMasterKeys(MASTER_KEYS);
    const account = parseAccountKeys(ACCOUNT_KEYS);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
      const sealed = master.encrypt(Buffer.from(secret));
      await client.query(
        `insert into users (email, password_hash, totp_secret, totp_key_version, totp_key_ring,
           totp_enabled_at)
         values ('totp-legacy@example.com', '$2b$04$abcdefghijklmnopqrstuuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0',
           $1, $2, 'master', now())`,
        [sealed.token, sealed.version],
      );
      const first = await cli("account-key", "migrate");
      expect(first.code).toBe(0);
      expect(first.out).toContain(
        "users: 1 row(s) moved from MASTER_KEYS to ACCOUNT_KEYS version 1, 0 failed",
      );
      const { rows } = await client.query(
        "select totp_secret, totp_key_version, totp_key_ring from users where email = 'totp-legacy@example.com'",
      );
      expect([rows[0].totp_key_ring, rows[0].totp_key_version]).toEqual(["account", 1]);
      expect(account.decrypt(1, rows[0].totp_secret).toString()).toBe(secret);
      expect(() => master.decrypt(1, rows[0].totp_secret)).toThrow(InvalidFernetToken);

      const second = await cli("account-key", "migrate");
      expect(second.code).toBe(0);
      expect(second.out).toContain("users: 0 row(s) moved");
      const status = await cli("account-key", "status");
      expect(status.code).toBe(0);
      expect(status.out).toContain("ACCOUNT_KEYS versions: 1 (current 1)");
      expect(status.out).toContain("users (account ring): version 1: 1 row(s)");
      for (const text of [first.out, second.out, status.out]) {
        expect(text).not.toContain(secret);
        expect(text).not.toContain(ACCOUNT_KEYS.slice(2));
      }
    } finally {
      await client.end();
    }
  });
});
