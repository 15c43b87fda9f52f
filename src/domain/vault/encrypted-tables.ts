// Where encrypted columns live. Rotation, the start-up canary and `master-key status` walk
// this list, so a new encrypted column (the TOTP secret, say) is covered by adding it here.

export interface EncryptedTable {
  table: string;
  /** A strictly increasing integer key, for keyset pagination. */
  idColumn: string;
  /** One version per row: every encrypted column of a row is under the same master key. */
  versionColumn: string;
  columns: readonly string[];
  /** Set to now() whenever the row is re-encrypted under a newer master key. */
  rotatedAtColumn?: string;
}

export const ENCRYPTED_TABLES: readonly EncryptedTable[] = [
  {
    table: "exchange_credentials",
    idColumn: "id",
    versionColumn: "encryption_key_version",
    columns: ["api_key", "secret", "private_key"],
    rotatedAtColumn: "rotated_at",
  },
  {
    table: "users",
    idColumn: "id",
    versionColumn: "totp_key_version",
    columns: ["totp_secret"],
  },
];
