// The trade audit log on PostgreSQL: appends serialised on one advisory lock inside the
// caller's transaction, and keyset reads for listing, export and verification.
import type { MikroORM } from "@mikro-orm/postgresql";
import {
  type AuditAction,
  type AuditChainReader,
  type AuditLog,
  AuditLogError,
  type AuditOutcome,
  type AuditRow,
  type AuditSource,
  canonicalJson,
  GENESIS_HASH,
  type JsonObject,
  rowHash,
} from "../domain/audit";
import type { Sql } from "./vault-store";

/**
 * One chain per subject (see migrations/20261124160000-audit-subject-chains.ts). A single
 * global chain serialised every audited trade behind one lock held through each commit's WAL
 * flush; per-subject chains serialise only one user's own actions, which are sequential anyway.
 * Each user's history stays one unbroken chain that verifies on its own (a forensic export
 * carries its own proof), and `(subject, prev_hash)` is unique, so a chain cannot fork.
 */
// The database's own text forms, so what is hashed is exactly what is stored and read back:
// microsecond UTC timestamps and host(inet).
const TIMESTAMP_TEXT = `'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'`;
// Columns of alias `t`; ORDER BY must name `t.id`, the bigint, not the text alias `id`.
const ROW_COLUMNS = `t.id::text as id,
  to_char(t.occurred_at at time zone 'UTC', ${TIMESTAMP_TEXT}) as occurred_at,
  t.subject, t.action, t.trade_id::text as trade_id, t.venue, t.symbol,
  t.details::text as details, t.source, host(t.ip) as ip, t.outcome, t.prev_hash, t.row_hash`;

function toRow(r: Record<string, unknown>): AuditRow {
  return {
    id: r.id as string,
    occurredAt: r.occurred_at as string,
    subject: r.subject as string,
    action: r.action as AuditAction,
    tradeId: (r.trade_id as string | null) ?? null,
    venue: r.venue as string,
    symbol: r.symbol as string,
    details: JSON.parse(r.details as string) as JsonObject,
    source: r.source as AuditSource,
    ip: (r.ip as string | null) ?? null,
    outcome: r.outcome as AuditOutcome,
    prevHash: r.prev_hash as string,
    rowHash: r.row_hash as string,
  };
}

const tradeIdText = (v: string | number | bigint | null): string | null => {
  if (v === null) return null;
  if (typeof v === "number" && !Number.isSafeInteger(v)) throw new Error("tradeId: not an integer");
  return BigInt(v).toString();
};

export function createAuditLog(): AuditLog {
  return {
    async append(tx, entry) {
      // 1. Lock the subject's chain and read its head, the next id and the time, all from the
      // database so that the hash covers exactly the stored values. The xid proves later that
      // every statement ran in one transaction: on a bare pool each statement would commit (and
      // drop the lock) on its own.
      const [head] = await tx("select * from trade_audit_chain_head(?, ?::inet)", [
        entry.subject,
        entry.ip,
      ]);
      if (!head) throw new Error("audit append: no head row");
      if (head.isolation !== "read committed") {
        // A snapshot older than the lock could miss the head another writer just committed.
        throw new AuditLogError(
          "isolation_level",
          `audit append needs a READ COMMITTED transaction, not ${String(head.isolation)}`,
        );
      }
      // Round-trip through JSON so what is hashed is what jsonb stores and gives back.
      const details = JSON.parse(canonicalJson(entry.details ?? {})) as JsonObject;
      const row = {
        id: head.id as string,
        occurredAt: head.occurred_at as string,
        subject: entry.subject,
        action: entry.action,
        tradeId: tradeIdText(entry.tradeId),
        venue: entry.venue,
        symbol: entry.symbol,
        details,
        source: entry.source,
        ip: (head.ip as string | null) ?? null,
        outcome: entry.outcome,
      };
      const prevHash = (head.head as string | null) ?? GENESIS_HASH;
      const hash = rowHash(prevHash, row);
      // 2. Insert only if still in the transaction that holds the lock.
      const inserted = await tx(
        `insert into trade_audit_log (id, occurred_at, subject, action, trade_id, venue, symbol,
           details, source, ip, outcome, prev_hash, row_hash)
         select ?::bigint, ?::timestamptz, ?, ?, ?::bigint, ?, ?, ?::jsonb, ?, ?::inet, ?, ?, ?
         where pg_current_xact_id()::text = ?
         returning id::text as id`,
        [
          row.id,
          row.occurredAt,
          row.subject,
          row.action,
          row.tradeId,
          row.venue,
          row.symbol,
          JSON.stringify(details),
          row.source,
          row.ip,
          row.outcome,
          prevHash,
          hash,
          head.xid,
        ],
      );
      if (inserted.length !== 1) {
        throw new AuditLogError(
          "outside_transaction",
          "audit append must run inside the caller's transaction; nothing was written",
        );
      }
      return { id: row.id, rowHash: hash };
    },
  };
}

