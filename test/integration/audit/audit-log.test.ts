// The trade audit log against real PostgreSQL (S8.1): what the application's role may do, the
// trigger that holds even for the owner, appends as single statements with what must commit with
// them, and valid per-user chains under concurrent writers.
import type { MikroORM } from "@mikro-orm/postgresql";
import pg from "pg";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  type AuditEntryInput,
  type AuditRow,
  auditSubject,
  chainCursor,
  GENESIS_HASH,
  verifyAuditLog,
  verifyChain,
} from "../../../src/domain/audit";
import {
  appendWith,
  createAuditChainReader,
  createAuditLog,
  exportForSubject,
  inTransaction,
  listForSubject,
  readRange,
} from "../../../src/infra/audit-log";
import { createOrm, sqlOf } from "../../../src/infra/database";
import type { Sql } from "../../../src/infra/vault-store";
import { APP_LOGIN, ensureAppLogin } from "../../support/app-role";
import { createTestDatabase, type TestDatabase } from "../../support/context";

const pepper = Buffer.from("a-test-audit-pepper-of-32-bytes-or-more");
const subjectOf = (userId: string) => auditSubject(pepper, userId);
const auditLog = createAuditLog();

let db: TestDatabase;
let owner: pg.Client;
let ownerOrm: MikroORM;
let appOrm: MikroORM;
let appUrl: string;

/** Empties the log as the superuser with triggers off (each test starts a fresh chain). */
async function resetLog(): Promise<void> {
  await owner.query("set session_replication_role = replica");
  try {
    await owner.query("truncate trade_audit_log restart identity");
  } finally {
    await owner.query("set session_replication_role = origin");
  }
}

const entry = (userId: string, overrides: Partial<AuditEntryInput> = {}): AuditEntryInput => ({
  subject: subjectOf(userId),
  action: "open",
  tradeId: 1,
  venue: "paper",
  symbol: "BTC/USDT:USDT",
  details: { side: "long", size: "0.01", leverage: 3 },
  source: "api",
  ip: "198.51.100.7",
  outcome: "ok",
  ...overrides,
});

/** Returns once a session waits for an advisory lock (an append's statement, for its chain). */
async function waitForLockWaiter(): Promise<void> {
  for (;;) {
    const { rows } = await owner.query(
      "select count(*)::int as n from pg_locks where locktype = 'advisory' and not granted",
    );
    if (rows[0].n > 0) return;
    await new Promise((r) => setTimeout(r, 5));
  }
}

const allRows = async (): Promise<AuditRow[]> => readRange(sqlOf(ownerOrm), "1", 100_000);
const count = async () =>
  Number((await owner.query("select count(*)::int as n from trade_audit_log")).rows[0].n);

beforeAll(async () => {
  db = await createTestDatabase();
  owner = new pg.Client({ connectionString: db.url });
  await owner.connect();
  await ensureAppLogin(owner);
  const u = new URL(db.url);
  u.username = APP_LOGIN;
  appUrl = u.toString();
  ownerOrm = await createOrm({ url: db.url, poolMax: 2 });
  appOrm = await createOrm({ url: appUrl, poolMax: 2 });
});
beforeEach(resetLog);
afterAll(async () => {
  await appOrm?.close();
  await ownerOrm?.close();
  await owner?.end();
  await db?.drop();
});

