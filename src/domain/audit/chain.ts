// The trade audit log's hash chain (S8.1): the keyed subject hash, the canonical encoding of a
// row, its hash, and verification of a run of rows. Pure: no I/O.
import { createHash, createHmac } from "node:crypto";

export type AuditAction = "open" | "modify" | "close";
/** `venue`: a change the venue made (a stop that fired, a liquidation, a close in its app). */
export type AuditSource = "telegram" | "api" | "system" | "venue";
export type AuditOutcome = "ok" | "failed" | "refused";
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | JsonValue[]
  | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** One stored row of `trade_audit_log`, with every value in its canonical form. */
export interface AuditRow {
  /** bigint as a decimal string. */
  id: string;
  /** UTC at the database's full precision: `YYYY-MM-DDTHH:MM:SS.ffffffZ` (see canonicalTimestamp). */
  occurredAt: string;
  subject: string;
  action: AuditAction;
  tradeId: string | null;
  venue: string;
  symbol: string;
  details: JsonObject;
  source: AuditSource;
  /** The address as PostgreSQL prints a host `inet` (`host(ip)`), or null. */
  ip: string | null;
  outcome: AuditOutcome;
  prevHash: string;
  rowHash: string;
}

/** The first row's prev_hash. */
export const GENESIS_HASH = "0".repeat(64);

/** The audit subject of a user: hex HMAC-SHA256 of the user id under AUDIT_PEPPER. */
export function auditSubject(pepper: Buffer, userId: string): string {
  return createHmac("sha256", pepper).update(userId, "utf8").digest("hex");
}

const TIMESTAMP = /^(\d{4,}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?(?:Z|\+00(?::?00)?)$/;

/**
 * UTC with exactly six fractional digits. PostgreSQL keeps microseconds and a JS Date only
 * milliseconds, so the encoding uses the database's precision: a Date is padded with "000", and
 * a value edited in the database below the millisecond still changes the hash.
 */
export function canonicalTimestamp(value: Date | string): string {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new Error("invalid timestamp");
    return value.toISOString().replace(/Z$/, "000Z");
  }
  const m = TIMESTAMP.exec(value);
  if (!m) throw new Error(`timestamp not in UTC ISO form: ${value}`);
  return `${m[1]}.${(m[2] ?? "").padEnd(6, "0")}Z`;
}

/**
 * JSON with object keys sorted (by UTF-16 code units, recursively) and no whitespace; numbers
 * as JavaScript prints them. The stored `details` are jsonb (which reorders keys and drops
 * duplicates), so the encoding is of the parsed value, never of stored text.
 */
export function canonicalJson(value: unknown): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "string":
      return JSON.stringify(value);
    case "boolean":
      return value ? "true" : "false";
    case "number":
      if (!Number.isFinite(value)) throw new Error("non-finite number in audit entry");
      return JSON.stringify(value);
    case "object": {
      const toJson = (value as { toJSON?: unknown }).toJSON;
      if (typeof toJson === "function") return canonicalJson(toJson.call(value));
      if (Array.isArray(value)) {
        return `[${value.map((v) => (v === undefined ? "null" : canonicalJson(v))).join(",")}]`;
      }
      const entries = Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
    }
    default:
      throw new Error(`cannot encode a ${typeof value} in an audit entry`);
  }
}

/**
 * The canonical encoding of every column except row_hash, keyed by column name. The id is
 * included so that a row carried to another id (rows swapped, renumbered to hide a gap) fails
 * its own hash, and an entry cited by id is bound to that id.
 */
export function canonicalEncoding(row: Omit<AuditRow, "rowHash">): string {
  return canonicalJson({
    action: row.action,
    details: row.details,
    id: BigInt(row.id).toString(),
    ip: row.ip === null ? null : row.ip.toLowerCase(),
    occurred_at: canonicalTimestamp(row.occurredAt),
    outcome: row.outcome,
    prev_hash: row.prevHash,
    source: row.source,
    subject: row.subject,
    symbol: row.symbol,
    trade_id: row.tradeId === null ? null : BigInt(row.tradeId).toString(),
    venue: row.venue,
  });
}

/** The columns the database fills in at insert time; the rest of the encoding is fixed before. */
export type DatabaseFilled = "id" | "occurredAt" | "ip" | "prevHash" | "tradeId";

