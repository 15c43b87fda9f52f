// Audited trade actions per second on the paper venue with 8 concurrent users, and the cost of
// the audit write: the same open/close loop with the audit append replaced by nothing, same run.
import { randomBytes } from "node:crypto";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { generateFernetKey, parseMasterKeys } from "../src/domain/vault";
import { createOrm, ensureDatabase, migrate } from "../src/infra/database";
import { paperTrading, seedPaperUsers } from "../test/support/trading-fixtures";

const SERVER = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432";
const USERS = 8;
const SECONDS = Number(process.env.BENCH_AUDIT_SECONDS ?? 8);

export async function benchAudit(): Promise<Record<string, number>> {
  const name = `warden_bench_${randomBytes(4).toString("hex")}`;
  const url = `${SERVER}/${name}`;
  await ensureDatabase(url);
  const orm = await createOrm({ url, poolMax: 20 });
  try {
    await migrate(orm, url);
    const ring = parseMasterKeys(`1:${generateFernetKey()}`);
    const pepper = randomBytes(32);
    const users = await seedPaperUsers(orm, USERS, 9_100_000);

    const run = async (audited: boolean, symbol: string) => {
      const trading = paperTrading(orm, ring, pepper, audited);
      const stop = Date.now() + SECONDS * 1000;
      let actions = 0;
      await Promise.all(
        users.map(async (userId) => {
          const caller = { userId, source: "system" as const, ip: null };
          while (Date.now() < stop) {
            const t = await trading.openTrade(caller, { symbol, side: "long", size: 0.01 });
            await trading.closeTrade(caller, t.id);
            actions += 2;
          }
        }),
      );
      return actions / SECONDS;
    };
    const plain = await run(false, "ETH");
    const audited = await run(true, "BTC");
    const check = new pg.Client({ connectionString: url });
    await check.connect();
    const rows = (await check.query("select count(*)::int as n from trade_audit_log")).rows[0]
      .n as number;
    await check.end();
    console.log(
      [
        "",
        `Trade actions on the paper venue, ${USERS} concurrent users, ${SECONDS} s each (open + close loops)`,
        `without the audit write: ${plain.toFixed(0)} actions/s`,
        `with the audit write:    ${audited.toFixed(0)} actions/s (target ≥ 1,000); ${rows} audit rows`,
        `audit overhead: ${(plain / audited).toFixed(2)}× (target ≤ 1.5×)`,
        "",
      ].join("\n"),
    );
    return {
      "audit.actions_per_s": audited,
      "audit.plain_actions_per_s": plain,
      "audit.overhead": plain / audited,
    };
  } finally {
    await orm.close();
    const admin = new pg.Client({ connectionString: `${SERVER}/postgres` });
    await admin.connect();
    await admin.query(`drop database if exists "${name}" with (force)`);
    await admin.end();
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  benchAudit().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
