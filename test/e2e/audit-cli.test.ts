// `audit verify` and `audit export` as operators run them (`node --import tsx src/cli.ts …`),
// against a log that the owner tampers with by switching the append-only trigger off.
import type { MikroORM } from "@mikro-orm/postgresql";
import pg from "pg";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  type AuditRow,
  auditSubject,
  chainCursor,
  rowHash,
  verifyChain,
} from "../../src/domain/audit";
import { createAuditLog, inTransaction, readRange } from "../../src/infra/audit-log";
import { createOrm, sqlOf } from "../../src/infra/database";
import { createTestDatabase, type TestDatabase, testEnv } from "../support/context";
import { baseEnv, spawnProcess } from "../support/process";

const PEPPER = "e2e-audit-pepper-with-enough-bytes-1234567890";
const auditLog = createAuditLog();
let db: TestDatabase;
let owner: pg.Client;
let orm: MikroORM;

beforeAll(async () => {
  db = await createTestDatabase();
  owner = new pg.Client({ connectionString: db.url });
  await owner.connect();
  orm = await createOrm({ url: db.url, poolMax: 2 });
});
afterAll(async () => {
  await orm?.close();
  await owner?.end();
  await db?.drop();
});

/** A fresh log: rows 1–9 for users 1, 2 and 3 in turn (row n belongs to user ((n-1) % 3) + 1). */
beforeEach(async () => {
  await owner.query("set session_replication_role = replica");
  await owner.query("truncate trade_audit_log restart identity");
  await owner.query("set session_replication_role = origin");
  for (let i = 0; i < 9; i++) {
    const user = String((i % 3) + 1);
    await inTransaction(orm, (tx) =>
      auditLog.append(tx, {
        subject: auditSubject(Buffer.from(PEPPER), user),
        action: (["open", "modify", "close"] as const)[i % 3]!,
        tradeId: 100 + i,
        venue: "paper",
        symbol: "BTC/USDT:USDT",
        details: { n: i + 1, note: "e2e" },
        source: i % 2 ? "telegram" : "api",
        ip: i % 2 ? null : "192.0.2.10",
        outcome: "ok",
      }),
    );
  }
});

async function cli(...args: string[]) {
  const p = spawnProcess(
    "node",
    ["--import", "tsx", "src/cli.ts", ...args],
    baseEnv(testEnv({ DATABASE_URL: db.url, AUDIT_PEPPER: PEPPER })),
  );
  const { code } = await p.exited;
  return { code, out: p.output() };
}

/** Runs statements as the superuser with every trigger off for this session. */
async function tamper(...statements: string[]): Promise<void> {
  await owner.query("set session_replication_role = replica");
  try {
    for (const s of statements) await owner.query(s);
  } finally {
    await owner.query("set session_replication_role = origin");
  }
}

describe("audit verify and export (S8.1)", () => {
  it("when the log is intact, then audit verify reports every row verified and the head, and exits 0", async () => {
    const { code, out } = await cli("audit", "verify");
    expect(out).toMatch(/^9 rows verified; 3 user chains; head row 9 [0-9a-f]{64}$/m);
    expect(code).toBe(0);
    const from = await cli("audit", "verify", "--from", "4");
    expect(from.out).toMatch(/^6 rows verified from row 4;/m);
    expect(from.code).toBe(0);
  });

  it("when the owner edits a row with the trigger bypassed, then audit verify reports that row and exits 1", async () => {
    await tamper("update trade_audit_log set symbol = 'ETH/USDT:USDT' where id = 4");
    const { code, out } = await cli("audit", "verify");
    expect(out).toContain("broken at row 4: row_hash_mismatch");
    expect(code).toBe(1);
    // Verifying only what follows the edit still passes: the next row chains onto the stored hash.
    expect((await cli("audit", "verify", "--from", "5")).code).toBe(0);
  });

  it("when the owner edits a row's time by one microsecond with the trigger disabled, then audit verify reports that row", async () => {
    await owner.query(
      "alter table trade_audit_log disable trigger trade_audit_log_no_update_delete",
    );
    try {
      await owner.query(
        "update trade_audit_log set occurred_at = occurred_at + interval '1 microsecond' where id = 6",
      );
    } finally {
      await owner.query(
        "alter table trade_audit_log enable trigger trade_audit_log_no_update_delete",
      );
    }
    const { code, out } = await cli("audit", "verify");
    expect(out).toContain("broken at row 6: row_hash_mismatch");
    expect(code).toBe(1);
  });

  it("when the owner deletes a row, then audit verify reports that user's next row", async () => {
    await tamper("delete from trade_audit_log where id = 5"); // user 2: rows 2, 5, 8
    const { code, out } = await cli("audit", "verify");
    expect(out).toContain("broken at row 8: prev_hash_mismatch");
    expect(code).toBe(1);
  });

  it("when the owner swaps two rows' ids, then audit verify reports the first of them", async () => {
    await tamper(
      "update trade_audit_log set id = -2 where id = 2",
      "update trade_audit_log set id = 2 where id = 3",
      "update trade_audit_log set id = 3 where id = -2",
    );
    const { code, out } = await cli("audit", "verify");
    expect(out).toContain("broken at row 2: row_hash_mismatch");
    expect(code).toBe(1);
  });

  it("when the owner edits a row and recomputes its row_hash, then audit verify reports that user's next row", async () => {
    const [row] = await readRange(sqlOf(orm), "5", 1);
    const forged = { ...row!, symbol: "ETH/USDT:USDT" };
    await tamper(
      `update trade_audit_log set symbol = 'ETH/USDT:USDT', row_hash = '${rowHash(forged.prevHash, forged)}' where id = 5`,
    );
    const { code, out } = await cli("audit", "verify");
    expect(out).toContain("broken at row 8: prev_hash_mismatch");
    expect(code).toBe(1);
  });

  it("when asked for help or given a bad --from, then the audit commands are listed and a bad id exits 2", async () => {
    const help = await cli("--help");
    expect(help.out).toContain("audit verify [--from ID]");
    expect(help.out).toContain("audit export --user <id>");
    const bad = await cli("audit", "verify", "--from", "abc");
    expect(bad.code).toBe(2);
    expect(bad.out).toContain("--from must be a row id");
  });

  it("when audit export names a user, then exactly that user's entries are written as JSON lines, oldest first, and they verify as one chain", async () => {
    const { code, out } = await cli("audit", "export", "--user", "2");
    expect(code).toBe(0);
    const lines = out.trim().split("\n");
    const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(entries.map((e) => e.id)).toEqual(["2", "5", "8"]);
    expect(entries.map((e) => e.tradeId)).toEqual(["101", "104", "107"]);
    for (const e of entries) {
      expect(e.subject).toBe(auditSubject(Buffer.from(PEPPER), "2"));
      expect(e).toMatchObject({ venue: "paper", symbol: "BTC/USDT:USDT", outcome: "ok" });
      expect(e.occurredAt).toMatch(/Z$/);
    }
    expect(entries.map((e) => (e.details as { n: number }).n)).toEqual([2, 5, 8]);
    // The export is the user's whole chain: it verifies on its own, from genesis.
    expect(verifyChain(entries as unknown as AuditRow[], chainCursor())).toMatchObject({
      ok: true,
      count: 3,
    });

    const nobody = await cli("audit", "export", "--user", "99");
    expect(nobody.code).toBe(0);
    expect(nobody.out.trim()).toBe("");
    const missing = await cli("audit", "export");
    expect(missing.code).toBe(2);
  });
});