describe("trade audit log privileges (S8.1)", () => {
  it("when the application's role inserts and selects, then both work; update, delete and truncate fail with permission denied", async () => {
    const app = new pg.Client({ connectionString: appUrl });
    await app.connect();
    try {
      const who = await app.query("select current_user as u");
      expect(who.rows[0].u).toBe(APP_LOGIN);
      await app.query(
        `insert into trade_audit_log (subject, action, venue, symbol, source, outcome, prev_hash, row_hash)
         values ($1, 'open', 'paper', 'BTC/USDT:USDT', 'api', 'failed', $2, $3)`,
        [subjectOf("1"), GENESIS_HASH, "f".repeat(64)],
      );
      const read = await app.query("select id::text as id, outcome from trade_audit_log");
      expect(read.rows).toEqual([{ id: "1", outcome: "failed" }]);
      for (const statement of [
        "update trade_audit_log set outcome = 'ok'",
        "delete from trade_audit_log",
        "truncate trade_audit_log",
        "select setval('trade_audit_log_id_seq', 1)",
        "alter table trade_audit_log disable trigger trade_audit_log_no_update_delete",
      ]) {
        await expect(app.query(statement), statement).rejects.toThrow(
          /permission denied|must be owner/,
        );
      }
      expect(await count()).toBe(1);
    } finally {
      await app.end();
    }
  });

  it("when the application's role goes through MikroORM, then appends work and update, delete and truncate are rejected", async () => {
    const appended = await inTransaction(appOrm, (tx) => auditLog.append(tx, entry("1")));
    expect(appended.id).toBe("1");
    const conn = appOrm.em.getConnection();
    await expect(conn.execute("update trade_audit_log set outcome = 'failed'")).rejects.toThrow(
      /permission denied for table trade_audit_log/,
    );
    await expect(conn.execute("delete from trade_audit_log where id = 1")).rejects.toThrow(
      /permission denied for table trade_audit_log/,
    );
    await expect(conn.execute("truncate trade_audit_log")).rejects.toThrow(
      /permission denied for table trade_audit_log/,
    );
    const rows = await conn.execute("select outcome from trade_audit_log");
    expect(rows).toEqual([{ outcome: "ok" }]);
  });

  it("when the application's role uses the other tables, then it may read and write them", async () => {
    const app = new pg.Client({ connectionString: appUrl });
    await app.connect();
    try {
      await app.query("insert into paper_balances (account, total) values ('audit-t', 10)");
      await app.query("update paper_balances set total = 20 where account = 'audit-t'");
      await app.query("delete from paper_balances where account = 'audit-t'");
    } finally {
      await app.end();
    }
  });

  it("when the superuser owner updates, deletes or truncates, then the trigger refuses each", async () => {
    await inTransaction(ownerOrm, (tx) => auditLog.append(tx, entry("1")));
    await expect(owner.query("update trade_audit_log set outcome = 'failed'")).rejects.toThrow(
      "trade_audit_log is append-only: UPDATE is not allowed",
    );
    await expect(owner.query("delete from trade_audit_log")).rejects.toThrow(
      "trade_audit_log is append-only: DELETE is not allowed",
    );
    await expect(owner.query("truncate trade_audit_log")).rejects.toThrow(
      "trade_audit_log is append-only: TRUNCATE is not allowed",
    );
    expect(await count()).toBe(1);
  });
});

