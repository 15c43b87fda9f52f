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
  encodingParts,
  GENESIS_HASH,
  type JsonObject,
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
 * optimistically in ONE statement: it takes the subject's transaction-scoped advisory lock, reads
 * the subject's head, draws the id and the time, hashes the row onto the head in SQL (sha256 over
 * the text `encodingParts` fixes, exactly `rowHash`), and inserts it together with whatever must
 * commit with it (the trade row). The statement is its own transaction, so no lock is held across
 * round trips or through a commit.
 *
 * The head is read from the statement's snapshot, taken before the lock is granted: an append
 * that waited for the lock behind another one of its subject may read the head that one has just
 * replaced. The unique index on (subject, prev_hash) is what keeps each chain linear: that insert
 * is refused, nothing of the statement is written, and the append tries again on a new snapshot.
 * A chain's ids and times rise along it, because a row can only chain onto a head that committed
 * before its statement's snapshot, and so before its own id and time were drawn.
 *
 * So that a busy chain cannot starve an append (whose trade has already happened at the venue),
 * after OPTIMISTIC_ATTEMPTS lost races the append falls back to a transaction that takes the lock
 * first and then appends: its statement's snapshot then sees every earlier append of the chain.
 */
const OPTIMISTIC_ATTEMPTS = 3;
const CHAIN_LOCK = "pg_advisory_xact_lock(7100310, hashtext(?))";

/**
 * In an append's statement, the entry's trade id (drawn there with `newTradeId`): companions
 * refer to it by this expression.
 */
export const ENTRY_TRADE_ID = "(select trade_id from audit_ids)";

/** Other writes that must commit with an audit entry, or not at all. */
export interface Companion {
  /**
   * Data-modifying CTEs, `name as (…)`, with `?` placeholders for `params` in order. They may
   * read ENTRY_TRADE_ID.
   */
  ctes: string[];
  params: unknown[];
  /** The statement's final SELECT over those CTEs; by default the entry's id and row_hash. */
  select?: string;
  /** A CTE that must yield a row for the entry to be written (e.g. the trade it updates). */
  guard?: string;
}

export interface AppendOptions {
  /** Draw a new trades.id in the statement, as the entry's trade id (see ENTRY_TRADE_ID). */
  newTradeId?: boolean;
  companion?: () => Companion;
}

/** Runs `fn` in one READ COMMITTED transaction (e.g. `(fn) => inTransaction(orm, fn)`). */
export type TransactionRunner = <T>(fn: (tx: Sql) => Promise<T>) => Promise<T>;

/** The rows of the statement's final SELECT (by default one: the entry's `id` and `row_hash`). */
export type AppendResult = { rows: Array<Record<string, unknown>> };

const isForkRefused = (err: unknown) =>
  (err as { code?: unknown }).code === "23505" &&
  (err as { constraint?: unknown }).constraint === "trade_audit_log_subject_prev_idx";

/**
 * PostgreSQL aborted the statement or transaction as a deadlock victim (40P01): e.g. a
 * normal append (companion writes, then the chain's lock) meeting the lock-first fallback of
 * the same user. Everything it wrote rolled back, so it is safe to run again.
 */
const isDeadlockVictim = (err: unknown) => (err as { code?: unknown }).code === "40P01";
const DEADLOCK_RETRIES = 3;

/**
 * The entry's insert, hashed in SQL: `audit_ids` draws the id, the time (as the text that is
 * hashed and stored), the address as it reads back, and the trade id; `audit_head` is the head.
 */
