import { describe, expect, it } from "vitest";
import {
  type AuditChainReader,
  type AuditRow,
  GENESIS_HASH,
  rowHash,
  verifyAuditLog,
} from "../../../../src/domain/audit";

/** A chain of `n` rows with ids 1, 3, 5, … (gaps as rolled-back appends leave them). */
function chain(n: number): AuditRow[] {
  const rows: AuditRow[] = [];
  let prev = GENESIS_HASH;
  for (let i = 0; i < n; i++) {
    const content = {
      id: String(1 + 2 * i),
      occurredAt: "2026-11-24T12:00:00.000001Z",
      subject: "ab".repeat(32),
      action: "open" as const,
      tradeId: String(i),
      venue: "paper",
      symbol: "BTC/USDT:USDT",
      details: { i },
      source: "system" as const,
      ip: null,
      outcome: "ok" as const,
    };
    const hash = rowHash(prev, content);
    rows.push({ ...content, prevHash: prev, rowHash: hash });
    prev = hash;
  }
  return rows;
}

/** The stored chain as the verifier reads it, counting the batches it asked for. */
function reader(rows: AuditRow[], subjectChainsFrom = "1"): AuditChainReader & { batches: number } {
  return {
    batches: 0,
    async readRange(fromId, limit) {
      this.batches++;
      return rows.filter((r) => BigInt(r.id) >= BigInt(fromId)).slice(0, limit);
    },
    async rowHashBefore(id) {
      return rows.filter((r) => BigInt(r.id) < BigInt(id)).at(-1)?.rowHash ?? null;
    },
    async subjectHeadsBefore(id, subjects) {
      const heads = new Map<string, string>();
      for (const r of rows) {
        if (BigInt(r.id) < BigInt(id) && subjects.includes(r.subject))
          heads.set(r.subject, r.rowHash);
      }
      return heads;
    },
    async subjectChainsFrom() {
      return subjectChainsFrom;
    },
  };
}

describe("verifyAuditLog", () => {
  it("when the chain spans many batches, then it is walked to the end and the head is reported", async () => {
    const rows = chain(25);
    const r = reader(rows);
    expect(await verifyAuditLog(r, { batchSize: 4 })).toEqual({
      ok: true,
      count: 25,
      head: rows[24]!.rowHash,
      lastId: "49",
      subjects: 1,
    });
    expect(r.batches).toBe(7);
  });

  it("when the log is empty, then zero rows verify", async () => {
    expect(await verifyAuditLog(reader([]))).toEqual({
      ok: true,
      count: 0,
      head: GENESIS_HASH,
      lastId: null,
      subjects: 0,
    });
  });

  it("when a row is deleted on a batch boundary, then the break is reported at the next row", async () => {
    const rows = chain(12);
    rows.splice(4, 1); // id 9: the first row of the second batch of 4
    expect(await verifyAuditLog(reader(rows), { batchSize: 4 })).toEqual({
      ok: false,
      count: 4,
      id: "11",
      reason: "prev_hash_mismatch",
    });
  });

  it("when verification starts at a row id, then it chains onto the stored hash before it and counts from there", async () => {
    const rows = chain(10);
    rows[1] = { ...rows[1]!, symbol: "EDITED" }; // id 3, before the start
    expect(await verifyAuditLog(reader(rows), { fromId: "7", batchSize: 3 })).toMatchObject({
      ok: true,
      count: 7,
    });
    expect(await verifyAuditLog(reader(rows), { fromId: "2" })).toMatchObject({
      ok: false,
      id: "3",
      reason: "row_hash_mismatch",
    });
  });

  it("when verification starts at a row id and a subject's earlier entries lie before it, then its first entry in range chains onto the stored head", async () => {
    const rows = chain(10); // one subject
    const other = { ...rows[0]!, id: "4", subject: "cd".repeat(32), details: { other: true } };
    const otherRow = { ...other, prevHash: GENESIS_HASH, rowHash: rowHash(GENESIS_HASH, other) };
    const mixed = [...rows, otherRow].sort((x, y) => Number(BigInt(x.id) - BigInt(y.id)));
    expect(await verifyAuditLog(reader(mixed), { fromId: "3", batchSize: 2 })).toMatchObject({
      ok: true,
      count: 10,
      subjects: 2,
    });
    // The other subject's only entry, from a start past it: nothing of it is in range.
    expect(await verifyAuditLog(reader(mixed), { fromId: "5" })).toMatchObject({
      ok: true,
      count: 8,
    });
  });
});
