// Issue 19 as deployed, down to the database logins: the signer runs in a process of its own
// (`--roles signer`) logged in as a warden_signer member, api and worker run without MASTER_KEYS
// logged in as a warden_app member. A key pasted into the API is sealed to the intake key the
// signer published, stored by the signer, and trades; the api's own login could not have
// published an intake key of its own.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Json, jsonApi, steppedUpAccount } from "../support/api-session";
import { APP_LOGIN, SIGNER_LOGIN } from "../support/app-role";
import {
  BINANCE_DEFAULT_RESTRICTIONS,
  type FakeBinance,
  startFakeBinance,
} from "../support/venues/binance";
import { startTestWarden, type TestWarden } from "../support/warden-harness";

const hex = (n: number) => randomBytes(n).toString("hex");
const bkey = { apiKey: `AK${hex(30)}`, secret: `SK${hex(30)}` };
let binance: FakeBinance;
let w: TestWarden;
let owner: pg.Client;

beforeAll(async () => {
  binance = await startFakeBinance({
    keys: { [bkey.apiKey]: { secret: bkey.secret, restrictions: BINANCE_DEFAULT_RESTRICTIONS } },
  });
  w = await startTestWarden({
    env: { VENUE_URL_BINANCEUSDM: binance.url },
    signerProcess: true,
    databaseLogins: true,
  });
  owner = new pg.Client({ connectionString: w.db.url });
  await owner.connect();
});
afterAll(async () => {
  await owner?.end();
  await w?.stop();
  await binance?.close();
});

const api = jsonApi(() => w);
const signIn = (email: string) => steppedUpAccount(w, email);

describe("signer and application database logins", () => {
  it("when the signer process logs in as a warden_signer member and api and worker as a warden_app member, then a key pasted into the API is sealed, stored by the signer and trades, and each process used only its own login", async () => {
    expect(w.env.MASTER_KEYS).toBeUndefined();
    const token = await signIn("split@example.com");

    const key = await api("POST", "/api/keys", { venue: "binanceusdm", ...bkey }, token);
    expect(key.status).toBe(201);
    expect(key.body.key).toMatchObject({ venue: "binanceusdm", status: "active" });
    const opened = await api(
      "POST",
      "/api/trades",
      { confirm: true, symbol: "BTC/USDT:USDT", side: "long", size: 0.01, keyId: key.body.key.id },
      token,
    );
    expect(opened.status).toBe(201);
    expect(binance.positions(bkey.apiKey)).toEqual([
      expect.objectContaining({ symbol: "BTCUSDT", amount: 0.01 }),
    ]);
    const closed = await api("POST", `/api/trades/${opened.body.trade.id}/close`, undefined, token);
    expect(closed.status).toBe(200);
    expect(binance.positions(bkey.apiKey)).toEqual([]);
    const audit = await owner.query("select action, outcome from trade_audit_log order by id");
    expect(audit.rows).toEqual([
      { action: "open", outcome: "ok" },
      { action: "close", outcome: "ok" },
    ]);
    // The key went through the sealed intake: published by the signer, claimed once by it.
    const claims = await owner.query("select venue from signer_intake_claims");
    expect(claims.rows).toEqual([{ venue: "binanceusdm" }]);

    // The signer process and this one (api, worker) are connected under their own logins.
    const { rows } = await owner.query(
      `select distinct usename from pg_stat_activity
        where datname = current_database() and pid <> pg_backend_pid() order by usename`,
    );
    expect(rows.map((r) => r.usename)).toEqual([APP_LOGIN, SIGNER_LOGIN].sort());

    // What a compromised api would try with its own login: refused.
    const app = new pg.Client({ connectionString: w.env.DATABASE_URL });
    await app.connect();
    try {
      for (const statement of [
        "update signer_intake_keys set public_key = repeat('A', 43)",
        "insert into signer_intake_keys (version, public_key) values (7, repeat('A', 43))",
        "delete from signer_intake_claims",
        "update signer_intake_claims set job_ref = 'mine'",
      ]) {
        await expect(app.query(statement), statement).rejects.toThrow(/permission denied/);
      }
      expect((await app.query("select count(*)::int as n from signer_intake_keys")).rows).toEqual([
        { n: 1 },
      ]);
    } finally {
      await app.end();
    }
  });
  it("when the api on its warden_app login adds a paper key and revokes a key the signer stored, then both work, and that login can neither copy the other user's encrypted key into its own nor take the key over", async () => {
    const token = await signIn("guard@example.com");
    const paper = await api("POST", "/api/keys", { venue: "paper" }, token);
    expect(paper.status).toBe(201);
    // The first test's user: the victim, whose Binance key the signer stored.
    const victim = (
      await owner.query(
        "select id::text as id, user_id::text as user_id from exchange_credentials where venue = 'binanceusdm' order by id limit 1",
      )
    ).rows[0];
    const app = new pg.Client({ connectionString: w.env.DATABASE_URL });
    await app.connect();
    try {
      for (const statement of [
        `update exchange_credentials c set api_key = v.api_key, secret = v.secret
           from exchange_credentials v where v.id = ${victim.id} and c.id = ${paper.body.key.id}`,
        `insert into exchange_credentials (user_id, venue, api_key, secret, encryption_key_version)
           select (select user_id from exchange_credentials where id = ${paper.body.key.id}),
                  venue, api_key, secret, encryption_key_version
           from exchange_credentials where id = ${victim.id}`,
        `update exchange_credentials set user_id = (select user_id from exchange_credentials
           where id = ${paper.body.key.id}) where id = ${victim.id}`,
      ]) {
        await expect(app.query(statement), statement).rejects.toThrow(/permission denied/);
      }
    } finally {
      await app.end();
    }
    // The attacker's account still sees only its paper key; the key stays its owner's.
    const mine = await api("GET", "/api/keys", undefined, token);
    expect(mine.body.keys.map((k: Json) => k.venue)).toEqual(["paper"]);
    const owned = await owner.query(
      "select user_id::text as user_id, api_key is not null as stored from exchange_credentials where id = $1",
      [victim.id],
    );
    expect(owned.rows).toEqual([{ user_id: victim.user_id, stored: true }]);
    // A key of its own, stored by the signer, revoked through the api (warden_app): the tokens go.
    const own = await api("POST", "/api/keys", { venue: "binanceusdm", ...bkey }, token);
    expect(own.status).toBe(201);
    expect((await api("DELETE", `/api/keys/${own.body.key.id}`, undefined, token)).status).toBe(
      204,
    );
    const revoked = await owner.query(
      `select revoked_at is not null as revoked, api_key, secret from exchange_credentials
        where id = $1`,
      [own.body.key.id],
    );
    expect(revoked.rows).toEqual([{ revoked: true, api_key: null, secret: null }]);
  });
});