function appendStatement(entry: AuditEntryInput, details: JsonObject, opts: AppendOptions) {
  const parts = encodingParts({
    subject: entry.subject,
    action: entry.action,
    venue: entry.venue,
    symbol: entry.symbol,
    details,
    source: entry.source,
    outcome: entry.outcome,
  });
  const companion = opts.companion?.() ?? { ctes: [], params: [] };
  const ids = `audit_ids as (
    select nextval('trade_audit_log_id_seq') as id,
      to_char(clock_timestamp() at time zone 'UTC', ${TIMESTAMP_TEXT}) as occurred_at,
      lower(host(?::inet)) as ip,
      ${opts.newTradeId ? "nextval('trades_id_seq')" : "?::bigint"} as trade_id)`;
  // The chain's lock is taken (in FROM) before the row reaches the unique index.
  const audit = `audit_entry as (
    insert into trade_audit_log (id, occurred_at, subject, action, trade_id, venue, symbol,
      details, source, ip, outcome, prev_hash, row_hash)
    select i.id, i.occurred_at::timestamptz, ?::text, ?::text, i.trade_id, ?::text, ?::text,
      ?::jsonb, ?::text, i.ip::inet, ?::text, h.prev_hash,
      encode(sha256(convert_to(h.prev_hash || ?::text || i.id::text || ?::text
        || coalesce('"' || i.ip || '"', 'null') || ?::text || i.occurred_at || ?::text
        || h.prev_hash || ?::text || coalesce('"' || i.trade_id || '"', 'null') || ?::text,
        'UTF8')), 'hex')
    from (select ${CHAIN_LOCK}) as chain_lock
    cross join audit_ids as i
    cross join (select coalesce((select l.row_hash from trade_audit_log l
      where l.subject = ?::text order by l.id desc limit 1), ?::text) as prev_hash) as h
    ${companion.guard ? `where exists (select 1 from ${companion.guard})` : ""}
    returning id, row_hash)`;
  return {
    text: `with ${[ids, ...companion.ctes, audit].join(",\n")}
     ${companion.select ?? "select id::text as id, row_hash from audit_entry"}`,
    params: [
      entry.ip,
      ...(opts.newTradeId ? [] : [tradeIdText(entry.tradeId)]),
      ...companion.params,
      entry.subject,
      entry.action,
      entry.venue,
      entry.symbol,
      JSON.stringify(details),
      entry.source,
      entry.outcome,
      ...parts,
      entry.subject,
      entry.subject,
      GENESIS_HASH,
    ],
  };
}

/**
 * Appends `entry` to its subject's chain in one statement with `opts.companion`'s writes, and
 * returns the rows of the statement's final SELECT. Run it on the pool: each attempt is its own
 * transaction. With `transaction`, an append that keeps losing the race for its head finishes
 * under the chain's lock; without it, it gives up (`contended`), having written nothing.
 */
export async function appendWith(
  sql: Sql,
  entry: AuditEntryInput,
  opts: AppendOptions & { transaction?: TransactionRunner } = {},
): Promise<AppendResult> {
  // Round-trip through JSON so what is hashed is what jsonb stores and gives back.
  const details = JSON.parse(canonicalJson(entry.details ?? {})) as JsonObject;
  const statement = appendStatement(entry, details, opts);
  for (let attempt = 1; attempt <= OPTIMISTIC_ATTEMPTS; attempt++) {
    try {
      return { rows: await sql(statement.text, statement.params) };
    } catch (err) {
      // Another append took this head first, or the statement was a deadlock's victim;
      // either way nothing of it was written.
      if (!isForkRefused(err) && !isDeadlockVictim(err)) throw err;
    }
  }
  if (!opts.transaction) {
    throw new AuditLogError(
      "contended",
      `audit append lost the race for its chain head ${OPTIMISTIC_ATTEMPTS} times; nothing was written`,
    );
  }
  const { transaction } = opts;
  for (let attempt = 1; ; attempt++) {
    try {
      return await transaction(async (tx) => {
        // Lock first, then append: READ COMMITTED gives the append's statement a snapshot
        // taken after every insert into this chain that got the lock before us has committed.
        await tx(`select ${CHAIN_LOCK}`, [entry.subject]);
        return { rows: await tx(statement.text, statement.params) };
      });
    } catch (err) {
      if (!isDeadlockVictim(err) || attempt >= DEADLOCK_RETRIES) throw err;
    }
  }
}

export function createAuditLog(opts: { transaction?: TransactionRunner } = {}): AuditLog {
  return {
    async append(sql, entry) {
      const [row] = (await appendWith(sql, entry, opts)).rows;
      if (!row) throw new Error("audit append: no row written");
      return { id: row.id as string, rowHash: row.row_hash as string };
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
