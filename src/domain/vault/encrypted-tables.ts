// Where encrypted columns live, and under which ring. Rotation, the start-up canary, the
// `master-key`/`account-key` commands and the move between rings walk this list, so a new
// encrypted column is covered by adding it here.
import type { RingName } from "./key-ring";

export interface EncryptedTable {
  table: string;
  /** A strictly increasing integer key, for keyset pagination. */
  idColumn: string;
  /** One version per row: every encrypted column of a row is under the same key. */
  versionColumn: string;
  columns: readonly string[];
  /** Set to now() whenever the row is re-encrypted under a newer key. */
  rotatedAtColumn?: string;
  /** The ring this entry's rows are encrypted under. */
  ring: RingName;
  /**
   * For a table whose rows may be under either ring (account secrets written before the
   * split are under MASTER_KEYS until `account-key migrate` moves them): the column that
   * records each row's ring. This entry then covers only the rows naming `ring`.
   */
  ringColumn?: string;
}

const totp = {
  table: "users",
  idColumn: "id",
  versionColumn: "totp_key_version",
  columns: ["totp_secret"],
  ringColumn: "totp_key_ring",
} as const;

export const ENCRYPTED_TABLES: readonly EncryptedTable[] = [
  {
    table: "exchange_credentials",
    idColumn: "id",
    versionColumn: "encryption_key_version",
    columns: ["api_key", "secret", "private_key"],
    rotatedAtColumn: "rotated_at",
    ring: "master",
  },
  // TOTP secrets: under ACCOUNT_KEYS; those written before the split stay readable (and
  // rotate) under MASTER_KEYS until they are moved.
  { ...totp, ring: "account" },
  { ...totp, ring: "master" },
];

/** The entries whose rows `ring` encrypts: what its rotation and its canary cover. */
export function tablesUnder(ring: RingName, tables = ENCRYPTED_TABLES): EncryptedTable[] {
  return tables.filter((t) => t.ring === ring);
}

/**
 * Account secrets still under MASTER_KEYS, each paired with where they go (the same table
 * under ACCOUNT_KEYS): what `account-key migrate` moves.
 */
export function accountMoves(
  tables = ENCRYPTED_TABLES,
): Array<{ from: EncryptedTable; to: EncryptedTable }> {
  return tables.flatMap((to) => {
    if (to.ring !== "account" || !to.ringColumn) return [];
    const from = tables.find((t) => t.table === to.table && t.ring === "master");
    return from ? [{ from, to }] : [];
  });
}

/** How a report names an entry: the table, and the ring where a table has rows under both. */
export function entryName(t: EncryptedTable): string {
  return t.ringColumn ? `${t.table} (${t.ring} ring)` : t.table;
}
