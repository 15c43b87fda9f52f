// Re-encryption of every encrypted column below a ring's current version, and the move of
// account secrets from MASTER_KEYS to ACCOUNT_KEYS, in batches: resumable (progress is the
// data itself), idempotent, and never overwriting a concurrent edit.
import { type EncryptedTable, entryName, tablesUnder } from "./encrypted-tables";
import { InvalidFernetToken } from "./fernet";
import { type AccountKeyRing, type ExchangeKeyRing, type KeyRing, RING_VARIABLE } from "./key-ring";

export interface StoredRow {
  /** bigint as a string, so ids beyond 2^53 stay exact. */
  id: string;
  version: number;
  /** Opaque marker of the row's current state; the update applies only if it is unchanged. */
  rowVersion: string;
  values: Record<string, string | null>;
}

/** Storage the vault needs; the PostgreSQL adapter lives in src/infra. */
export interface VaultStore {
  /** Rows holding a token, by version; each entry covers its `ring`'s rows only (EncryptedTable.ringColumn). */
  versionCounts(table: EncryptedTable): Promise<Array<{ version: number; rows: number }>>;
  /** Any one stored token of that version, to prove the key decrypts it. */
  sampleToken(table: EncryptedTable, version: number): Promise<string | null>;
  /** Rows below `belowVersion` (null: every version), in id order after `afterId`. */
  fetchBelow(
    table: EncryptedTable,
    belowVersion: number | null,
    afterId: string | null,
    limit: number,
  ): Promise<StoredRow[]>;
  /**
   * Writes the rows whose rowVersion still matches, at `version` of the entry's ring (which
   * is recorded too where the table has a ring column); returns how many were written.
   */
  applyRotated(table: EncryptedTable, version: number, rows: StoredRow[]): Promise<number>;
}

export interface RotationProgress {
  table: string;
  rotated: number;
  skippedConcurrent: number;
  failed: number;
}

export interface RotationReport {
  toVersion: number;
  tables: RotationProgress[];
  /** Rows still below the current version (concurrently written with an old key, or failed). */
  remaining: number;
  /** Ids of rows whose tokens do not decrypt under their recorded version. No secrets. */
  failedIds: string[];
}

export interface RotationDeps {
  store: VaultStore;
  keyRing: KeyRing;
  tables: readonly EncryptedTable[];
  batchSize?: number;
  /** Extra passes pick up rows written with an old key while a pass was running. */
  maxPasses?: number;
  onProgress?: (p: RotationProgress) => void | Promise<void>;
  signal?: AbortSignal;
}

/** Re-encrypts the rows of `keyRing`'s ring (only those, of the tables given) to its current version. */
export async function rotateAll(deps: RotationDeps): Promise<RotationReport> {
  const { store, keyRing } = deps;
  const toVersion = keyRing.currentVersion;
  const report: RotationReport = { toVersion, tables: [], remaining: 0, failedIds: [] };
  for (const table of tablesUnder(keyRing.ring, deps.tables)) {
    const progress = await rewriteEntry(deps, {
      from: { table, ring: keyRing },
      to: { table, ring: keyRing },
      belowVersion: toVersion,
      name: entryName(table),
      failedIds: report.failedIds,
    });
    report.tables.push(progress);
    const counts = await store.versionCounts(table);
    report.remaining += counts.filter((c) => c.version < toVersion).reduce((n, c) => n + c.rows, 0);
  }
  return report;
}

export interface MoveReport {
  toVersion: number;
  tables: RotationProgress[];
  /** Account rows still under MASTER_KEYS (written by an old process meanwhile, or failed). */
  remaining: number;
  failedIds: string[];
}

/**
 * Moves account secrets still under MASTER_KEYS (written before the split) to ACCOUNT_KEYS'
 * current version, keeping each token's timestamp. Until a row is moved it still decrypts
 * under the ring it records; a second run finds nothing to move.
 */
export async function moveToAccountRing(
  deps: Omit<RotationDeps, "keyRing" | "tables"> & {
    from: ExchangeKeyRing;
    to: AccountKeyRing;
    moves: ReadonlyArray<{ from: EncryptedTable; to: EncryptedTable }>;
  },
): Promise<MoveReport> {
  const toVersion = deps.to.currentVersion;
  const report: MoveReport = { toVersion, tables: [], remaining: 0, failedIds: [] };
  for (const move of deps.moves) {
    const progress = await rewriteEntry(deps, {
      from: { table: move.from, ring: deps.from },
      to: { table: move.to, ring: deps.to },
      belowVersion: null,
      name: move.to.table,
      failedIds: report.failedIds,
    });
    report.tables.push(progress);
    const counts = await deps.store.versionCounts(move.from);
    report.remaining += counts.reduce((n, c) => n + c.rows, 0);
  }
  return report;
}

/**
 * Passes over one entry's rows below `belowVersion` (null: all), each row re-encrypted from
 * its version in `from.ring` to `to.ring`'s current version and written to `to.table`, until a
 * pass finds nothing or maxPasses (extra passes pick up rows written with an old key while a
 * pass was running). Ids of rows that do not decrypt go to `failedIds`.
 */
