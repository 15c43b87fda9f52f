// Encrypted backup and restore against plain pg_dump/pg_restore of the same database in the same
// run: throughput in MB of database per second, the encryption's cost (target ≤ 1.3×), and the
// peak RSS of the encrypting process at two database sizes (target: flat in database size).
// BENCH_BACKUP_MB (default 1024) is the large size; the small one is a quarter of it. The
// databases and files are removed afterwards.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { generateFernetKey } from "../src/domain/vault";

const SERVER = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432";
const LARGE_MB = Number(process.env.BENCH_BACKUP_MB ?? 1024);
// Each measurement is repeated, plain and encrypted alternating (ABBA…), and the fastest run of
// each counts: the machine may be shared, and a single run of either can be slowed by others.
const REPS = Math.max(1, Number(process.env.BENCH_BACKUP_REPS ?? 2));
const ROOT = resolve(import.meta.dirname, "..");

async function admin(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: `${SERVER}/postgres` });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/** A database of about `mb` MB: one table of md5 text (compresses about 2×) with a primary key. */
async function fill(url: string, mb: number): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(
      "create table filler (id bigint primary key, a text not null, b text not null, c text not null, d text not null)",
    );
    let next = 1;
    const batch = 50_000;
    for (;;) {
      const size = Number(
        (await c.query("select pg_database_size(current_database()) as s")).rows[0].s,
      );
      if (size >= mb * 1_048_576) return size;
      await c.query(
        `insert into filler select g, md5(random()::text), md5(random()::text), md5(random()::text), md5(random()::text)
         from generate_series($1::bigint, $2::bigint) g`,
        [next, next + batch - 1],
      );
      next += batch;
    }
  } finally {
    await c.end();
  }
}

function timed(cmd: string, args: string[], io: { stdin?: string; stdout?: string } = {}) {
  return new Promise<number>((res, rej) => {
    const started = performance.now();
    const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "inherit"] });
    const work: Promise<unknown>[] = [];
    if (io.stdin) work.push(pipeline(createReadStream(io.stdin), child.stdin));
    else child.stdin.end();
    if (io.stdout) work.push(pipeline(child.stdout, createWriteStream(io.stdout)));
    else child.stdout.resume();
    child.once("error", rej);
    child.once("close", (code) => {
      Promise.all(work).then(() => {
        if (code === 0) res(performance.now() - started);
        else rej(new Error(`${cmd} exited ${code}`));
      }, rej);
    });
  });
}

function child(args: string[]) {
  return new Promise<{ ms: number; verifyMs?: number; maxRssMB: number; file?: string }>(
    (res, rej) => {
      const p = spawn("node", ["--import", "tsx", "bench/backup-child.ts", ...args], {
        cwd: ROOT,
        stdio: ["ignore", "pipe", "inherit"],
      });
      let out = "";
      p.stdout.on("data", (d: Buffer) => {
        out += d.toString();
      });
      p.once("close", (code) => {
        if (code !== 0) return rej(new Error(`backup-child exited ${code}`));
        const lines = out
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l) as Record<string, unknown>);
        res({
          ...(lines[0] as { file?: string }),
          ...(lines.at(-1) as { ms: number; verifyMs?: number; maxRssMB: number }),
        });
      });
    },
  );
}

interface SizeResult {
  dbMB: number;
  plainDumpS: number;
  plainRestoreS: number;
  encDumpS: number;
  encRestoreS: number;
  /** The verifying pass of that restore. */
  encVerifyS: number;
  dumpRssMB: number;
  restoreRssMB: number;
  fileMB: number;
}

