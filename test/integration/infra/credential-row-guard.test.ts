// Key material stays in the row the signer wrote it to (issue 19, migration 20261205067000):
// logged in as warden_app, as a fully compromised api, bot or worker is, an attacker with no
// MASTER_KEYS cannot copy a victim's Fernet token into a key of its own, insert one, or move the
// victim's key to itself, so the signer never trades the victim's key for the attacker; the
// writes api, bot and worker make through their own code (revoke, margin mode, expiry mark,
// paper keys, account deletion) still go through, and the signer's login connects, rotates and
// re-encrypts as before.
import { randomBytes } from "node:crypto";
import type { MikroORM } from "@mikro-orm/postgresql";
import type pg from "pg";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Migration20261205067000CredentialRowGuard } from "../../../migrations/20261205067000-credential-row-guard";
import {
  ENCRYPTED_TABLES,
  type ExchangeKeyRing,
  parseMasterKeys,
  rotateAll,
} from "../../../src/domain/vault";
import { anonymiseAccount } from "../../../src/infra/account-deletion";
import { loadConfig } from "../../../src/infra/config";
import { createCredentialsRepo } from "../../../src/infra/credentials-repo";
import { sqlOf } from "../../../src/infra/database";
import { createKeyAuthority } from "../../../src/infra/signer-authority";
import { createVaultStore } from "../../../src/infra/vault-store";
import { createVenues } from "../../../src/infra/venues";
import { withoutKeyRing } from "../../../src/roles/shared";
import { createKeys } from "../../../src/wiring/keys";
import { signerHeldRing } from "../../../src/wiring/signer-held-ring";
import { connectAsRoles, type RoleConnections } from "../../support/app-role";
import { createTestDatabase, fernetKey, type TestDatabase, testEnv } from "../../support/context";
import {
  BINANCE_DEFAULT_RESTRICTIONS,
  type FakeBinance,
  startFakeBinance,
} from "../../support/venues/binance";

const hex = (n: number) => randomBytes(n).toString("hex");
const first = { apiKey: `AK${hex(30)}`, secret: `SK${hex(30)}` };
const second = { apiKey: `AK${hex(30)}`, secret: `SK${hex(30)}` };
const victimKey = { apiKey: `VK${hex(30)}`, secret: `VS${hex(30)}` };
const key1 = fernetKey();
const key2 = fernetKey();

let db: TestDatabase;
let binance: FakeBinance;
let roles: RoleConnections;
let owner: pg.Client;
let app: pg.Client;
let appOrm: MikroORM;
let signerOrm: MikroORM;
let ring: ExchangeKeyRing;

beforeAll(async () => {
  db = await createTestDatabase();
  binance = await startFakeBinance({
    keys: Object.fromEntries(
      [first, second, victimKey].map((k) => [
        k.apiKey,
        { secret: k.secret, restrictions: BINANCE_DEFAULT_RESTRICTIONS },
      ]),
    ),
  });
  roles = await connectAsRoles(db.url);
  ({ owner, app, appOrm, signerOrm } = roles);
  ring = parseMasterKeys(`1:${key1}`);
});

afterAll(async () => {
  await roles?.close();
  await binance?.close();
  await db?.drop();
});

const config = () =>
  withoutKeyRing(loadConfig(testEnv({ DATABASE_URL: db.url, VENUE_URL_BINANCEUSDM: binance.url })));

/** The key service as the signer builds it: the master key ring, on the signer's login. */
const signerKeys = (keyRing = ring) =>
  createKeys(config(), {
    keyRing,
    orm: signerOrm,
    logger: pino({ level: "silent" }),
    venues: createVenues({ sql: sqlOf(signerOrm), urls: config().venueUrls }),
  });

/** The key service as api, bot and worker build it without the signer: no ring, warden_app. */
const appKeys = () =>
  createKeys(config(), {
    keyRing: signerHeldRing(),
    orm: appOrm,
    logger: pino({ level: "silent" }),
    venues: createVenues({ sql: sqlOf(appOrm), urls: config().venueUrls }),
  });

async function user(): Promise<string> {
  const { rows } = await owner.query(
    "insert into users (telegram_user_id) values ($1) returning id::text as id",
    [Math.floor(Math.random() * 1e9) + 1e9],
  );
  return rows[0].id as string;
}

