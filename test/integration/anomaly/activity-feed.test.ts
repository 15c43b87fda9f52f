// The activity feed rides in the audit append's statement: an open's activity row carries the
// trade id drawn in that statement (the same id as the trade row and its audit entry), and every
// entry still verifies.
import { randomBytes } from "node:crypto";
import type { MikroORM } from "@mikro-orm/postgresql";
import { afterAll, beforeAll, expect, it } from "vitest";
import { verifyAuditLog } from "../../../src/domain/audit";
import { createTrading } from "../../../src/domain/trading/trading";
import { generateFernetKey, parseMasterKeys } from "../../../src/domain/vault";
import { createPaperVenue } from "../../../src/domain/venues/paper";
import type { Venue, VenueId } from "../../../src/domain/venues/types";
import { withActivityFeed } from "../../../src/infra/anomaly-store";
import { createAuditChainReader } from "../../../src/infra/audit-log";
import { createCredentialsRepo } from "../../../src/infra/credentials-repo";
import { createOrm, sqlOf } from "../../../src/infra/database";
import { createPauseStore } from "../../../src/infra/pause-store";
import { createTradingStore, tradeAuditWriter } from "../../../src/infra/trading-store";
import { createPaperStore } from "../../../src/infra/venues/paper-store";
import { createTestDatabase, type TestDatabase } from "../../support/context";
import { seedPaperUsers } from "../../support/trading-fixtures";

let db: TestDatabase;
let orm: MikroORM;

beforeAll(async () => {
  db = await createTestDatabase();
  orm = await createOrm({ url: db.url, poolMax: 4 });
});

afterAll(async () => {
  await orm?.close();
  await db?.drop();
});

it("when a user opens and closes trades with the activity feed on, then each activity row names the trade its audit entry names, and the log verifies", async () => {
  const [userId] = await seedPaperUsers(orm, 1, 6_700_000);
  const creds = createCredentialsRepo(sqlOf(orm));
  const trading = createTrading({
    store: createTradingStore(orm, withActivityFeed(tradeAuditWriter(randomBytes(32)), Date.now)),
    pauses: createPauseStore(sqlOf(orm)),
    keyRing: parseMasterKeys(`1:${generateFernetKey()}`),
    venues: {
      paper: createPaperVenue({ store: createPaperStore(sqlOf(orm)) }),
    } as unknown as Record<VenueId, Venue>,
    credentials: (u) => creds.list(u),
  });
  const caller = { userId: userId!, source: "api" as const, ip: "198.51.100.20" };
  const opened: string[] = [];
  for (const symbol of ["BTC", "ETH"]) {
    const t = await trading.openTrade(caller, { symbol, side: "long", size: 0.01 });
    opened.push(t.id);
    await trading.closeTrade(caller, t.id);
  }
  const sql = sqlOf(orm);
  const activity = await sql(
    "select action, trade_id::text as trade_id from trade_activity where user_id = ? order by id",
    [userId],
  );
  const audit = await sql(
    "select action, trade_id::text as trade_id from trade_audit_log order by id",
  );
  const expected = opened.flatMap((id) => [
    { action: "open", trade_id: id },
    { action: "close", trade_id: id },
  ]);
  expect(activity).toEqual(expected);
  expect(audit).toEqual(expected);
  expect(await verifyAuditLog(createAuditChainReader(sql))).toMatchObject({ ok: true, count: 4 });
});
