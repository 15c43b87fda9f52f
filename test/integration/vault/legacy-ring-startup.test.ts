// A process without MASTER_KEYS (api, bot, worker once only the signer holds it, issue 19) opens
// account secrets with ACCOUNT_KEYS alone: while TOTP secrets still sit under the master ring it
// refuses to start, naming both variables and `account-key migrate`; with none left it starts.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseMasterKeys } from "../../../src/domain/vault";
import { startWarden } from "../../../src/main";
import {
  createTestDatabase,
  createTestRedis,
  fernetKey,
  type TestDatabase,
  testEnv,
} from "../../support/context";

const redis = createTestRedis();
let db: TestDatabase;
const masterKeys = `1:${fernetKey()}`;
let env: Record<string, string | undefined>;

beforeAll(async () => {
  db = await createTestDatabase();
  env = testEnv({
    DATABASE_URL: db.url,
    REDIS_URL: redis.url,
    REDIS_PREFIX: redis.prefix,
    MASTER_KEYS: undefined,
  });
});

afterAll(async () => {
  await redis.cleanup();
  await db?.drop();
});

async function startsAndStops(extra: Record<string, string | undefined>): Promise<void> {
  const w = await startWarden({ env: { ...env, ...extra }, roles: ["worker"] });
  await w.shutdown.run("test finished");
}

describe("start-up without MASTER_KEYS", () => {
  it("when no account secret is under MASTER_KEYS, then a worker starts without it", async () => {
    await startsAndStops({});
  });

  it("when a TOTP secret is still under MASTER_KEYS, then a worker without it refuses to start naming MASTER_KEYS, ACCOUNT_KEYS and account-key migrate; with MASTER_KEYS it starts", async () => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const sealed = parseMasterKeys(masterKeys).encrypt(Buffer.from("JBSWY3DPEHPK3PXP"));
    await client.query(
      `insert into users (email, totp_secret, totp_key_version, totp_key_ring, totp_enabled_at)
       values ('legacy@example.com', $1, $2, 'master', now())`,
      [sealed.token, sealed.version],
    );
    await client.end();
    const err = await startsAndStops({}).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toBe(
      "1 account secret row(s) in users are still under MASTER_KEYS, which this process does not " +
        "hold (only the signer does): run `account-key migrate` to move them under ACCOUNT_KEYS first",
    );
    await startsAndStops({ MASTER_KEYS: masterKeys });
  });
});
