// Users with a paper account each, and the trading use cases wired on the real audit log, for
// concurrency tests and the audit benchmark.
import { randomBytes } from "node:crypto";
import type { MikroORM } from "@mikro-orm/postgresql";
import { createTrading, type TradingDeps } from "../../src/domain/trading/trading";
import type { ExchangeKeyRing } from "../../src/domain/vault";
import { createPaperVenue } from "../../src/domain/venues/paper";
import type { Venue, VenueId } from "../../src/domain/venues/types";
import { createActionStateReader } from "../../src/infra/action-state";
import { createCredentialsRepo } from "../../src/infra/credentials-repo";
import { preparedSqlOf, sqlOf } from "../../src/infra/database";
import { createPauseStore } from "../../src/infra/pause-store";
import {
  createTradingStore,
  type TradeAuditWriter,
  tradeAuditWriter,
} from "../../src/infra/trading-store";
import { createPaperStore } from "../../src/infra/venues/paper-store";

export async function seedPaperUsers(
  orm: MikroORM,
  count: number,
  firstTelegramId: number,
): Promise<string[]> {
  const sql = sqlOf(orm);
  const creds = createCredentialsRepo(sql);
  const users: string[] = [];
  for (let i = 0; i < count; i++) {
    const rows = await sql(
      "insert into users (telegram_user_id) values (?) returning id::text as id",
      [firstTelegramId + i],
    );
    const id = rows[0]!.id as string;
    users.push(id);
    await creds.insert(id, "paper", "Paper", {
      apiKey: null,
      secret: null,
      privateKey: null,
      version: 1,
      walletAddress: `paper-${randomBytes(8).toString("hex")}`,
      keyHint: "paper",
      scopes: ["trade", "read"],
      warnings: [],
    });
  }
  return users;
}

/**
 * The same statement without the audit entry: the trade change alone, a new trade id drawn in
 * it as the audited path draws it. For the benchmark's "without the audit write" side only.
 */
const unaudited: TradeAuditWriter = async (sql, _entry, opts) => {
  const c = opts.companion?.();
  if (!c) return { rows: [] };
  const ids = `audit_ids as (select ${opts.newTradeId ? "nextval('trades_id_seq')" : "null::bigint"} as trade_id)`;
  return {
    rows: await sql(`with ${[ids, ...c.ctes].join(",\n")} ${c.select ?? "select 1"}`, c.params),
  };
};

/** The paper venue alone, as the venue registry of a test's trading use cases. */
export function paperVenuesOf(orm: MikroORM): Record<VenueId, Venue> {
  const sql = preparedSqlOf(orm);
  return { paper: createPaperVenue({ store: createPaperStore(sql) }) } as unknown as Record<
    VenueId,
    Venue
  >;
}

/**
 * The trading use cases on the paper venue; `audited: false` leaves the audit entry out;
 * `pauses` replaces the kill switch's store (default: the real one in this database).
 */
export function paperTrading(
  orm: MikroORM,
  keyRing: ExchangeKeyRing,
  pepper: Buffer,
  audited = true,
  pauses?: TradingDeps["pauses"],
  venues: Record<VenueId, Venue> = paperVenuesOf(orm),
) {
  const sql = preparedSqlOf(orm);
  const creds = createCredentialsRepo(sql);
  return createTrading({
    store: createTradingStore(orm, audited ? tradeAuditWriter(pepper) : unaudited),
    pauses: pauses ?? createPauseStore(sql),
    keyRing,
    venues,
    credentials: (u) => creds.list(u),
    // Both in one read, as in production, unless the kill switch's store is replaced.
    ...(pauses ? {} : { actionState: createActionStateReader(sql) }),
  });
}