/** A subject's entries, newest first, `limit` (1–500) at a time below `beforeId`. */
export async function listForSubject(
  sql: Sql,
  subject: string,
  opts: { limit?: number; beforeId?: string | null } = {},
): Promise<AuditRow[]> {
  const limit = Math.min(Math.max(Math.trunc(opts.limit ?? 50), 1), 500);
  const rows = await sql(
    `select ${ROW_COLUMNS} from trade_audit_log as t
     where t.subject = ? and (?::bigint is null or t.id < ?::bigint)
     order by t.id desc limit ?`,
    [subject, opts.beforeId ?? null, opts.beforeId ?? null, limit],
  );
  return rows.map(toRow);
}

/** Every entry of a subject, oldest first, read in keyset batches. */
export async function* exportForSubject(
  sql: Sql,
  subject: string,
  batchSize = 500,
): AsyncGenerator<AuditRow> {
  let after = "0";
  for (;;) {
    const rows = await sql(
      `select ${ROW_COLUMNS} from trade_audit_log as t
       where t.subject = ? and t.id > ?::bigint order by t.id limit ?`,
      [subject, after, batchSize],
    );
    for (const r of rows) yield toRow(r);
    if (rows.length < batchSize) return;
    after = rows.at(-1)?.id as string;
  }
}

/** Up to `limit` rows with id ≥ `fromId`, ascending: the verifier's batches. */
export async function readRange(sql: Sql, fromId: string, limit: number): Promise<AuditRow[]> {
  const rows = await sql(
    `select ${ROW_COLUMNS} from trade_audit_log as t where t.id >= ?::bigint order by t.id limit ?`,
    [fromId, limit],
  );
  return rows.map(toRow);
}

export function createAuditChainReader(sql: Sql): AuditChainReader {
  return {
    readRange: (fromId, limit) => readRange(sql, fromId, limit),
    async subjectChainsFrom() {
      const rows = await sql("select subject_chains_from::text as id from trade_audit_chain");
      const id = rows[0]?.id;
      if (typeof id !== "string") throw new Error("trade_audit_chain has no row: migrate first");
      return id;
    },
    async subjectHeadsBefore(id, subjects) {
      // One index probe per subject on (subject, id), however long the history.
      const rows = await sql(
        `select s.subject, h.row_hash from unnest(string_to_array(?, ',')) as s(subject)
         cross join lateral (select l.row_hash from trade_audit_log l
           where l.subject = s.subject and l.id < ?::bigint order by l.id desc limit 1) h`,
        [subjects.join(","), id], // subjects are 64 hex characters (a CHECK on the column)
      );
      return new Map(rows.map((r) => [r.subject as string, r.row_hash as string]));
    },
    async rowHashBefore(id) {
      const rows = await sql(
        "select row_hash from trade_audit_log where id < ?::bigint order by id desc limit 1",
        [id],
      );
      return (rows[0]?.row_hash as string | undefined) ?? null;
    },
  };
}

/**
 * Runs `fn` in a READ COMMITTED transaction on a fresh ORM context, with a `Sql` bound to it:
 * how a use case writes its trade row and calls `AuditLog.append` atomically.
 */
export function inTransaction<T>(orm: MikroORM, fn: (tx: Sql) => Promise<T>): Promise<T> {
  return orm.em.fork().transactional(async (em) => {
    const ctx = em.getTransactionContext();
    const tx: Sql = (sql, params = []) =>
      em.getConnection().execute<Array<Record<string, unknown>>>(sql, params, "all", ctx);
    return fn(tx);
  });
}
