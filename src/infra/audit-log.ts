// The trade audit log on PostgreSQL: appends as single statements chained per subject, and
// keyset reads for listing, export and verification.
import type { MikroORM } from "@mikro-orm/postgresql";
import {
  type AuditAction,
  type AuditChainReader,
  type AuditEntryInput,
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

/**
 * One chain per subject (see migrations/20261124160000-audit-subject-chains.ts), appended
 * optimistically. An append reads its subject's head, hashes the row onto it, and inserts it in
 * ONE statement together with whatever must commit with it (the trade row): the statement is its
 * own transaction, so no lock is held across round trips or through a commit. The unique index
 * on (subject, prev_hash) is what keeps each chain linear: of two appends that read the same
 * head, the second insert is refused (after waiting for the first to commit), and that append
 * reads the new head and tries again. A chain's ids and times rise along it, because a row can
 * only chain onto a head that committed before its own ids and time were drawn.
 *
 * So that a busy chain cannot starve an append (whose trade has already happened at the venue),
 * every insert also takes the subject's transaction-scoped advisory lock, and after
 * OPTIMISTIC_ATTEMPTS lost races the append falls back to a transaction that takes that lock
 * first and then reads the head: no other insert into that chain can run until it commits.
 */
const OPTIMISTIC_ATTEMPTS = 3;
const CHAIN_LOCK = "pg_advisory_xact_lock(7100310, hashtext(?))";

/** Other writes that must commit with an audit entry, or not at all. */
export interface Companion {
  /** Data-modifying CTEs, `name as (…)`, with `?` placeholders for `params` in order. */
  ctes: string[];
  params: unknown[];
  /** The statement's final SELECT over those CTEs; by default it returns nothing useful. */
  select?: string;
  /** A CTE that must yield a row for the entry to be written (e.g. the trade it updates). */
  guard?: string;
}

export interface AppendOptions {
  /** Draw a new trades.id with the head and pass it to `entry` and `companion`. */
  newTradeId?: boolean;
  companion?: (tradeId: string | null) => Companion;
}

/** Runs `fn` in one READ COMMITTED transaction (e.g. `(fn) => inTransaction(orm, fn)`). */
export type TransactionRunner = <T>(fn: (tx: Sql) => Promise<T>) => Promise<T>;

export type AppendResult = { id: string; rowHash: string; rows: Array<Record<string, unknown>> };

const isForkRefused = (err: unknown) =>
  (err as { code?: unknown }).code === "23505" &&
  (err as { constraint?: unknown }).constraint === "trade_audit_log_subject_prev_idx";

/** Reads the head and writes the entry (and its companion) onto it: two statements. */
async function appendOnce(
  sql: Sql,
  entry: AuditEntryInput,
  details: JsonObject,
  opts: AppendOptions,
): Promise<AppendResult> {
  // The head, the next id and the time, all from the database so that the hash covers exactly
  // the stored values (host(inet) is how the address reads back).
  const [head] = await sql(
    `select nextval('trade_audit_log_id_seq')::text as id,
      (select l.row_hash from trade_audit_log l where l.subject = ?::text order by l.id desc limit 1) as head,
      to_char(clock_timestamp() at time zone 'UTC', ${TIMESTAMP_TEXT}) as occurred_at,
      host(?::inet) as ip${opts.newTradeId ? ", nextval('trades_id_seq')::text as trade_id" : ""}`,
    [entry.subject, entry.ip],
  );
  if (!head) throw new Error("audit append: no head row");
  const tradeId = opts.newTradeId ? (head.trade_id as string) : tradeIdText(entry.tradeId);
  const row = {
    id: head.id as string,
    occurredAt: head.occurred_at as string,
    subject: entry.subject,
    action: entry.action,
    tradeId,
    venue: entry.venue,
    symbol: entry.symbol,
    details,
    source: entry.source,
    ip: (head.ip as string | null) ?? null,
    outcome: entry.outcome,
  };
  const prevHash = (head.head as string | null) ?? GENESIS_HASH;
  const hash = rowHash(prevHash, row);
  const companion = opts.companion?.(tradeId) ?? { ctes: [], params: [] };
  // The chain's lock is taken (in FROM) before the row reaches the unique index.
  const audit = `audit_entry as (
    insert into trade_audit_log (id, occurred_at, subject, action, trade_id, venue, symbol,
      details, source, ip, outcome, prev_hash, row_hash)
    select ?::bigint, ?::timestamptz, ?::text, ?::text, ?::bigint, ?::text, ?::text, ?::jsonb,
      ?::text, ?::inet, ?::text, ?::text, ?::text
    from (select ${CHAIN_LOCK}) as chain_lock
    ${companion.guard ? `where exists (select 1 from ${companion.guard})` : ""}
    returning id)`;
  const rows = await sql(
    `with ${[...companion.ctes, audit].join(",\n")}
     ${companion.select ?? "select id::text as id from audit_entry"}`,
    [
      ...companion.params,
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
      entry.subject,
    ],
  );
  return { id: row.id, rowHash: hash, rows };
}

/**
 * Appends `entry` to its subject's chain in one statement with `opts.companion`'s writes, and
 * returns the entry's id and hash and the rows of the companion's SELECT. Run it on the pool:
 * each attempt is its own transaction. With `transaction`, an append that keeps losing the race
 * for its head finishes under the chain's lock; without it, it gives up (`contended`), having
 * written nothing.
 */
export async function appendWith(
  sql: Sql,
  entry: AuditEntryInput,
  opts: AppendOptions & { transaction?: TransactionRunner } = {},
): Promise<AppendResult> {
  // Round-trip through JSON so what is hashed is what jsonb stores and gives back.
  const details = JSON.parse(canonicalJson(entry.details ?? {})) as JsonObject;
  for (let attempt = 1; attempt <= OPTIMISTIC_ATTEMPTS; attempt++) {
    try {
      return await appendOnce(sql, entry, details, opts);
    } catch (err) {
      // Another append took this head first; nothing of this statement was written.
      if (!isForkRefused(err)) throw err;
    }
  }
  if (!opts.transaction) {
    throw new AuditLogError(
      "contended",
      `audit append lost the race for its chain head ${OPTIMISTIC_ATTEMPTS} times; nothing was written`,
    );
  }
  return opts.transaction(async (tx) => {
    // Lock first, then read: READ COMMITTED gives the head read a snapshot taken after every
    // insert into this chain that got the lock before us has committed.
    await tx(`select ${CHAIN_LOCK}`, [entry.subject]);
    return appendOnce(tx, entry, details, opts);
  });
}

export function createAuditLog(opts: { transaction?: TransactionRunner } = {}): AuditLog {
  return {
    async append(sql, entry) {
      const { id, rowHash } = await appendWith(sql, entry, opts);
      return { id, rowHash };
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