async function runSize(mb: number, key: string): Promise<SizeResult> {
  const tag = randomBytes(4).toString("hex");
  const src = `warden_bench_bk_${tag}`;
  const targets: string[] = [];
  const url = (n: string) => `${SERVER}/${n}`;
  const dir = mkdtempSync(join(tmpdir(), "warden-bench-backup-"));
  const emptyDb = async () => {
    const n = `warden_bench_bkr_${tag}_${targets.length}`;
    targets.push(n);
    await admin(`create database "${n}" template template0`);
    return n;
  };
  try {
    await admin(`create database "${src}" template template0`);
    const bytes = await fill(url(src), mb);
    await admin("checkpoint");
    const plainFile = join(dir, "plain.dump");
    const plain = { dump: Infinity, restore: Infinity };
    const enc = {
      dump: Infinity,
      restore: Infinity,
      verify: 0,
      dumpRss: 0,
      restoreRss: 0,
      file: "",
    };
    const runPlain = async () => {
      plain.dump = Math.min(
        plain.dump,
        await timed("pg_dump", ["--format=custom", `--dbname=${url(src)}`], { stdout: plainFile }),
      );
      const target = await emptyDb();
      plain.restore = Math.min(
        plain.restore,
        await timed(
          "pg_restore",
          ["--single-transaction", "--exit-on-error", `--dbname=${url(target)}`],
          { stdin: plainFile },
        ),
      );
      await admin(`drop database "${target}" with (force)`);
    };
    const runEncrypted = async () => {
      if (enc.file) rmSync(enc.file);
      const made = await child(["create", url(src), key, dir]);
      enc.file = made.file!;
      const target = await emptyDb();
      const restored = await child(["restore", url(target), key, enc.file]);
      await admin(`drop database "${target}" with (force)`);
      enc.dump = Math.min(enc.dump, made.ms);
      if (restored.ms < enc.restore) {
        enc.restore = restored.ms;
        enc.verify = restored.verifyMs ?? 0;
      }
      enc.dumpRss = Math.max(enc.dumpRss, made.maxRssMB);
      enc.restoreRss = Math.max(enc.restoreRss, restored.maxRssMB);
    };
    for (let i = 0; i < REPS; i++) {
      if (i % 2 === 0) {
        await runPlain();
        await runEncrypted();
      } else {
        await runEncrypted();
        await runPlain();
      }
    }
    return {
      dbMB: bytes / 1_048_576,
      plainDumpS: plain.dump / 1000,
      plainRestoreS: plain.restore / 1000,
      encDumpS: enc.dump / 1000,
      encRestoreS: enc.restore / 1000,
      encVerifyS: enc.verify / 1000,
      dumpRssMB: enc.dumpRss,
      restoreRssMB: enc.restoreRss,
      fileMB: statSync(enc.file).size / 1_048_576,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    for (const n of [src, ...targets]) await admin(`drop database if exists "${n}" with (force)`);
  }
}

export async function benchBackup(): Promise<Record<string, number>> {
  const key = generateFernetKey();
  const small = await runSize(Math.max(16, Math.round(LARGE_MB / 4)), key);
  const large = await runSize(LARGE_MB, key);
  const line = (r: SizeResult) =>
    [
      `  database ${r.dbMB.toFixed(0)} MB (encrypted file ${r.fileMB.toFixed(0)} MB):`,
      `    backup:  plain ${(r.dbMB / r.plainDumpS).toFixed(1)} MB/s (${r.plainDumpS.toFixed(1)} s), encrypted ${(r.dbMB / r.encDumpS).toFixed(1)} MB/s (${r.encDumpS.toFixed(1)} s) → ${(r.encDumpS / r.plainDumpS).toFixed(2)}×`,
      `    restore: plain ${(r.dbMB / r.plainRestoreS).toFixed(1)} MB/s (${r.plainRestoreS.toFixed(1)} s), verify + encrypted ${(r.dbMB / r.encRestoreS).toFixed(1)} MB/s (${r.encRestoreS.toFixed(1)} s, of which the verifying pass ${r.encVerifyS.toFixed(1)} s) → ${(r.encRestoreS / r.plainRestoreS).toFixed(2)}×`,
      `    round trip: ${((r.encDumpS + r.encRestoreS) / (r.plainDumpS + r.plainRestoreS)).toFixed(2)}× (target ≤ 1.3×)`,
      `    peak RSS of the encrypting process: backup ${r.dumpRssMB.toFixed(0)} MB, restore ${r.restoreRssMB.toFixed(0)} MB`,
    ].join("\n");
  console.log(
    [
      "",
      `Encrypted backup and restore against plain pg_dump/pg_restore (custom format, same run, fastest of ${REPS})`,
      line(small),
      line(large),
      `  peak RSS growth from ${small.dbMB.toFixed(0)} MB to ${large.dbMB.toFixed(0)} MB: backup ${(large.dumpRssMB - small.dumpRssMB).toFixed(1)} MB, restore ${(large.restoreRssMB - small.restoreRssMB).toFixed(1)} MB (target: flat)`,
      "",
    ].join("\n"),
  );
  return {
    "backup.mb_per_s": large.dbMB / large.encDumpS,
    "backup.plain_mb_per_s": large.dbMB / large.plainDumpS,
    "backup.overhead": large.encDumpS / large.plainDumpS,
    "restore.mb_per_s": large.dbMB / large.encRestoreS,
    "restore.plain_mb_per_s": large.dbMB / large.plainRestoreS,
    "restore.overhead": large.encRestoreS / large.plainRestoreS,
    "backup.round_trip_overhead":
      (large.encDumpS + large.encRestoreS) / (large.plainDumpS + large.plainRestoreS),
    "backup.rss_small_mb": small.dumpRssMB,
    "backup.rss_large_mb": large.dumpRssMB,
    "restore.rss_small_mb": small.restoreRssMB,
    "restore.rss_large_mb": large.restoreRssMB,
  };
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  benchBackup().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
