// `audit verify`: walks the stored log in keyset batches and reports the first break.
import { type ChainBreak, chainCursor, GENESIS_HASH, verifyChain } from "./chain";
import type { AuditChainReader } from "./ports";

export type AuditLogVerdict =
  | { ok: true; count: number; head: string; lastId: string | null; subjects: number }
  | { ok: false; count: number; id: string; reason: ChainBreak };

export const CHAIN_BREAK_EXPLANATIONS: Readonly<Record<ChainBreak, string>> = {
  row_hash_mismatch: "its content does not match its row_hash (the row was edited)",
  prev_hash_mismatch:
    "its prev_hash is not the row_hash of the entry before it in its chain (an entry was deleted, inserted or moved)",
  id_order: "ids are out of order",
};

/**
 * Verifies every chain from `fromId` (default: the first row) to the end. Starting mid-log, each
 * subject's first row must chain onto the stored row_hash of that subject's row before it.
 * Deleting a subject's newest rows leaves a shorter chain that still verifies; `head` and
 * `lastId` (the newest row) are what to record elsewhere to catch that.
 */
export async function verifyAuditLog(
  reader: AuditChainReader,
  opts: { fromId?: string; batchSize?: number; onBatch?: (verified: number) => void } = {},
): Promise<AuditLogVerdict> {
  const batchSize = opts.batchSize ?? 1000;
  const midLog = opts.fromId !== undefined && opts.fromId !== "1";
  let fromId = BigInt(opts.fromId ?? "1");
  const cursor = chainCursor(
    BigInt(await reader.subjectChainsFrom()),
    midLog ? ((await reader.rowHashBefore(fromId.toString())) ?? GENESIS_HASH) : GENESIS_HASH,
  );
  const startId = fromId.toString();
  const lookedUp = new Set<string>();
  let count = 0;
  for (;;) {
    const rows = await reader.readRange(fromId.toString(), batchSize);
    if (midLog) {
      // Subjects met for the first time: where their chains stood before the starting row.
      const fresh = [...new Set(rows.map((r) => r.subject))].filter((s) => !lookedUp.has(s));
      if (fresh.length > 0) {
        for (const [subject, hash] of await reader.subjectHeadsBefore(startId, fresh)) {
          if (!cursor.heads.has(subject)) cursor.heads.set(subject, hash);
        }
        for (const s of fresh) lookedUp.add(s);
      }
    }
    const verdict = verifyChain(rows, cursor);
    if (!verdict.ok) {
      return { ok: false, count: count + verdict.count, id: verdict.id, reason: verdict.reason };
    }
    count += verdict.count;
    opts.onBatch?.(count);
    if (rows.length < batchSize) break;
    fromId = BigInt(rows.at(-1)!.id) + 1n;
  }
  return {
    ok: true,
    count,
    head: cursor.lastHash,
    lastId: cursor.lastId === null ? null : cursor.lastId.toString(),
    subjects: cursor.heads.size,
  };
}
