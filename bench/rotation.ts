// Rotation throughput: rows/s re-encrypted to the next master key version on a scratch database
// of the local PostgreSQL (1,000,000 credential rows by default, BENCH_ROTATION_ROWS), through
// the same rotateAll and PostgreSQL store that `master-key rotate --wait` and the scheduled job
// use. Its anchor, in alternating rounds on the same rows: a plain rewrite of the same rows by
// the same pipelined batched read-and-write path (rewriteBelow) with no cryptography (the I/O
// floor).
import { randomBytes } from "node:crypto";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import {
  ENCRYPTED_TABLES,
  generateFernetKey,
  parseMasterKeys,
  rewriteBelow,
  rotateAll,
} from "../src/domain/vault";
import { createOrm, ensureDatabase, migrate, preparedSqlOf } from "../src/infra/database";
import { createVaultStore } from "../src/infra/vault-store";
import { newMarker, seedCredentials } from "../test/support/vault-fixtures";
import { alternate, type Figure, figure, MIN_ROUNDS, printFigure } from "./rounds";
import { dropBenchDatabase } from "./support";

const SERVER = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432";
const ROWS = Number(process.env.BENCH_ROTATION_ROWS ?? 1_000_000);
const BATCH = 1_000;

export async function benchRotation(rows = ROWS, rounds = MIN_ROUNDS): Promise<Figure[]> {
  const url = `${SERVER}/warden_bench_${randomBytes(4).toString("hex")}`;
  await ensureDatabase(url);
  const orm = await createOrm({ url });
  const client = new pg.Client({ connectionString: url });
  try {
    await migrate(orm, url);
    await client.connect();
    const keys = [generateFernetKey()];
    const ringOf = (n: number) =>
      parseMasterKeys(
        keys
          .slice(0, n)
          .map((k, i) => `${i + 1}:${k}`)
          .join(","),
      );
    let t = performance.now();
    await seedCredentials(client, ringOf(1), newMarker(), 0, rows);
    const seedSeconds = (performance.now() - t) / 1000;
    await client.query("vacuum analyze exchange_credentials");
    const store = createVaultStore(preparedSqlOf(orm));
    const table = ENCRYPTED_TABLES.find((x) => x.table === "exchange_credentials")!;

    const rotate = async () => {
      keys.push(generateFernetKey());
      const ring = ringOf(keys.length);
      t = performance.now();
      const report = await rotateAll({ store, keyRing: ring, tables: [table], batchSize: BATCH });
      const seconds = (performance.now() - t) / 1000;
      const rotated = report.tables.reduce((n, x) => n + x.rotated, 0);
      if (rotated !== rows || report.remaining !== 0) {
        throw new Error(`rotation incomplete: ${rotated} of ${rows}, ${report.remaining} left`);
      }
      return rotated / seconds;
    };
    // The same pipelined keyset reads and guarded batch writes as rotateAll (rewriteBelow),
    // values written back unchanged: no cryptography.
    const rewrite = async () => {
      const version = keys.length;
      t = performance.now();
      let written = 0;
      await rewriteBelow({
        store,
        table,
        belowVersion: version + 1,
        toVersion: version,
        batchSize: BATCH,
        transform: (rows) => rows,
        onWritten: (_sent, n) => {
          written += n;
        },
      });
      if (written !== rows) throw new Error(`rewrite incomplete: ${written} of ${rows}`);
      return written / ((performance.now() - t) / 1000);
    };
    const { ours, anchor } = await alternate(rounds, rotate, rewrite);
    const f = figure({
      id: "rotation",
      what: `Rotation of ${rows.toLocaleString("en-US")} rows (api_key + secret), batches of ${BATCH.toLocaleString("en-US")} (seeded in ${seedSeconds.toFixed(1)} s)`,
      unit: "rows/s",
      ours,
      anchorLabel: "plain rewrite of the same rows, same path, no cryptography",
      anchor,
      target: { on: "ours", op: ">=", value: 50_000, text: "≥ 50,000 rows/s" },
    });
    console.log("");
    printFigure(f);
    return [f];
  } finally {
    await client.end().catch(() => {});
    await orm.close();
    await dropBenchDatabase(SERVER, new URL(url).pathname.slice(1));
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  benchRotation().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