/**
 * `canonicalEncoding` of a row whose id, time, address, prev_hash and trade id are drawn by the
 * database, as the fixed text around them: the encoding is
 * `p[0] id p[1] ip p[2] occurred_at p[3] prev_hash p[4] trade_id p[5]`, with id, occurred_at and
 * prev_hash as their bare text (decimal digits, the canonical timestamp, 64 hex: JSON adds only
 * the quotes, which the parts hold), and ip and trade_id as JSON: a quoted string (the address in
 * lower case, the id's decimal digits) or `null`.
 * So that an append can hash its row in SQL in the statement that inserts it.
 */
export function encodingParts(row: Omit<AuditRow, "rowHash" | DatabaseFilled>): string[] {
  const j = canonicalJson;
  return [
    `{"action":${j(row.action)},"details":${j(row.details)},"id":"`,
    '","ip":',
    ',"occurred_at":"',
    `","outcome":${j(row.outcome)},"prev_hash":"`,
    `","source":${j(row.source)},"subject":${j(row.subject)},"symbol":${j(row.symbol)},"trade_id":`,
    `,"venue":${j(row.venue)}}`,
  ];
}

/** hex SHA-256 over the previous row's hash (64 hex, ASCII) followed by the canonical encoding. */
export function rowHash(prevHash: string, row: Omit<AuditRow, "rowHash" | "prevHash">): string {
  return createHash("sha256")
    .update(prevHash, "utf8")
    .update(canonicalEncoding({ ...row, prevHash }), "utf8")
    .digest("hex");
}

export type ChainBreak =
  /** The row's content does not hash to its row_hash: it was edited. */
  | "row_hash_mismatch"
  /** The row does not chain onto its predecessor: a row was deleted, inserted or moved. */
  | "prev_hash_mismatch"
  /** Ids do not increase (only possible when rows are handed in out of order). */
  | "id_order";

export type ChainVerdict =
  | { ok: true; count: number; head: string }
  | { ok: false; id: string; reason: ChainBreak; count: number };

/**
 * Where a walk of the log stands. Each subject has its own chain: a row's prev_hash is the
 * row_hash of the subject's previous row (GENESIS_HASH for its first). Rows below
 * `subjectChainsFrom` were written when the log was one chain, and chain onto the row before
 * them whatever its subject.
 */
export interface ChainCursor {
  subjectChainsFrom: bigint;
  /** The row_hash of the last row walked (GENESIS_HASH before the first). */
  lastHash: string;
  /** Per subject, the row_hash of its last row walked; absent means its next row is its first. */
  heads: Map<string, string>;
  lastId: bigint | null;
}

export function chainCursor(subjectChainsFrom = 1n, lastHash = GENESIS_HASH): ChainCursor {
  return { subjectChainsFrom, lastHash, heads: new Map(), lastId: null };
}

/** The prev_hash the next row must carry. */
export function expectedPrevHash(cursor: ChainCursor, row: Pick<AuditRow, "id" | "subject">) {
  return BigInt(row.id) < cursor.subjectChainsFrom
    ? cursor.lastHash
    : (cursor.heads.get(row.subject) ?? GENESIS_HASH);
}

/**
 * Verifies rows in id order from `cursor`, advancing it past every row that verifies.
 * Continuity is judged by prev_hash alone, not by consecutive ids: a rolled-back append leaves
 * a gap in the sequence without breaking a chain, whereas a deleted row shows as a prev_hash
 * mismatch at its subject's next row. `count` is the rows verified before a break.
 */
export function verifyChain(rows: readonly AuditRow[], cursor: ChainCursor): ChainVerdict {
  let count = 0;
  for (const row of rows) {
    const id = BigInt(row.id);
    if (cursor.lastId !== null && id <= cursor.lastId)
      return { ok: false, id: row.id, reason: "id_order", count };
    let hash: string | null;
    try {
      hash = rowHash(row.prevHash, row);
    } catch {
      hash = null; // an unencodable value was written behind our back
    }
    if (hash !== row.rowHash) return { ok: false, id: row.id, reason: "row_hash_mismatch", count };
    if (row.prevHash !== expectedPrevHash(cursor, row))
      return { ok: false, id: row.id, reason: "prev_hash_mismatch", count };
    cursor.lastHash = row.rowHash;
    cursor.heads.set(row.subject, row.rowHash);
    cursor.lastId = id;
    count++;
  }
  return { ok: true, count, head: cursor.lastHash };
}
