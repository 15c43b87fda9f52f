// 8 users trading at once, 50 trades each (open + close), through the real use cases: the audit
// chain stays one valid chain with exactly one row per action (S8.1).
import { randomBytes } from "node:crypto";
import type { MikroORM } from "@mikro-orm/postgresql";
import { afterAll, beforeAll, expect, it } from "vitest";
import { verifyAuditLog } from "../../../src/domain/audit";
import { generateFernetKey, parseMasterKeys } from "../../../src/domain/vault";
import { createAuditChainReader } from "../../../src/infra/audit-log";
import { createOrm, sqlOf } from "../../../src/infra/database";
import { createTestDatabase, type TestDatabase } from "../../support/context";
import { paperTrading, seedPaperUsers } from "../../support/trading-fixtures";

let db: TestDatabase;
let orm: MikroORM;
beforeAll(async () => {
  db = await createTestDatabase();
  orm = await createOrm({ url: db.url, poolMax: 20 });
});
afterAll(async () => {
  await orm.close();
  await db.drop();
});

it("when 8 users make 50 trades each at the same time, then every action has one audit row and the chain verifies", async () => {
  const users = await seedPaperUsers(orm, 8, 9_200_000);
  const trading = paperTrading(orm, parseMasterKeys(`1:${generateFernetKey()}`), randomBytes(32));
  await Promise.all(
    users.map(async (userId, i) => {
      const caller = { userId, source: "api" as const, ip: `203.0.113.${i + 1}` };
      for (let n = 0; n < 50; n++) {
        const t = await trading.openTrade(caller, {
          symbol: n % 2 ? "BTC" : "ETH",
          side: n % 3 ? "long" : "short",
          size: 0.01,
        });
        await trading.closeTrade(caller, t.id);
      }
    }),
  );
  const sql = sqlOf(orm);
  const counts = await sql(
    "select action, count(*)::int as n from trade_audit_log group by action order by action",
  );
  expect(counts).toEqual([
    { action: "close", n: 400 },
    { action: "open", n: 400 },
  ]);
  const trades = await sql("select count(*)::int as n from trades where status = 'closed'");
  expect(trades[0]!.n).toBe(400);
  const verdict = await verifyAuditLog(createAuditChainReader(sql), { batchSize: 100 });
  expect(verdict).toMatchObject({ ok: true, count: 800 });
}, 120_000);
