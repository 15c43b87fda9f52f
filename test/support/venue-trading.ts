// The trading use cases on live-venue adapters pointed at the fake venues: a user with one
// stored (encrypted) key per venue, for tests of what a trade does against a venue's rules.
import { randomBytes } from "node:crypto";
import type { MikroORM } from "@mikro-orm/postgresql";
import { createTrading } from "../../src/domain/trading/trading";
import { generateFernetKey, parseMasterKeys } from "../../src/domain/vault";
import type { Venue, VenueId } from "../../src/domain/venues/types";
import { createCredentialsRepo } from "../../src/infra/credentials-repo";
import { sqlOf } from "../../src/infra/database";
import { createPauseStore } from "../../src/infra/pause-store";
import { createTradingStore, tradeAuditWriter } from "../../src/infra/trading-store";

export interface PlainKey {
  apiKey?: string;
  secret?: string;
  privateKey?: string;
  walletAddress?: string;
}

/** A user holding one key on `venue`, and the trading use cases wired to `adapter`. */
export async function tradingOn(
  orm: MikroORM,
  venue: VenueId,
  adapter: Venue,
  key: PlainKey,
  telegramId: number,
) {
  const sql = sqlOf(orm);
  const ring = parseMasterKeys(`1:${generateFernetKey()}`);
  const enc = (v: string | undefined) =>
    v === undefined ? null : ring.encrypt(Buffer.from(v)).token;
  const rows = await sql(
    "insert into users (telegram_user_id) values (?) returning id::text as id",
    [telegramId],
  );
  const userId = rows[0]!.id as string;
  const creds = createCredentialsRepo(sql);
  const credential = await creds.insert(userId, venue, `${venue} key`, {
    apiKey: enc(key.apiKey),
    secret: enc(key.secret),
    privateKey: enc(key.privateKey),
    version: 1,
    walletAddress: key.walletAddress ?? null,
    keyHint: "test",
    scopes: ["trade", "read"],
    warnings: [],
  });
  const trading = createTrading({
    store: createTradingStore(orm, tradeAuditWriter(randomBytes(32))),
    pauses: createPauseStore(sql),
    keyRing: ring,
    venues: { [venue]: adapter } as Record<VenueId, Venue>,
    credentials: (u) => creds.list(u),
    lookupDelaysMs: [50, 100, 200, 400],
  });
  // No intake request: the insert always stores.
  return { trading, userId, credentialId: credential!.id, sql, ring, credentials: creds };
}
