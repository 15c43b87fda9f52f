// `audit verify`: walks the stored chain in keyset batches and reports the first break.
import { type ChainBreak, GENESIS_HASH, verifyChain } from "./chain";
import type { AuditChainReader } from "./ports";

export type AuditLogVerdict =
  | { ok: true; count: number; head: string; lastId: string | null }
  | { ok: false; count: number; id: string; reason: ChainBreak };

export const CHAIN_BREAK_EXPLANATIONS: Readonly<Record<ChainBreak, string>> = {
  row_hash_mismatch: "its content does not match its row_hash (the row was edited)",
  prev_hash_mismatch:
    "its prev_hash is not the row_hash of the row before it (a row was deleted, inserted or moved)",
  id_order: "ids are out of order",
};

/**
 * Verifies the chain from `fromId` (default: the first row) to the end. Starting mid-chain, the
 * first row must chain onto the stored row_hash of the row before it. Deleting the newest rows
 * leaves a shorter chain that still verifies; `head` is what to record elsewhere to catch that.
 */
export async function verifyAuditLog(
  reader: AuditChainReader,
  opts: { fromId?: string; batchSize?: number; onBatch?: (verified: number) => void } = {},
): Promise<AuditLogVerdict> {
  const batchSize = opts.batchSize ?? 1000;
  let fromId = BigInt(opts.fromId ?? "1");
  let prev =
    opts.fromId === undefined
      ? GENESIS_HASH
      : ((await reader.rowHashBefore(fromId.toString())) ?? GENESIS_HASH);
  let count = 0;
  let lastId: string | null = null;
  for (;;) {
    const rows = await reader.readRange(fromId.toString(), batchSize);
    const verdict = verifyChain(rows, prev);
    if (!verdict.ok) {
      return { ok: false, count: count + verdict.count, id: verdict.id, reason: verdict.reason };
    }
    count += verdict.count;
    opts.onBatch?.(count);
    const last = rows.at(-1);
    if (!last) return { ok: true, count, head: prev, lastId };
    prev = verdict.head;
    lastId = last.id;
    fromId = BigInt(last.id) + 1n;
    if (rows.length < batchSize) return { ok: true, count, head: prev, lastId };
  }
}
