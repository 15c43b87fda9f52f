// What the audit area needs from outside: a SQL runner bound to the caller's transaction, the
// append-only log itself, and a reader of the chain for verification.
import type { AuditAction, AuditOutcome, AuditRow, AuditSource, JsonObject } from "./chain";

/** Runs SQL with `?` placeholders and returns the rows. (Structurally src/infra's `Sql`.) */
export type Sql = (sql: string, params?: unknown[]) => Promise<Array<Record<string, unknown>>>;

/** What a use case records about one trade action. Never a secret in `details`. */
export interface AuditEntryInput {
  /** auditSubject(AUDIT_PEPPER, userId), never the user id itself. */
  subject: string;
  action: AuditAction;
  /** Null when there is no trade (a failed or refused open). */
  tradeId: string | number | bigint | null;
  venue: string;
  symbol: string;
  details?: JsonObject;
  source: AuditSource;
  /** The caller's address for API actions; null for Telegram and system actions. */
  ip: string | null;
  outcome: AuditOutcome;
}

export type AuditLogErrorCode = "contended";

export class AuditLogError extends Error {
  constructor(
    readonly code: AuditLogErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "AuditLogError";
  }
}

export interface AuditLog {
  /**
   * Appends one entry to its subject's chain, as one statement (its own transaction) that reads
   * the head and hashes the row onto it: should another append take that head first, the
   * statement is refused and the append tries again on the new head, so a chain never forks. Writes that must commit with the entry go into the
   * same statement (see src/infra/audit-log.ts `appendWith`).
   */
  append(sql: Sql, entry: AuditEntryInput): Promise<{ id: string; rowHash: string }>;
}

/** Read access to the stored chain, in id order. */
export interface AuditChainReader {
  /** Up to `limit` rows with id ≥ `fromId`, ascending. */
  readRange(fromId: string, limit: number): Promise<AuditRow[]>;
  /** The row_hash of the last row before `id`, or null when there is none. */
  rowHashBefore(id: string): Promise<string | null>;
  /** For each of `subjects` with a row before `id`, the row_hash of its last such row. */
  subjectHeadsBefore(id: string, subjects: string[]): Promise<Map<string, string>>;
  /** The first id that chains per subject (rows below it form the original single chain). */
  subjectChainsFrom(): Promise<string>;
}
