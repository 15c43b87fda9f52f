// Profiling aid for the audit benchmark (`npx tsx bench/audit-profile.ts`, not a figure): per
// open+close pair, the statements sent and their latency, WAL syncs, and CPU of node vs. the
// PostgreSQL backends, unaudited and audited alternately.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import pg from "pg";
import { generateFernetKey, parseMasterKeys } from "../src/domain/vault";
import { createOrm, ensureDatabase, migrate } from "../src/infra/database";
import { paperTrading, seedPaperUsers } from "../test/support/trading-fixtures";
import { dropBenchDatabase } from "./support";

const SERVER = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432";
const PAIRS = Number(process.env.PROFILE_PAIRS ?? 50);
const USERS = 8;

const stmts = new Map<string, { n: number; ms: number }>();
let tracing = false;
// A shim over node-postgres' query() overloads: times every statement by its first words.
type Query = (this: unknown, ...args: unknown[]) => unknown;
const proto = pg.Client.prototype as unknown as { query: Query };
const origQuery = proto.query;
proto.query = function (this: unknown, ...args: unknown[]) {
  const r = origQuery.apply(this, args);
  if (!tracing || !(r instanceof Promise)) return r;
  const q = args[0] as string | { text: string };
  const key = (typeof q === "string" ? q : q.text).replace(/\s+/g, " ").slice(0, 70);
  const t0 = performance.now();
  return r.then((v: unknown) => {
    const s = stmts.get(key) ?? { n: 0, ms: 0 };
    s.n++;
    s.ms += performance.now() - t0;
    stmts.set(key, s);
    return v;
  });
};

const ticks = (pid: number) => {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
};

async function main() {
  const name = `warden_bench_${randomBytes(4).toString("hex")}`;
  const url = `${SERVER}/${name}`;
  await ensureDatabase(url);
  const orm = await createOrm({ url, poolMax: 20 });
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    await migrate(orm, url);
    const ring = parseMasterKeys(`1:${generateFernetKey()}`);
    const pepper = randomBytes(32);
    const users = await seedPaperUsers(orm, USERS, 9_100_000);
    const snap = async () => {
      const db = (
        await admin.query(
          "select xact_commit::int as c, xact_rollback::int as r, tup_inserted::int as ins, tup_updated::int as upd, tup_deleted::int as del, tup_fetched::bigint as fet from pg_stat_database where datname = current_database()",
        )
      ).rows[0];
      const wal = (
        await admin.query(
          "select wal_records::bigint as rec, wal_sync::bigint as sync, wal_write::bigint as w from pg_stat_wal",
        )
      ).rows[0];
      const pids = (
        await admin.query(
          "select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()",
        )
      ).rows.map((r) => r.pid as number);
      return { db, wal, pids };
    };
    for (const audited of [false, true, false, true]) {
      const trading = paperTrading(orm, ring, pepper, audited);
      const one = async (u: string, s: string) => {
        const caller = { userId: u, source: "system" as const, ip: null };
        const t = await trading.openTrade(caller, { symbol: s, side: "long", size: 0.01 });
        await trading.closeTrade(caller, t.id);
      };
      await Promise.all(users.map((u) => one(u, "SOL")));
      // Sequential, one user: statements per pair.
      stmts.clear();
      tracing = true;
      for (let i = 0; i < PAIRS; i++) await one(users[0]!, "BTC");
      tracing = false;
      console.log(`\n== ${audited ? "audited" : "unaudited"}: ${PAIRS} sequential pairs, one user`);
      let total = 0;
      for (const [k, v] of [...stmts.entries()].sort((x, y) => y[1].ms - x[1].ms)) {
        total += v.n;
        console.log(`  ${(v.n / PAIRS).toFixed(2)}x ${(v.ms / v.n).toFixed(2)}ms  ${k}`);
      }
      console.log(`  statements/pair ${(total / PAIRS).toFixed(2)} (each its own transaction)`);
      // Concurrent, 8 users for a few seconds: rate and CPU split.
      const c0 = await snap();
      const pgT0 = c0.pids.map(ticks);
      const cpu0 = process.cpuUsage();
      const secs = Number(process.env.PROFILE_SECONDS ?? 4);
      const stop = Date.now() + secs * 1000;
      let pairs = 0;
      await Promise.all(
        users.map(async (u) => {
          while (Date.now() < stop) {
            await one(u, "ETH");
            pairs++;
          }
        }),
      );
      const cpu = process.cpuUsage(cpu0);
      const pgT1 = c0.pids.map(ticks);
      await new Promise((r) => setTimeout(r, 600));
      const c1 = await snap();
      const pgMs = pgT1.reduce((s, t, i) => s + (t - pgT0[i]!), 0) * 10;
      const nodeMs = (cpu.user + cpu.system) / 1000;
      console.log(
        `  8 users ${secs}s: ${((pairs * 2) / secs).toFixed(0)} actions/s; per pair: node CPU ${(nodeMs / pairs).toFixed(2)}ms, pg backends CPU ${(pgMs / pairs).toFixed(2)}ms (${c0.pids.length} backends), pg_stat_database commits ${((c1.db.c - c0.db.c) / pairs).toFixed(2)} (lags), WAL syncs ${(Number(c1.wal.sync - c0.wal.sync) / pairs).toFixed(2)}, rollbacks ${c1.db.r - c0.db.r}`,
      );
    }
  } finally {
    await admin.end();
    await orm.close();
    await dropBenchDatabase(SERVER, name);
  }
}
main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
