// Audited trade actions per second on the paper venue with 8 concurrent users, and the cost of
// the audit write: the same open/close loop with the audit append replaced by nothing, same run.
import { randomBytes } from "node:crypto";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { generateFernetKey, parseMasterKeys } from "../src/domain/vault";
import { createOrm, ensureDatabase, migrate } from "../src/infra/database";
import { paperTrading, seedPaperUsers } from "../test/support/trading-fixtures";
import { alternate, type Figure, figure, MIN_ROUNDS, printFigure } from "./rounds";
import { dropBenchDatabase } from "./support";

const SERVER = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432";
const USERS = 8;
const SECONDS = Number(process.env.BENCH_AUDIT_SECONDS ?? 9);
const ROUNDS = Math.max(MIN_ROUNDS, Number(process.env.BENCH_ROUNDS ?? MIN_ROUNDS));

export async function benchAudit(): Promise<Figure[]> {
  const name = `warden_bench_${randomBytes(4).toString("hex")}`;
  const url = `${SERVER}/${name}`;
  await ensureDatabase(url);
  const orm = await createOrm({ url, poolMax: 20 });
  try {
    await migrate(orm, url);
    const ring = parseMasterKeys(`1:${generateFernetKey()}`);
    const pepper = randomBytes(32);
    const users = await seedPaperUsers(orm, USERS, 9_100_000);

    const run = async (audited: boolean, symbol: string, seconds: number) => {
      const trading = paperTrading(orm, ring, pepper, audited);
      const stop = Date.now() + seconds * 1000;
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
      return actions / seconds;
    };
    // Warm both paths up (JIT, pool, caches), then alternate rounds so that drift on a shared
    // machine hits both sides alike; each side's figure is its median round.
    await run(false, "SOL", 1);
    await run(true, "SOL", 1);
    const { ours, anchor } = await alternate(
      ROUNDS,
      () => run(true, "BTC", SECONDS / ROUNDS),
      () => run(false, "ETH", SECONDS / ROUNDS),
    );
    const check = new pg.Client({ connectionString: url });
    await check.connect();
    const rows = (await check.query("select count(*)::int as n from trade_audit_log")).rows[0]
      .n as number;
    await check.end();
    const what = `Audited trade actions on the paper venue, ${USERS} concurrent users, open + close loops (${rows.toLocaleString("en-US")} audit rows written)`;
    const anchorLabel = "the same loop without the audit write";
    const figures = [
      figure({
        id: "audit.rate",
        what,
        unit: "actions/s",
        ours,
        anchorLabel,
        anchor,
        target: { on: "ours", op: ">=", value: 2_000, text: "≥ 2,000 actions/s" },
      }),
      figure({
        id: "audit.cost",
        what: "Audit write's cost: audited rate ÷ unaudited rate (≥ 0.77 is ≤ 1.3× the cost)",
        unit: "actions/s",
        ours,
        anchorLabel,
        anchor,
        target: { op: ">=", value: 1 / 1.3, text: "cost ≤ 1.3× unaudited" },
      }),
    ];
    console.log("");
    for (const f of figures) printFigure(f);
    return figures;
  } finally {
    await orm.close();
    await dropBenchDatabase(SERVER, name);
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  benchAudit().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
