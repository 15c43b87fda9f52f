// Encrypted backups (S9.3) with the real pg_dump and pg_restore: a backup restores into a fresh
// database with the same rows; every kind of tampering fails verification and restores nothing;
// Python's `cryptography` reads every chunk.
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  createReadStream,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { open, readdir, readlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BackupFormatError, createBackupDecryptor } from "../../../src/domain/backup";
import { parseFernetKey } from "../../../src/domain/vault/fernet";
import {
  type CreatedBackup,
  createBackup,
  listBackups,
  pruneBackups,
  restoreBackup,
  verifyBackup,
} from "../../../src/infra/backup";
import { APP_LOGIN, ensureAppLogin } from "../../support/app-role";
import { createEmptyTestDatabase, rowFingerprint, userTables } from "../../support/backup-fixtures";
import { createTestDatabase, fernetKey, type TestDatabase, testEnv } from "../../support/context";
import { baseEnv, spawnProcess } from "../../support/process";

const KEY = fernetKey();
const CHUNK = 64 * 1024;
let db: TestDatabase;
let dir: string;
let backup: CreatedBackup;
let other: CreatedBackup;
const empties: TestDatabase[] = [];

async function emptyDb(): Promise<TestDatabase> {
  const d = await createEmptyTestDatabase();
  empties.push(d);
  return d;
}

beforeAll(async () => {
  db = await createTestDatabase();
  dir = mkdtempSync(join(tmpdir(), "warden-backup-test-"));
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  try {
    for (let i = 0; i < 5; i++) {
      const u = await c.query<{ id: string }>(
        "insert into users (email, password_hash, telegram_user_id) values ($1, $2, $3) returning id::text as id",
        [`user${i}@example.test`, `$2b$04$${"x".repeat(53)}`, 7_000_000 + i],
      );
      await c.query(
        "insert into security_events (user_id, kind, outcome, ip, details) values ($1, 'login', 'ok', '192.0.2.7', $2)",
        [u.rows[0]!.id, JSON.stringify({ n: i, note: "ünïcode ✓" })],
      );
    }
    // Incompressible bytes, so the dump spans many 64 KiB chunks.
    await c.query("create table backup_probe (id int primary key, payload bytea not null)");
    for (let i = 0; i < 12; i++) {
      await c.query("insert into backup_probe values ($1, $2)", [i, randomBytes(50_000)]);
    }
  } finally {
    await c.end();
  }
  backup = await createBackup({
    source: { url: db.url },
    key: KEY,
    outDir: dir,
    chunkBytes: CHUNK,
  });
  other = await createBackup({ source: { url: db.url }, key: KEY, outDir: dir, chunkBytes: CHUNK });
}, 120_000);

