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
import {
  alternate,
  type Figure,
  figure,
  MIN_ROUNDS,
  printFigure,
  type Stats,
  stats,
} from "./rounds";

const SERVER = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432";
const LARGE_MB = Number(process.env.BENCH_BACKUP_MB ?? 1024);
// Each measurement is repeated, plain and encrypted alternating (ABBA…), and each side's median
// counts, with its spread printed: the machine may be shared.
const REPS = Math.max(MIN_ROUNDS, Number(process.env.BENCH_BACKUP_REPS ?? MIN_ROUNDS));
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
  plainDump: Stats;
  plainRestore: Stats;
  encDump: Stats;
  encRestore: Stats;
  /** The verifying pass of the encrypted restores. */
  encVerify: Stats;
  dumpRssMB: Stats;
  restoreRssMB: Stats;
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
    let file = "";
    const dumpRss: number[] = [];
    const restoreRss: number[] = [];
    const verify: number[] = [];
    const restores = { plain: [] as number[], enc: [] as number[] };
    const runPlain = async () => {
      const dump = await timed("pg_dump", ["--format=custom", `--dbname=${url(src)}`], {
        stdout: plainFile,
      });
      const target = await emptyDb();
      restores.plain.push(
        (await timed(
          "pg_restore",
          ["--single-transaction", "--exit-on-error", `--dbname=${url(target)}`],
          { stdin: plainFile },
        )) / 1000,
      );
      await admin(`drop database "${target}" with (force)`);
      return dump / 1000;
    };
    const runEncrypted = async () => {
      if (file) rmSync(file);
      const made = await child(["create", url(src), key, dir]);
      file = made.file!;
      const target = await emptyDb();
      const restored = await child(["restore", url(target), key, file]);
      await admin(`drop database "${target}" with (force)`);
      restores.enc.push(restored.ms / 1000);
      verify.push((restored.verifyMs ?? 0) / 1000);
      dumpRss.push(made.maxRssMB);
      restoreRss.push(restored.maxRssMB);
      return made.ms / 1000;
    };
    const dumps = await alternate(REPS, runEncrypted, runPlain);
    return {
      dbMB: bytes / 1_048_576,
      plainDump: dumps.anchor,
      encDump: dumps.ours,
      plainRestore: stats(restores.plain),
      encRestore: stats(restores.enc),
      encVerify: stats(verify),
      dumpRssMB: stats(dumpRss),
      restoreRssMB: stats(restoreRss),
      fileMB: statSync(file).size / 1_048_576,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    for (const n of [src, ...targets]) await admin(`drop database if exists "${n}" with (force)`);
  }
}

export async function benchBackup(): Promise<Figure[]> {
  const key = generateFernetKey();
  const small = await runSize(Math.max(16, Math.round(LARGE_MB / 4)), key);
  const large = await runSize(LARGE_MB, key);
  const size = (r: SizeResult) =>
    `${r.dbMB.toFixed(0)} MB database, ${r.fileMB.toFixed(0)} MB encrypted file`;
  const figures = [
    figure({
      id: "backup.dump",
      what: `Encrypted backup vs plain pg_dump, custom format (${size(large)})`,
      unit: "s",
      ours: large.encDump,
      anchorLabel: "plain pg_dump of the same database",
      anchor: large.plainDump,
      target: { op: "<=", value: 1.2, text: "≤ 1.2×" },
    }),
    figure({
      id: "backup.restore",
      what: `Verified encrypted restore vs plain pg_restore (${size(large)}; verifying pass ${large.encVerify.median.toFixed(1)} s)`,
      unit: "s",
      ours: large.encRestore,
      anchorLabel: "plain pg_restore of the same dump",
      anchor: large.plainRestore,
      target: { op: "<=", value: 1.3, text: "≤ 1.3×" },
    }),
    figure({
      id: "backup.dump_rss",
      what: `Peak RSS of the encrypting backup process at ${large.dbMB.toFixed(0)} MB against ${small.dbMB.toFixed(0)} MB`,
      unit: "MB",
      ours: large.dumpRssMB,
      anchorLabel: `the same at ${small.dbMB.toFixed(0)} MB`,
      anchor: small.dumpRssMB,
      target: { op: "<=", value: 1.1, text: "flat (≤ 1.1×)" },
    }),
    figure({
      id: "backup.restore_rss",
      what: `Peak RSS of the decrypting restore process at ${large.dbMB.toFixed(0)} MB against ${small.dbMB.toFixed(0)} MB`,
      unit: "MB",
      ours: large.restoreRssMB,
      anchorLabel: `the same at ${small.dbMB.toFixed(0)} MB`,
      anchor: small.restoreRssMB,
      target: { op: "<=", value: 1.1, text: "flat (≤ 1.1×)" },
    }),
  ];
  console.log(`\nEncrypted backup and restore, ${REPS} alternating rounds per side`);
  for (const f of figures) printFigure(f);
  return figures;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  benchBackup().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
