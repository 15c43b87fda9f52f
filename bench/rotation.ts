// Rotation throughput: rows/s re-encrypted from version 1 to 2 for 100,000 credential rows on
// a scratch database of the local PostgreSQL (created and dropped by this benchmark).
import { randomBytes } from "node:crypto";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import {
  ENCRYPTED_TABLES,
  generateFernetKey,
  parseMasterKeys,
  rotateAll,
} from "../src/domain/vault";
import { createOrm, ensureDatabase, migrate, sqlOf } from "../src/infra/database";
import { createVaultStore } from "../src/infra/vault-store";
import { newMarker, seedCredentials } from "../test/support/vault-fixtures";
import { dropBenchDatabase } from "./support";

const SERVER = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432";

export async function benchRotation(rows = 100_000): Promise<Record<string, number>> {
  const url = `${SERVER}/warden_bench_${randomBytes(4).toString("hex")}`;
  await ensureDatabase(url);
  const orm = await createOrm({ url });
  const client = new pg.Client({ connectionString: url });
  try {
    await migrate(orm, url);
    await client.connect();
    const k1 = generateFernetKey();
    const ringV1 = parseMasterKeys(`1:${k1}`);
    const ringV12 = parseMasterKeys(`1:${k1},2:${generateFernetKey()}`);
    let t = performance.now();
    await seedCredentials(client, ringV1, newMarker(), 0, rows);
    const seedSeconds = (performance.now() - t) / 1000;
    await client.query("vacuum analyze exchange_credentials");

    t = performance.now();
    const report = await rotateAll({
      store: createVaultStore(sqlOf(orm)),
      keyRing: ringV12,
      tables: ENCRYPTED_TABLES,
    });
    const seconds = (performance.now() - t) / 1000;
    const rotated = report.tables.reduce((n, x) => n + x.rotated, 0);
    if (rotated !== rows || report.remaining !== 0) {
      throw new Error(`rotation incomplete: ${rotated} of ${rows}, ${report.remaining} remaining`);
    }
    const rate = rotated / seconds;
    console.log(
      [
        "",
        `Rotation, ${rows.toLocaleString("en-US")} rows (api_key + secret), version 1 → 2, batches of 1,000`,
        `seeding: ${seedSeconds.toFixed(2)} s; rotation: ${seconds.toFixed(2)} s = ${Math.round(rate).toLocaleString("en-US")} rows/s (target ≥ 20,000)`,
        "",
      ].join("\n"),
    );
    return { "rotation.rows_per_s": rate, "rotation.seconds": seconds };
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