describe("appending (S8.1)", () => {
  it("when 8 writers each append 50 entries concurrently, each on its own connection, then each user's 50 rows form one valid chain", async () => {
    const writers = await Promise.all(
      Array.from({ length: 8 }, () => createOrm({ url: appUrl, poolMax: 1 })),
    );
    try {
      await Promise.all(
        writers.map(async (orm, w) => {
          for (let i = 0; i < 50; i++) {
            // Other work between appends, so that writers interleave.
            await sqlOf(orm)("select pg_sleep(?)", [Math.random() / 1000]);
            await auditLog.append(
              sqlOf(orm),
              entry(`w${w}`, { tradeId: w * 1000 + i, details: { writer: w, i } }),
            );
          }
        }),
      );
    } finally {
      await Promise.all(writers.map((o) => o.close()));
    }
    const rows = await allRows();
    expect(rows).toHaveLength(400);
    expect(verifyChain(rows, chainCursor())).toMatchObject({ ok: true, count: 400 });
    // Every writer's entries are there, in the order it wrote them, each chained onto the last.
    for (let w = 0; w < 8; w++) {
      const mine = rows.filter((r) => r.subject === subjectOf(`w${w}`));
      expect(mine.map((r) => r.details.i)).toEqual(Array.from({ length: 50 }, (_, i) => i));
      expect(mine[0]!.prevHash).toBe(GENESIS_HASH);
      for (let i = 1; i < mine.length; i++) {
        expect(mine[i]!.prevHash).toBe(mine[i - 1]!.rowHash);
        expect(mine[i]!.occurredAt >= mine[i - 1]!.occurredAt).toBe(true);
      }
    }
    // Interleaved: the log does not hold one writer's 50 entries in one run.
    expect(new Set(rows.slice(0, 50).map((r) => r.subject)).size).toBeGreaterThan(1);
    // The verifier's keyset batches join up across batch boundaries.
    const verdict = await verifyAuditLog(createAuditChainReader(sqlOf(ownerOrm)), {
      batchSize: 7,
    });
    expect(verdict).toEqual({
      ok: true,
      count: 400,
      head: rows[399]!.rowHash,
      lastId: rows[399]!.id,
      subjects: 8,
    });
  });

  it("when 6 writers append 30 entries each for the same user at the same time, then that user's 180 rows form one chain in id order", async () => {
    const writers = await Promise.all(
      Array.from({ length: 6 }, () => createOrm({ url: appUrl, poolMax: 1 })),
    );
    try {
      await Promise.all(
        writers.map(async (orm, w) => {
          // As the trading store runs it: lost races end under the chain's lock.
          const log = createAuditLog({ transaction: (fn) => inTransaction(orm, fn) });
          for (let i = 0; i < 30; i++) {
            await log.append(sqlOf(orm), entry("same-user", { details: { writer: w, i } }));
          }
        }),
      );
    } finally {
      await Promise.all(writers.map((o) => o.close()));
    }
    const rows = (await allRows()).filter((r) => r.subject === subjectOf("same-user"));
    expect(rows).toHaveLength(180);
    expect(rows[0]!.prevHash).toBe(GENESIS_HASH);
    for (let i = 1; i < rows.length; i++) {
      expect(rows[i]!.prevHash).toBe(rows[i - 1]!.rowHash);
      expect(rows[i]!.occurredAt >= rows[i - 1]!.occurredAt).toBe(true);
    }
    expect(verifyChain(rows, chainCursor())).toMatchObject({ ok: true, count: 180 });
  });

  it("when another append of the user commits while an append's statement waits for the chain's lock, then that statement (which read the old head) is refused and the append chains onto the new head; one that keeps losing gives up or finishes under the lock", async () => {
    let races = 0;
    // The race an append can still lose: its statement reads the head from its snapshot, taken
    // before the chain's lock is granted. Each of this append's statements (up to `times`) starts
    // while a competitor holds the lock with its entry written but not committed, and the
    // competitor commits once that statement is waiting for the lock.
    const racing = (times: number): Sql => {
      const sql = sqlOf(appOrm);
      return async (q, p) => {
        if (!q.trimStart().startsWith("with") || races >= times) return sql(q, p);
        races++;
        let mine: Promise<Array<Record<string, unknown>>> | undefined;
        await inTransaction(ownerOrm, async (tx) => {
          await auditLog.append(tx, entry("raced", { details: { competitor: races } }));
          mine = sql(q, p);
          mine.catch(() => {});
          await waitForLockWaiter();
        });
        return mine!;
      };
    };
    const mine = await auditLog.append(racing(1), entry("raced", { details: { mine: true } }));
    const rows = await allRows();
    // id 1 was drawn by the competitor, id 2 by the refused first statement, id 3 by the retry.
    expect(rows.map((r) => [r.id, r.details])).toEqual([
      ["1", { competitor: 1 }],
      ["3", { mine: true }],
    ]);
    expect(mine).toEqual({ id: "3", rowHash: rows[1]!.rowHash });
    expect(rows[1]!.prevHash).toBe(rows[0]!.rowHash);

    // Without a transaction to fall back on, an append that loses every race gives up, having
    // written nothing of its own.
    races = 0;
    await expect(
      auditLog.append(racing(100), entry("raced", { details: { loser: true } })),
    ).rejects.toMatchObject({ name: "AuditLogError", code: "contended" });
    const after = await allRows();
    expect(after.filter((r) => "loser" in r.details)).toEqual([]);
    expect(after).toHaveLength(2 + 3);
    expect(verifyChain(after, chainCursor())).toMatchObject({ ok: true, count: 5 });

    // With one (as the trading store has), it finishes under the chain's lock instead.
    races = 0;
    const locked = createAuditLog({ transaction: (fn) => inTransaction(appOrm, fn) });
    const last = await locked.append(racing(100), entry("raced", { details: { patient: true } }));
    const final = await allRows();
    expect(final).toHaveLength(5 + 3 + 1);
    expect(final.at(-1)).toMatchObject({ id: last.id, details: { patient: true } });
    expect(verifyChain(final, chainCursor())).toMatchObject({ ok: true, count: 9 });
  });

  it("when a write that must commit with the entry fails, then neither the write nor the entry is stored", async () => {
    await expect(
      appendWith(sqlOf(appOrm), entry("1"), {
        companion: () => ({
          ctes: ["bad as (insert into paper_balances (account, total) values (?, -1))"],
          params: ["audit-companion"],
        }),
      }),
    ).rejects.toThrow(/paper_balances_total_check/);
    expect(await count()).toBe(0);
    const balances = await owner.query(
      "select 1 from paper_balances where account = 'audit-companion'",
    );
    expect(balances.rowCount).toBe(0);
  });

  it("when the owner inserts a second entry onto a head that already has a successor, then the database refuses the fork", async () => {
    const first = await auditLog.append(sqlOf(appOrm), entry("forked"));
    await auditLog.append(sqlOf(appOrm), entry("forked"));
    await expect(
      owner.query(
        `insert into trade_audit_log (subject, action, venue, symbol, source, outcome, prev_hash, row_hash)
         values ($1, 'open', 'paper', 'BTC', 'system', 'ok', $2, $3)`,
        [subjectOf("forked"), first.rowHash, "f".repeat(64)],
      ),
    ).rejects.toMatchObject({ code: "23505", constraint: "trade_audit_log_subject_prev_idx" });
  });

  it("when the trade's transaction rolls back after its append, then its entry goes too, the id is skipped, and the chain still verifies", async () => {
    await inTransaction(appOrm, (tx) => auditLog.append(tx, entry("1")));
    await expect(
      inTransaction(appOrm, async (tx) => {
        await auditLog.append(tx, entry("1", { action: "close" }));
        throw new Error("venue refused the order");
      }),
    ).rejects.toThrow("venue refused the order");
    await inTransaction(appOrm, (tx) =>
      auditLog.append(tx, entry("1", { action: "open", tradeId: null, outcome: "failed" })),
    );
    const rows = await allRows();
    expect(rows.map((r) => [r.id, r.action])).toEqual([
      ["1", "open"],
      ["3", "open"],
    ]);
    expect(rows[1]!.prevHash).toBe(rows[0]!.rowHash);
    expect(await verifyAuditLog(createAuditChainReader(sqlOf(ownerOrm)))).toMatchObject({
      ok: true,
      count: 2,
    });
  });

  it("when details, an IPv6 address and the time round-trip through PostgreSQL, then the stored row hashes to its row_hash", async () => {
    const details = {
      zeta: { b: [1, 0.1, 1e21, -0, 1e-7, "x"], a: null },
      alpha: `café ✓ "quoted" \\ back\nline ? ?? \\? $1 'q'`,
      big: 12345678901234567000,
      flag: true,
    };
    const { id, rowHash } = await inTransaction(appOrm, (tx) =>
      auditLog.append(
        tx,
        entry("1", {
          tradeId: "9007199254740993",
          details,
          symbol: "ODD?/USDT ??",
          ip: "2001:DB8:0:0::0001",
          source: "telegram",
        }),
      ),
    );
    const [row] = await allRows();
    expect(row).toMatchObject({ id, rowHash, ip: "2001:db8::1", tradeId: "9007199254740993" });
    expect(row!.symbol).toBe("ODD?/USDT ??");
    expect(row!.details).toEqual(JSON.parse(JSON.stringify(details)));
    expect(row!.occurredAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(verifyChain([row!], chainCursor())).toMatchObject({ ok: true, count: 1 });
    const stored = await owner.query(
      "select occurred_at = $1::timestamptz as same from trade_audit_log",
      [row!.occurredAt],
    );
    expect(stored.rows[0].same).toBe(true);
  });
});

describe("reading a subject's entries", () => {
  it("when a subject's entries are listed and exported, then only theirs come back: listed newest first by page, exported oldest first", async () => {
    for (let i = 0; i < 12; i++) {
      await inTransaction(appOrm, (tx) =>
        auditLog.append(tx, entry(i % 3 === 0 ? "7" : "8", { tradeId: i })),
      );
    }
    const sql = sqlOf(appOrm);
    const page1 = await listForSubject(sql, subjectOf("7"), { limit: 3 });
    expect(page1.map((r) => r.tradeId)).toEqual(["9", "6", "3"]);
    const page2 = await listForSubject(sql, subjectOf("7"), { limit: 3, beforeId: page1[2]!.id });
    expect(page2.map((r) => r.tradeId)).toEqual(["0"]);
    const exported: AuditRow[] = [];
    for await (const r of exportForSubject(sql, subjectOf("8"), 3)) exported.push(r);
    expect(exported.map((r) => r.tradeId)).toEqual(["1", "2", "4", "5", "7", "8", "10", "11"]);
    expect(new Set(exported.map((r) => r.subject))).toEqual(new Set([subjectOf("8")]));
  });
});
