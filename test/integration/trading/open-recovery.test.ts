// The recovery of opens left between the venue and the database (issue 18), on the paper venue
// and the real stores: an intent whose order the venue never placed frees its key and slot (and
// the retry then opens), and a key claimed long ago with no intent and no trade is freed.
import { randomBytes } from "node:crypto";
import type { MikroORM } from "@mikro-orm/postgresql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openIntentOf, recoverOpens } from "../../../src/domain/trading/open-recovery";
import { clientOrderIdFor } from "../../../src/domain/trading/uncertain-outcome";
import { generateFernetKey, parseMasterKeys } from "../../../src/domain/vault";
import { createPaperVenue } from "../../../src/domain/venues/paper";
import type { Venue, VenueId } from "../../../src/domain/venues/types";
import { createCredentialsRepo } from "../../../src/infra/credentials-repo";
import { createOrm, preparedSqlOf, sqlOf } from "../../../src/infra/database";
import { createTradingStore, tradeAuditWriter } from "../../../src/infra/trading-store";
import { createPaperStore } from "../../../src/infra/venues/paper-store";
import { createTestDatabase, type TestDatabase } from "../../support/context";
import { paperTrading, seedPaperUsers } from "../../support/trading-fixtures";

let db: TestDatabase;
let orm: MikroORM;
beforeAll(async () => {
  db = await createTestDatabase();
  orm = await createOrm({ url: db.url });
});
afterAll(async () => {
  await orm.close();
  await db.drop();
});

const keyRing = parseMasterKeys(`1:${generateFernetKey()}`);
const pepper = randomBytes(32);

function deps() {
  const sql = preparedSqlOf(orm);
  const creds = createCredentialsRepo(sql);
  return {
    store: createTradingStore(orm, tradeAuditWriter(pepper)),
    keyRing,
    venues: { paper: createPaperVenue({ store: createPaperStore(sql) }) } as unknown as Record<
      VenueId,
      Venue
    >,
    credential: (userId: string, id: string) => creds.get(userId, id),
    lookupDelaysMs: [0, 0],
  };
}

describe("open recovery", () => {
  it("when an open's intent is left and the venue never placed the order, then recovery frees its key and slot, audits the failure, and the retry opens once", async () => {
    const [userId] = await seedPaperUsers(orm, 1, 9_300_000);
    const sql = sqlOf(orm);
    const credentialId = (await sql("select id::text as id from exchange_credentials"))[0]!
      .id as string;
    const d = deps();
    const caller = { userId: userId!, source: "api" as const, ip: null };
    const input = { symbol: "BTC", side: "long" as const, size: 0.01, idempotencyKey: "api:k-1" };
    // The request died after noting its intent, before its order left.
    expect(await d.store.claimRequest(userId!, input.idempotencyKey)).toEqual({ status: "new" });
    expect(await d.store.reserveSlot(credentialId, "BTC")).toEqual({ reserved: true });
    await d.store.noteOpenIntent(
      openIntentOf(
        caller,
        credentialId,
        input,
        clientOrderIdFor(credentialId, input.idempotencyKey),
      ),
    );
    const trading = paperTrading(orm, keyRing, pepper);
    await expect(trading.openTrade(caller, input)).rejects.toMatchObject({ code: "in_progress" });

    const result = await recoverOpens(d, { olderThanMs: 0 });
    expect(result).toMatchObject({ recorded: [], abandoned: 1, unresolved: 0 });
    expect(await sql("select 1 from open_intents")).toEqual([]);
    expect(await sql("select 1 from trade_requests")).toEqual([]);
    expect(await sql("select 1 from trade_slots")).toEqual([]);
    const audit = await sql(
      "select outcome, details->>'error' as error from trade_audit_log where action = 'open'",
    );
    expect(audit).toEqual([{ outcome: "failed", error: "not_placed" }]);

    const t = await trading.openTrade(caller, input);
    expect(t).toMatchObject({ symbol: "BTC/USDT:USDT", size: 0.01, status: "open" });
    expect(await trading.openTrade(caller, input)).toMatchObject({ id: t.id });
    expect(await sql("select size::float8 as size from paper_positions")).toEqual([{ size: 0.01 }]);
  });

  it("when a key was claimed over two minutes ago and neither a trade nor an intent followed, then recovery frees it; a fresh one stays", async () => {
    const [userId] = await seedPaperUsers(orm, 1, 9_300_100);
    const d = deps();
    await d.store.claimRequest(userId!, "api:stranded");
    await d.store.claimRequest(userId!, "api:fresh");
    const sql = sqlOf(orm);
    await sql(
      "update trade_requests set created_at = now() - interval '3 minutes' where idempotency_key = 'api:stranded'",
    );
    const result = await recoverOpens(d, { olderThanMs: 0 });
    expect(result.releasedRequests).toBe(1);
    expect(
      await sql("select idempotency_key from trade_requests where user_id = ?", [userId]),
    ).toEqual([{ idempotency_key: "api:fresh" }]);
  });
});
