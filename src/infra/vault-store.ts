// The vault's PostgreSQL storage: version counts, keyset batches, and a batch update guarded by
// each row's xmin so a row edited after it was read is left for the next pass.
import type { EncryptedTable, StoredRow, VaultStore } from "../domain/vault";

/** Runs SQL with `?` placeholders and returns the rows (MikroORM's connection.execute). */
export type Sql = (sql: string, params?: unknown[]) => Promise<Array<Record<string, unknown>>>;

const ident = (name: string) => {
  // Names come from ENCRYPTED_TABLES (code, never input); quoting keeps them exact anyway.
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad identifier ${name}`);
  return `"${name}"`;
};

/**
 * One comma-separated text of the values, null as the empty string (string_to_array's null
 * marker; no token, id or xid is empty or has a comma: Fernet tokens are base64url). A batch of
 * one null gives '', an empty array: unnest pads the shorter arrays with nulls, the same thing.
 */
function joined(values: ReadonlyArray<string | null>): string {
  for (const v of values) {
    if (v === "" || v?.includes(","))
      throw new Error("vault store: a value is empty or has a comma");
  }
  return values.map((v) => v ?? "").join(",");
}

/**
 * The condition that keeps an entry to its ring's rows (where a table records the ring), as
 * SQL with `alias.` before the column, and its parameter. Ring names come from code.
 */
function ringFilter(t: EncryptedTable, alias = ""): { sql: string; params: string[] } {
  if (!t.ringColumn) return { sql: "", params: [] };
  return { sql: ` and ${alias}${ident(t.ringColumn)} = ?`, params: [t.ring] };
}

export function createVaultStore(sql: Sql): VaultStore {
  return {
    async versionCounts(t) {
      const ring = ringFilter(t);
      // A row with no token (a paper key, a revoked key's destroyed material) needs no key: its
      // version column is whatever ring wrote the row (a process without MASTER_KEYS too).
      const coalesced = t.columns.map(ident).join(", ");
      const rows = await sql(
        `select ${ident(t.versionColumn)} as version, count(*)::int as rows from ${ident(t.table)}
         where ${ident(t.versionColumn)} is not null and coalesce(${coalesced}) is not null${ring.sql}
         group by 1 order by 1`,
        ring.params,
      );
      return rows.map((r) => ({ version: Number(r.version), rows: Number(r.rows) }));
    },

    async sampleToken(t, version) {
      const coalesced = t.columns.map(ident).join(", ");
      const ring = ringFilter(t);
      const rows = await sql(
        `select coalesce(${coalesced}) as token from ${ident(t.table)}
         where ${ident(t.versionColumn)} = ? and coalesce(${coalesced}) is not null${ring.sql}
         limit 1`,
        [version, ...ring.params],
      );
      return (rows[0]?.token as string | undefined) ?? null;
    },

    async fetchBelow(t, belowVersion, afterId, limit) {
      const cols = t.columns.map((c) => `r.${ident(c)}`).join(", ");
      const id = `r.${ident(t.idColumn)}`;
      const ring = ringFilter(t, "r.");
      const below = belowVersion === null ? "is not null" : "< ?";
      // Order by the bigint column itself (not the text alias), or the keyset would skip rows.
      const rows = await sql(
        `select ${id}::text as id, r.${ident(t.versionColumn)} as version,
                r.xmin::text as row_version, ${cols}
         from ${ident(t.table)} as r
         where ${id} > ?::bigint and r.${ident(t.versionColumn)} ${below}${ring.sql}
         order by ${id} limit ?`,
        [afterId ?? "0", ...(belowVersion === null ? [] : [belowVersion]), ...ring.params, limit],
      );
      return rows.map(
        (r): StoredRow => ({
          id: r.id as string,
          version: Number(r.version),
          rowVersion: r.row_version as string,
          values: Object.fromEntries(t.columns.map((c) => [c, (r[c] as string | null) ?? null])),
        }),
      );
    },

    async applyRotated(t, version, rows) {
      // One statement per batch, atomic and one round trip: each column goes as one
      // comma-separated text, split server-side and unnested in step with the ids and the xmin
      // each row was read at, so a row changed since it was read (another xmin) is left as it
      // is; only the count comes back. (Text, not arrays: the test's knex path would expand an
      // array parameter into a list; and joining is cheaper than quoting every element.)
      const sets = t.columns.map((c) => `${ident(c)} = v.${ident(c)}`).join(", ");
      const lists = t.columns.map(() => ", string_to_array(?::text, ',', '')").join("");
      const names = t.columns.map(ident).join(", ");
      const rotatedAt = t.rotatedAtColumn ? `, ${ident(t.rotatedAtColumn)} = now()` : "";
      // The row's ring is written too: a row moved between rings records its new one. The
      // xmin guard already keeps out a row changed (its ring included) since it was read.
      const ring = t.ringColumn ? `, ${ident(t.ringColumn)} = ?::text` : "";
      const result = await sql(
        `with written as (
           update ${ident(t.table)} as c
           set ${sets}, ${ident(t.versionColumn)} = ?::int${ring}${rotatedAt}
           from unnest(string_to_array(?::text, ',')::bigint[],
                       string_to_array(?::text, ',')::xid[]${lists})
                as v(id, row_version, ${names})
           where c.${ident(t.idColumn)} = v.id and c.xmin = v.row_version
           returning 1)
         select count(*)::int as written from written`,
        [
          version,
          ...(t.ringColumn ? [t.ring] : []),
          joined(rows.map((r) => r.id)),
          joined(rows.map((r) => r.rowVersion)),
          ...t.columns.map((c) => joined(rows.map((r) => r.values[c] ?? null))),
        ],
      );
      return Number(result[0]?.written ?? 0);
    },
  };
}
