// Audited trade actions per second on the paper venue with 8 concurrent users, and the cost of
// the audit write: the same open/close loop with the audit append replaced by nothing, same run.
import { randomBytes } from "node:crypto";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { generateFernetKey, parseMasterKeys } from "../src/domain/vault";
import { createOrm, ensureDatabase, migrate } from "../src/infra/database";
import { paperTrading, seedPaperUsers } from "../test/support/trading-fixtures";
import { dropBenchDatabase } from "./support";

const SERVER = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432";
const USERS = 8;
const SECONDS = Number(process.env.BENCH_AUDIT_SECONDS ?? 9);
const ROUNDS = 3;

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
    // machine hits both sides alike; report each side's median round.
    await run(false, "SOL", 1);
    await run(true, "SOL", 1);
    const plainRounds: number[] = [];
    const auditedRounds: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      plainRounds.push(await run(false, "ETH", SECONDS / ROUNDS));
      auditedRounds.push(await run(true, "BTC", SECONDS / ROUNDS));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const plain = median(plainRounds);
    const audited = median(auditedRounds);
    const check = new pg.Client({ connectionString: url });
    await check.connect();
    const rows = (await check.query("select count(*)::int as n from trade_audit_log")).rows[0]
      .n as number;
    await check.end();
    console.log(
      [
        "",
        `Trade actions on the paper venue, ${USERS} concurrent users, open + close loops; median of ${ROUNDS} alternating rounds, ${SECONDS} s in all per side`,
        `rounds without / with the audit write: ${plainRounds.map((x) => x.toFixed(0)).join(", ")} / ${auditedRounds.map((x) => x.toFixed(0)).join(", ")} actions/s`,
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
    await dropBenchDatabase(SERVER, name);
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  benchAudit().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