afterAll(async () => {
  for (const d of empties) await d.drop();
  await db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function cli(...args: string[]) {
  const p = spawnProcess(
    "node",
    ["--import", "tsx", "src/cli.ts", ...args],
    baseEnv(testEnv({ DATABASE_URL: db.url, BACKUP_ENCRYPTION_KEY: KEY })),
  );
  return p.exited.then(({ code }) => ({ code, out: p.output() }));
}

const lines = (path: string) => readFileSync(path, "latin1").split("\n");
function tampered(name: string, edit: (l: string[]) => string[] | string): string {
  const out = edit(lines(backup.path));
  const path = join(dir, `tampered-${name}.wbk`);
  writeFileSync(path, Array.isArray(out) ? out.join("\n") : out, "latin1");
  return path;
}

/** Changes one base64 character of a data token (so it still decodes, but differently). */
function flipOne(l: string[]): string[] {
  const copy = [...l];
  const line = copy[3]!;
  const at = Math.floor(line.length / 2);
  copy[3] = line.slice(0, at) + (line[at] === "A" ? "B" : "A") + line.slice(at + 1);
  return copy;
}

describe("encrypted backups (S9.3)", () => {
  it("when a backup is written, then it is a 0600 file under its final name, with many chunks and no temporary file left", () => {
    expect(backup.chunks).toBeGreaterThanOrEqual(8);
    expect(statSync(backup.path).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir).filter((n) => n.endsWith(".partial"))).toEqual([]);
    expect(lines(backup.path)[0]).toBe("WARDEN-BACKUP 1");
    // Nothing of the data is readable in the file.
    expect(readFileSync(backup.path, "latin1")).not.toContain("user0@example.test");
  });

  it("when the CLI backs up and restores into a fresh database, then every table has the same rows", async () => {
    const out = mkdtempSync(join(tmpdir(), "warden-backup-cli-"));
    try {
      const made = await cli("backup", "create", "--out", out);
      expect(made.out).toMatch(/^wrote .*warden-backup-\d{8}T\d{9}Z-[0-9a-f]{8}\.wbk/m);
      expect(made.code).toBe(0);
      const [file] = readdirSync(out);
      const path = join(out, file!);
      expect(statSync(path).mode & 0o777).toBe(0o600);

      const verified = await cli("backup", "verify", path);
      expect(verified.out).toMatch(/^verified backup [0-9a-f]{32} of /m);
      expect(verified.code).toBe(0);

      const target = await emptyDb();
      const restored = await cli("backup", "restore", path, "--database", target.url);
      expect(restored.out).toMatch(/^restored backup /m);
      expect(restored.code).toBe(0);
      const source = await rowFingerprint(db.url);
      expect(Object.keys(source)).toContain("backup_probe");
      expect(await rowFingerprint(target.url)).toEqual(source);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 120_000);

  it("when a multi-chunk backup is restored in-process, then the rows are the same as the source's", async () => {
    const target = await emptyDb();
    const summary = await restoreBackup({
      path: backup.path,
      key: KEY,
      target: { url: target.url },
    });
    expect(summary.chunks).toBe(backup.chunks);
    expect(await rowFingerprint(target.url)).toEqual(await rowFingerprint(db.url));
  }, 60_000);

  const cases: Array<[string, () => string, string]> = [
    ["a flipped byte", () => tampered("flip", flipOne), "bad_token"],
    ["a dropped chunk", () => tampered("drop", (l) => l.filter((_, i) => i !== 4)), "out_of_order"],
    [
      "two swapped chunks",
      () => tampered("swap", (l) => l.map((x, i) => (i === 4 ? l[5]! : i === 5 ? l[4]! : x))),
      "out_of_order",
    ],
    [
      "a file truncated in the middle of a chunk",
      () => tampered("cut", (l) => l.join("\n").slice(0, Math.floor(l.join("\n").length * 0.6))),
      "truncated",
    ],
    [
      "a file truncated after a whole chunk (end marker gone)",
      () => tampered("cut-line", (l) => [...l.slice(0, -2), ""]),
      "truncated",
    ],
    [
      "a chunk taken from another backup under the same key",
      () => tampered("splice", (l) => l.map((x, i) => (i === 3 ? lines(other.path)[3]! : x))),
      "wrong_backup",
    ],
    [
      "a chunk repeated",
      () => tampered("repeat", (l) => [...l.slice(0, 4), l[3]!, ...l.slice(4)]),
      "out_of_order",
    ],
    [
      "data appended after the end marker",
      () => tampered("append", (l) => [...l.slice(0, -1), l[3]!, ""]),
      "trailing_data",
    ],
  ];

  it.each(cases)(
    "when the file has %s, then verification fails and a restore restores nothing",
    async (_label, make, code) => {
      const path = make();
      const failure = await verifyBackup(path, KEY).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(BackupFormatError);
      expect((failure as BackupFormatError).code).toBe(code);

      const target = await emptyDb();
      const refused = await restoreBackup({ path, key: KEY, target: { url: target.url } }).catch(
        (e: unknown) => e,
      );
      expect(refused).toBeInstanceOf(BackupFormatError);
      expect(await userTables(target.url)).toEqual([]);
    },
    60_000,
  );

  it("when the CLI is given a tampered backup, then verify and restore exit 1 naming the problem and the database stays empty", async () => {
    const path = tampered("cli-flip", flipOne);
    const verified = await cli("backup", "verify", path);
    expect(verified.out).toMatch(/backup does not verify \(bad_token\): chunk 2 does not verify/);
    expect(verified.code).toBe(1);
    const target = await emptyDb();
    const restored = await cli("backup", "restore", path, "--database", target.url);
    expect(restored.out).toMatch(/backup does not verify \(bad_token\).*nothing was restored/);
    expect(restored.code).toBe(1);
    expect(await userTables(target.url)).toEqual([]);
  }, 120_000);

  // A FIFO hands the restore's two passes different bytes: the whole backup to the verifying
  // pass, then everything but the end marker to the restoring pass, whose input then stays open
  // for a while: pg_restore commits as soon as it has read the whole dump, without waiting for
  // the end of its input, so it must never be given the last chunk before the end marker verified.
  it("when the file changes between the verify pass and the restore pass, then pg_restore is stopped and nothing is restored", async () => {
    const fifo = join(dir, "swap.fifo");
    expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
    const whole = readFileSync(backup.path);
    const withoutEnd = Buffer.from(`${lines(backup.path).slice(0, -2).join("\n")}\n`, "latin1");
    const readersOfFifo = async () => {
      let n = 0;
      for (const fd of await readdir("/proc/self/fd")) {
        if ((await readlink(`/proc/self/fd/${fd}`).catch(() => "")) === fifo) n++;
      }
      return n;
    };
    const target = await emptyDb();
    const restoring = restoreBackup({ path: fifo, key: KEY, target: { url: target.url } }).catch(
      (e: unknown) => e,
    );
    await writeFile(fifo, whole);
    // The second writer may open only after the verifying pass let go of the pipe.
    while ((await readersOfFifo()) > 0) await new Promise((r) => setTimeout(r, 20));
    const second = await open(fifo, "w");
    await second.write(withoutEnd);
    await new Promise((r) => setTimeout(r, 1_500));
    await second.close();
    const refused = await restoring;
    expect(refused).toBeInstanceOf(BackupFormatError);
    expect((refused as BackupFormatError).code).toBe("truncated");
    expect(await userTables(target.url)).toEqual([]);
  }, 60_000);

  it("when pg_dump logs in as a member of warden_backup, then the backup is complete; as the application's role, it is refused and leaves no file", async () => {
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    try {
      await ensureAppLogin(admin);
      await admin.query(`do $$ begin
          if not exists (select 1 from pg_roles where rolname = 'warden_test_backup') then
            create role warden_test_backup login;
          end if;
        exception when duplicate_object or unique_violation then null;
        end $$`);
      await admin.query("grant warden_backup to warden_test_backup");
    } finally {
      await admin.end();
    }
    const out = mkdtempSync(join(tmpdir(), "warden-backup-role-"));
    try {
      const asBackup = await createBackup({
        source: { url: db.url.replace("postgres@", "warden_test_backup@") },
        key: KEY,
        outDir: out,
      });
      const target = await emptyDb();
      await restoreBackup({ path: asBackup.path, key: KEY, target: { url: target.url } });
      expect(await rowFingerprint(target.url)).toEqual(await rowFingerprint(db.url));

      const asApp = await createBackup({
        source: { url: db.url.replace("postgres@", `${APP_LOGIN}@`) },
        key: KEY,
        outDir: out,
      }).catch((e: unknown) => e);
      expect((asApp as Error).message).toMatch(/pg_dump failed.*permission denied/s);
      expect(readdirSync(out)).toEqual([asBackup.path.split("/").pop()]);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 60_000);

  it("when the restore target already holds tables, then nothing is restored and its rows are untouched", async () => {
    const before = await rowFingerprint(db.url);
    const refused = await restoreBackup({
      path: backup.path,
      key: KEY,
      target: { url: db.url },
    }).catch((e: unknown) => e);
    expect((refused as Error).message).toMatch(
      /^the target database is not empty \(\d+ relations\)/,
    );
    expect(await rowFingerprint(db.url)).toEqual(before);
  });

  it("when the backup is read with another key, then it does not verify", async () => {
    const failure = await verifyBackup(backup.path, fernetKey()).catch((e: unknown) => e);
    expect((failure as BackupFormatError).code).toBe("bad_token");
  });

  it("when Python's cryptography decrypts every chunk, then it reassembles exactly the dump Warden restores", async () => {
    const py = `
import hashlib, json, sys
from cryptography.fernet import Fernet
key, path = sys.argv[1], sys.argv[2]
f = Fernet(key)
with open(path, "rb") as fh:
    lines = fh.read().split(b"\\n")
assert lines[0] == b"WARDEN-BACKUP 1" and lines[-1] == b""
dump, kinds, seqs, ids = hashlib.sha256(), [], [], set()
for line in lines[1:-1]:
    p = f.decrypt(line)
    ids.add(p[:16]); seqs.append(int.from_bytes(p[16:24], "big")); kinds.append(chr(p[24]))
    if p[24:25] == b"D":
        if len(kinds) == 2: first = p[25:30].decode("latin1")
        dump.update(p[25:])
    if p[24:25] == b"H": header = json.loads(p[25:])
json.dump({"tokens": len(lines) - 2, "kinds": "".join(kinds), "seqs": seqs, "ids": len(ids),
           "sha256": dump.hexdigest(), "magic": first, "header": header}, sys.stdout)
`;
    const run = spawnSync("python3", ["-c", py, KEY, backup.path], { encoding: "utf8" });
    expect(run.stderr).toBe("");
    const r = JSON.parse(run.stdout) as {
      tokens: number;
      kinds: string;
      seqs: number[];
      ids: number;
      sha256: string;
      magic: string;
      header: { backupId: string; content: string };
    };
    expect(r.tokens).toBe(backup.chunks + 2);
    expect(r.kinds).toBe(`H${"D".repeat(backup.chunks)}E`);
    expect(r.seqs).toEqual([...Array(backup.chunks + 2).keys()]);
    expect(r.ids).toBe(1);
    expect(r.magic).toBe("PGDMP");
    expect(r.header).toMatchObject({
      backupId: backup.header.backupId,
      content: "pg_dump custom format",
    });

    const ours = createHash("sha256");
    const decryptor = createBackupDecryptor({ key: parseFernetKey(KEY) });
    await pipeline(
      createReadStream(backup.path),
      decryptor,
      new Writable({
        write(chunk: Buffer, _e, cb) {
          ours.update(chunk);
          cb();
        },
      }),
    );
    expect(r.sha256).toBe(ours.digest("hex"));
  }, 60_000);

  it("when more backups exist than BACKUP_KEEP, then pruning deletes the oldest and no other file", async () => {
    const d = mkdtempSync(join(tmpdir(), "warden-backup-prune-"));
    try {
      const names = [
        "warden-backup-20261120T024000000Z-aaaaaaaa.wbk",
        "warden-backup-20261121T024000000Z-bbbbbbbb.wbk",
        "warden-backup-20261122T024000000Z-cccccccc.wbk",
        "notes.txt",
        ".warden-backup-0123456789abcdef.partial",
      ];
      for (const n of names) writeFileSync(join(d, n), "x");
      expect(await pruneBackups(d, 2)).toEqual([names[0]]);
      expect(await listBackups(d)).toEqual([names[1], names[2]]);
      expect(readdirSync(d).sort()).toEqual([...names.slice(1)].sort());
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});