const buf = (k: { apiKey: string; secret: string }) => ({
  apiKey: Buffer.from(k.apiKey),
  secret: Buffer.from(k.secret),
});

/** Every column of the table's rows, as the owner sees them. */
const snapshot = async () =>
  (await owner.query("select * from exchange_credentials order by id")).rows;

/** The victim's Binance key (stored by the signer) and the attacker's own paper key. */
async function victimAndAttacker() {
  const victim = await user();
  const attacker = await user();
  const victimRow = await signerKeys().connect(victim, "binanceusdm", "main", buf(victimKey));
  const own = await appKeys().connect(attacker, "paper", "Paper", {});
  return { victim, attacker, victimRow, own };
}

describe("exchange key rows under warden_app", () => {
  it("when a warden_app login copies another user's ciphertext into its own key row, by update or by insert, then each is refused with permission denied and no row changes", async () => {
    const { victim, attacker, victimRow, own } = await victimAndAttacker();
    const before = await snapshot();
    const copy = `(select %s from exchange_credentials where id = ${victimRow.id})`;
    const from = (column: string) => copy.replace("%s", column);
    const attempts = [
      // Into the attacker's paper row, column by column and all at once.
      `update exchange_credentials set api_key = ${from("api_key")} where id = ${own.id}`,
      `update exchange_credentials set secret = ${from("secret")} where id = ${own.id}`,
      `update exchange_credentials set private_key = 'gAAAAAforged' where id = ${own.id}`,
      `update exchange_credentials set venue = 'binanceusdm', api_key = ${from("api_key")},
         secret = ${from("secret")} where id = ${own.id}`,
      // A new row of the attacker's, with the victim's tokens, on any venue.
      `insert into exchange_credentials (user_id, venue, api_key, secret, encryption_key_version)
         select ${attacker}, venue, api_key, secret, encryption_key_version
         from exchange_credentials where id = ${victimRow.id}`,
      `insert into exchange_credentials (user_id, venue, api_key, secret, encryption_key_version)
         select ${attacker}, 'paper', api_key, secret, encryption_key_version
         from exchange_credentials where id = ${victimRow.id}`,
      // A key with no token but another venue's wallet, or a request id the signer will serve.
      `insert into exchange_credentials (user_id, venue, wallet_address, encryption_key_version)
         values (${attacker}, 'hyperliquid', '0x${hex(20)}', 1)`,
      `insert into exchange_credentials (user_id, venue, encryption_key_version, intake_request_id)
         values (${attacker}, 'paper', 1, '${hex(16)}')`,
      `insert into exchange_credentials (user_id, venue, encryption_key_version, material_request_id)
         values (${attacker}, 'paper', 1, '${hex(16)}')`,
      // Another user's paper account (the row's wallet address) taken over by the attacker's row.
      `update exchange_credentials set wallet_address = 'paper-${hex(8)}' where id = ${own.id}`,
    ];
    for (const statement of attempts) {
      await expect(app.query(statement), statement).rejects.toThrow(/permission denied/);
    }
    // The api's own repository, as a compromised api would call it with the stolen tokens.
    const repo = createCredentialsRepo(sqlOf(appOrm));
    const stolen = victimRow.encrypted;
    await expect(
      repo.insert(attacker, "binanceusdm", "mine", {
        apiKey: stolen.apiKey,
        secret: stolen.secret,
        privateKey: null,
        version: stolen.encryptionKeyVersion,
        walletAddress: null,
        keyHint: "…",
        scopes: [],
        warnings: [],
      }),
    ).rejects.toThrow(/permission denied to insert a binanceusdm key/);
    await expect(
      repo.replaceMaterial(own.id, {
        apiKey: stolen.apiKey,
        secret: stolen.secret,
        privateKey: null,
        version: stolen.encryptionKeyVersion,
        walletAddress: own.walletAddress,
        keyHint: "…",
        scopes: [],
        warnings: [],
      }),
    ).rejects.toThrow(/permission denied to set exchange_credentials.api_key/);
    expect(await snapshot()).toEqual(before);
    // What the attacker can read back: its own paper key, with no token.
    expect(
      (await repo.list(attacker)).map((k) => [k.venue, k.encrypted.apiKey, k.encrypted.secret]),
    ).toEqual([["paper", null, null]]);
    expect((await repo.list(victim)).map((k) => k.id)).toEqual([victimRow.id]);
  });

  it("when a warden_app login moves a victim's key to its own user, or changes its venue, network, intake request, material request or key version, or re-enables it after the signer disabled it, then each is refused and the signer still sees the victim as its owner and the key as disabled", async () => {
    const { victim, attacker, victimRow, own } = await victimAndAttacker();
    const attempts = [
      `update exchange_credentials set user_id = ${attacker} where id = ${victimRow.id}`,
      `update exchange_credentials set user_id = ${attacker}, label = 'mine' where user_id = ${victim}`,
      // An identity can only be renumbered to the next value (no row can take another's id).
      `update exchange_credentials set id = default where id = ${victimRow.id}`,
      `update exchange_credentials set venue = 'bybit' where id = ${victimRow.id}`,
      `update exchange_credentials set testnet = true where id = ${victimRow.id}`,
      `update exchange_credentials set intake_request_id = '${hex(16)}' where id = ${victimRow.id}`,
      // Which request last wrote the material: a redelivered rotation answers from it.
      `update exchange_credentials set material_request_id = '${hex(16)}' where id = ${victimRow.id}`,
      `update exchange_credentials set material_requested_at = now() where id = ${victimRow.id}`,
      `update exchange_credentials set encryption_key_version = 2 where id = ${victimRow.id}`,
    ];
    // A key re-verification disabled (the venue changed its scopes) stays disabled.
    await createCredentialsRepo(sqlOf(signerOrm)).disable(victimRow.id, "it now allows withdraw");
    attempts.push(
      `update exchange_credentials set disabled_at = null, disabled_reason = null where id = ${victimRow.id}`,
    );
    const before = await snapshot();
    for (const statement of attempts) {
      await expect(app.query(statement), statement).rejects.toThrow(/permission denied/);
    }
    expect(await snapshot()).toEqual(before);
    // The ownership check the signer makes before it decrypts for a trade intent.
    const authority = createKeyAuthority(sqlOf(signerOrm));
    expect(await authority.key(victimRow.id)).toEqual({ userId: victim, usable: false });
    expect(await authority.key(own.id)).toEqual({ userId: attacker, usable: true });
  });

  it("when a warden_app login tries to switch the guard off, then it is refused", async () => {
    for (const statement of [
      "alter table exchange_credentials disable trigger exchange_credentials_guard",
      "drop trigger exchange_credentials_guard on exchange_credentials",
      "set session_replication_role = replica",
      "create or replace function exchange_credentials_guard() returns trigger language plpgsql as $$ begin return new; end $$",
    ]) {
      await expect(app.query(statement), statement).rejects.toThrow(
        /must be owner|permission denied/,
      );
    }
    const { rows } = await owner.query(
      "select tgenabled from pg_trigger where tgname = 'exchange_credentials_guard'",
    );
    expect(rows).toEqual([{ tgenabled: "O" }]);
  });

  it("when api, bot and worker write keys through their own code on a warden_app login, then paper keys, margin mode, the expiry mark, revoke and account deletion still work", async () => {
    const keys = appKeys();
    const repo = createCredentialsRepo(sqlOf(appOrm));
    const someone = await user();
    // A paper key, as /start and POST /api/keys {venue: paper} store it without the signer.
    const paper = await keys.connect(someone, "paper", "Paper", {});
    expect(paper).toMatchObject({ venue: "paper", encrypted: { apiKey: null, secret: null } });
    expect(paper.walletAddress).toMatch(/^paper-[0-9a-f]{16}$/);
    // A Hyperliquid key the signer stored; its margin mode is the user's choice, set in the api.
    const signerRepo = createCredentialsRepo(sqlOf(signerOrm));
    const hl = await signerRepo.insert(someone, "hyperliquid", "hl", {
      apiKey: null,
      secret: null,
      privateKey: ring.encrypt(Buffer.from(hex(32))).token,
      version: ring.currentVersion,
      walletAddress: `0x${hex(20)}`,
      keyHint: "0x…",
      scopes: ["trade"],
      warnings: [],
      expiresAt: new Date(Date.now() + 3 * 86_400_000),
    });
    expect(hl).not.toBeNull();
    expect((await keys.setMarginMode(someone, hl!.id, "isolated")).marginMode).toBe("isolated");
    // The expiry mark (one warning per key and expiry, several workers).
    expect(await repo.claimExpiryWarning(hl!.id, hl!.expiresAt!)).toBe(true);
    expect(await repo.claimExpiryWarning(hl!.id, hl!.expiresAt!)).toBe(false);
    // Revoke: the tokens go, the row stays.
    const binanceKey = await signerKeys().connect(someone, "binanceusdm", "b", buf(first));
    await keys.revoke(someone, binanceKey.id);
    const revoked = (await repo.list(someone)).find((k) => k.id === binanceKey.id)!;
    expect(revoked.revokedAt).not.toBeNull();
    expect(revoked.encrypted).toMatchObject({ apiKey: null, secret: null, privateKey: null });
    // Account deletion clears every key's tokens, wallet, hint and label.
    expect(await anonymiseAccount(appOrm, someone, "test")).toMatchObject({ keysRevoked: 2 });
    const { rows } = await owner.query(
      `select venue, api_key, secret, private_key, wallet_address, key_hint, label, margin_mode,
              revoked_at is not null as revoked, expiry_warned_for is not null as warned
         from exchange_credentials where user_id = $1 order by id`,
      [someone],
    );
    const gone = { api_key: null, secret: null, private_key: null, wallet_address: null };
    expect(rows).toEqual([
      {
        venue: "paper",
        ...gone,
        key_hint: null,
        label: "",
        margin_mode: "cross",
        revoked: true,
        warned: false,
      },
      {
        venue: "hyperliquid",
        ...gone,
        key_hint: null,
        label: "",
        margin_mode: "isolated",
        revoked: true,
        warned: true,
      },
      {
        venue: "binanceusdm",
        ...gone,
        key_hint: null,
        label: "",
        margin_mode: "cross",
        revoked: true,
        warned: false,
      },
    ]);
  });

  it("when the signer logs in as a warden_signer member, then it connects and rotates a key and re-encrypts every key under a new master key", async () => {
    const someone = await user();
    const keys = signerKeys();
    const connected = await keys.connect(someone, "binanceusdm", "main", buf(first));
    const rotated = await keys.rotate(someone, connected.id, buf(second));
    expect(rotated.encrypted.apiKey).not.toBe(connected.encrypted.apiKey);
    expect(ring.decrypt(1, rotated.encrypted.apiKey!).toString()).toBe(second.apiKey);
    // Master key rotation, as the signer's vault job runs it.
    const both = parseMasterKeys(`1:${key1},2:${key2}`);
    const report = await rotateAll({
      store: createVaultStore(sqlOf(signerOrm)),
      keyRing: both,
      tables: ENCRYPTED_TABLES.filter((t) => t.table === "exchange_credentials"),
    });
    expect(report.remaining).toBe(0);
    expect(report.failedIds).toEqual([]);
    const { rows } = await owner.query(
      "select encryption_key_version as v, api_key from exchange_credentials where id = $1",
      [connected.id],
    );
    expect(rows[0].v).toBe(2);
    expect(both.decrypt(2, rows[0].api_key).toString()).toBe(second.apiKey);
    // The same rotation on warden_app's login, as a compromised worker holding the ring would.
    const before = await snapshot();
    await expect(
      rotateAll({
        store: createVaultStore(sqlOf(appOrm)),
        keyRing: parseMasterKeys(`1:${key1},2:${key2},3:${fernetKey()}`),
        tables: ENCRYPTED_TABLES.filter((t) => t.table === "exchange_credentials"),
      }),
    ).rejects.toThrow(/permission denied/);
    expect(await snapshot()).toEqual(before);
  });

  it("when the migration is rolled back, then a warden_app login can move a key to another user again, and applied again it cannot", async () => {
    const { attacker, victimRow } = await victimAndAttacker();
    const run = async (step: "up" | "down") => {
      const m = new Migration20261205067000CredentialRowGuard(
        signerOrm.em.getDriver() as never,
        signerOrm.config as never,
      );
      await m[step]();
      for (const q of m.getQueries().map(String)) await owner.query(q);
    };
    const steal = `update exchange_credentials set user_id = ${attacker} where id = ${victimRow.id} returning id`;
    try {
      await run("down");
      await app.query("begin");
      expect((await app.query(steal)).rowCount).toBe(1);
    } finally {
      // Before the trigger is created again: the open transaction holds the table's lock.
      await app.query("rollback");
      await run("up");
    }
    await expect(app.query(steal)).rejects.toThrow(/permission denied/);
  });
});