async function rewriteEntry(
  deps: Omit<RotationDeps, "keyRing" | "tables">,
  entry: {
    from: { table: EncryptedTable; ring: KeyRing };
    to: { table: EncryptedTable; ring: KeyRing };
    belowVersion: number | null;
    name: string;
    failedIds: string[];
  },
): Promise<RotationProgress> {
  const progress: RotationProgress = {
    table: entry.name,
    rotated: 0,
    skippedConcurrent: 0,
    failed: 0,
  };
  const failed = new Set<string>();
  for (let pass = 0; pass < (deps.maxPasses ?? 5); pass++) {
    const touched = await rewriteBelow({
      store: deps.store,
      table: entry.from.table,
      target: entry.to.table,
      belowVersion: entry.belowVersion,
      toVersion: entry.to.ring.currentVersion,
      batchSize: deps.batchSize ?? 1000,
      signal: deps.signal,
      transform: (rows) => {
        const failedBefore = failed.size;
        const out = rotateBatch(entry.to.ring, entry.from.ring, entry.from.table, rows, failed);
        progress.failed += failed.size - failedBefore;
        return out;
      },
      onWritten: async (sent, written) => {
        progress.rotated += written;
        progress.skippedConcurrent += sent - written;
        await deps.onProgress?.({ ...progress });
      },
    });
    if (touched === 0) break;
  }
  entry.failedIds.push(...failed);
  return progress;
}

/**
 * One pass over the rows below `belowVersion` in id order: each batch read, transformed and
 * written back at `toVersion` by the store's guarded write. Pipelined and bounded: while batch
 * N is written, batch N+1 is transformed and batch N+2 read, never more than those three in
 * memory. The batches cover disjoint id ranges, so the overlap cannot change what any one
 * sees. Returns how many rows were handed to the store. rotateAll runs it with re-encryption
 * as the transform; the rotation bench runs it with none (its I/O floor).
 */
export async function rewriteBelow(opts: {
  store: VaultStore;
  table: EncryptedTable;
  /** Where the rows are written, when they move to another ring's entry; `table` otherwise. */
  target?: EncryptedTable;
  belowVersion: number | null;
  toVersion: number;
  batchSize: number;
  transform: (rows: StoredRow[]) => StoredRow[];
  onWritten?: (sent: number, written: number) => void | Promise<void>;
  signal?: AbortSignal | undefined;
}): Promise<number> {
  const { store, table, batchSize } = opts;
  let touched = 0;
  let writing: Promise<void> | null = null;
  const read = (afterId: string | null) =>
    store.fetchBelow(table, opts.belowVersion, afterId, batchSize);
  let reading: Promise<StoredRow[]> | null = read(null);
  try {
    while (reading) {
      opts.signal?.throwIfAborted();
      const rows: StoredRow[] = await reading;
      reading = null;
      if (rows.length === 0) break;
      // A short batch is the last one: no read past the end.
      if (rows.length === batchSize) reading = read(rows[rows.length - 1]!.id);
      const out = opts.transform(rows);
      touched += out.length;
      if (writing) await writing;
      writing = (async () => {
        const written = out.length
          ? await store.applyRotated(opts.target ?? table, opts.toVersion, out)
          : 0;
        await opts.onWritten?.(out.length, written);
      })();
    }
  } finally {
    // Nothing stays in flight: a read's failure no longer matters once we stop, a write's does.
    if (reading) await reading.catch(() => {});
    if (writing) await writing;
  }
  return touched;
}

/**
 * Re-encrypts every token of the batch in one call, from its recorded version in `from` to
 * `to`'s current version. A row with a token that does not decrypt under its recorded version
 * (corrupt) is added to `failed` and left out: it must not stop every other row from rotating,
 * and it is reported. Rows already in `failed` are skipped.
 */
function rotateBatch(
  to: KeyRing,
  from: KeyRing,
  table: EncryptedTable,
  rows: readonly StoredRow[],
  failed: Set<string>,
): StoredRow[] {
  const pending = rows.filter((row) => !failed.has(row.id));
  const tokens: Array<{ token: string; version: number }> = [];
  for (const row of pending) {
    for (const column of table.columns) {
      const token = row.values[column] ?? null;
      if (token !== null) tokens.push({ token, version: row.version });
    }
  }
  const fresh = to.rotateMany(tokens, from);
  const rotated: StoredRow[] = [];
  let next = 0;
  for (const row of pending) {
    const values: Record<string, string | null> = {};
    let ok = true;
    for (const column of table.columns) {
      if ((row.values[column] ?? null) === null) {
        values[column] = null;
        continue;
      }
      const token = fresh[next++];
      if (token === undefined) ok = false;
      values[column] = token ?? null;
    }
    if (ok) rotated.push({ ...row, values });
    else failed.add(row.id);
  }
  return rotated;
}

export class KeyRingCoverageError extends Error {
  readonly code = "MASTER_KEYS_INCOMPLETE";
  constructor(message: string) {
    super(message);
    this.name = "KeyRingCoverageError";
  }
}

/**
 * The start-up canary: every version still used by a row must be in the ring, and its key must
 * decrypt one stored token of that version. Throws naming the version and how many rows use it.
 */
export async function verifyKeyRingCoverage(deps: {
  store: VaultStore;
  keyRing: KeyRing;
  tables: readonly EncryptedTable[];
}): Promise<void> {
  const variable = RING_VARIABLE[deps.keyRing.ring];
  for (const table of tablesUnder(deps.keyRing.ring, deps.tables)) {
    for (const { version, rows } of await deps.store.versionCounts(table)) {
      if (!deps.keyRing.has(version)) {
        throw new KeyRingCoverageError(
          `${variable} lacks version ${version}, still used by ${rows} row(s) in ${table.table}; ` +
            `add it back until rotation has re-encrypted them`,
        );
      }
      const token = await deps.store.sampleToken(table, version);
      if (token === null) continue;
      try {
        deps.keyRing.decrypt(version, token).fill(0);
      } catch (err) {
        if (!(err instanceof InvalidFernetToken)) throw err;
        throw new KeyRingCoverageError(
          `${variable} version ${version} is not the key that encrypted ${table.table} ` +
            `(${rows} row(s) use version ${version}); restore the original key for that version`,
        );
      }
    }
  }
}
