import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  type AuditRow,
  auditSubject,
  canonicalEncoding,
  canonicalTimestamp,
  chainCursor,
  encodingParts,
  GENESIS_HASH,
  rowHash,
  verifyChain,
} from "../../../../src/domain/audit";

// Expected values computed independently (Python: json.dumps(sort_keys=True,
// separators=(",", ":"), ensure_ascii=False), hashlib.sha256, hmac).
const KNOWN_CANONICAL =
  '{"action":"open","details":{"leverage":5,"nested":{"a":[2,{"c":"x","d":null}],"b":1},"note":"café ✓","side":"long","size":"0.01"},"id":"42","ip":"203.0.113.9","occurred_at":"2026-11-24T12:00:00.123456Z","outcome":"ok","prev_hash":"0000000000000000000000000000000000000000000000000000000000000000","source":"api","subject":"abababababababababababababababababababababababababababababababab","symbol":"BTC/USDT:USDT","trade_id":"7","venue":"binanceusdm"}';
const KNOWN_HASH = "125a48ab55750766de0d240b2bbac2db8f4ff3bd8bbc44a9babded7818a331fc";

const known = (): Omit<AuditRow, "rowHash" | "prevHash"> => ({
  id: "42",
  occurredAt: "2026-11-24T12:00:00.123456Z",
  subject: "ab".repeat(32),
  action: "open",
  tradeId: "7",
  venue: "binanceusdm",
  symbol: "BTC/USDT:USDT",
  details: {
    size: "0.01",
    side: "long",
    leverage: 5,
    nested: { b: 1, a: [2, { d: null, c: "x" }] },
    note: "café ✓",
  },
  source: "api",
  ip: "203.0.113.9",
  outcome: "ok",
});

/** A valid chain of `n` rows with ids starting at `firstId`, step `step`. */
function chain(n: number, firstId = 1, step = 1): AuditRow[] {
  const rows: AuditRow[] = [];
  let prev = GENESIS_HASH;
  for (let i = 0; i < n; i++) {
    const content = {
      ...known(),
      id: String(firstId + i * step),
      occurredAt: `2026-11-24T12:00:${String(i % 60).padStart(2, "0")}.000001Z`,
      tradeId: i % 3 === 0 ? null : String(100 + i),
      details: { seq: i },
    };
    const rowHashValue = rowHash(prev, content);
    rows.push({ ...content, prevHash: prev, rowHash: rowHashValue });
    prev = rowHashValue;
  }
  return rows;
}

describe("audit subject", () => {
  it("when a user id is hashed under a pepper, then it is the hex HMAC-SHA256 (known answer) and another pepper gives another subject", () => {
    const pepper = Buffer.from("pepper-of-at-least-32-bytes-long!!");
    expect(auditSubject(pepper, "12345")).toBe(
      "ddbc7762b8dbb64e87dd44c264f70fb1bcf18d28c9310c2710a95000c944c912",
    );
    expect(auditSubject(Buffer.from("another-pepper-of-32-bytes-long!!!"), "12345")).not.toBe(
      auditSubject(pepper, "12345"),
    );
  });
});

describe("canonical encoding", () => {
  it("when a known row is encoded and hashed, then both match the independently computed answers", () => {
    expect(canonicalEncoding({ ...known(), prevHash: GENESIS_HASH })).toBe(KNOWN_CANONICAL);
    expect(rowHash(GENESIS_HASH, known())).toBe(KNOWN_HASH);
  });

  it("when the same row is built with its keys (and nested detail keys) in another order, then the encoding and hash do not change", () => {
    const a = known();
    const b: typeof a = {
      outcome: "ok",
      ip: "203.0.113.9",
      source: "api",
      details: {
        note: "café ✓",
        nested: { a: [2, { c: "x", d: null }], b: 1 },
        leverage: 5,
        side: "long",
        size: "0.01",
      },
      symbol: "BTC/USDT:USDT",
      venue: "binanceusdm",
      tradeId: "7",
      action: "open",
      subject: "ab".repeat(32),
      occurredAt: "2026-11-24T12:00:00.123456Z",
      id: "42",
    };
    expect(canonicalEncoding({ ...b, prevHash: GENESIS_HASH })).toBe(KNOWN_CANONICAL);
    expect(rowHash(GENESIS_HASH, b)).toBe(KNOWN_HASH);
  });

  it("when the timestamp is given as a Date, with fewer digits or as +00:00, then it is encoded as UTC with six fractional digits", () => {
    expect(canonicalTimestamp(new Date("2026-11-24T12:00:00.123Z"))).toBe(
      "2026-11-24T12:00:00.123000Z",
    );
    expect(canonicalTimestamp("2026-11-24T12:00:00.5Z")).toBe("2026-11-24T12:00:00.500000Z");
    expect(canonicalTimestamp("2026-11-24T12:00:00+00:00")).toBe("2026-11-24T12:00:00.000000Z");
    expect(() => canonicalTimestamp("2026-11-24T13:00:00+01:00")).toThrow(/UTC/);
  });

  it("when any one field changes, even by a microsecond, then the hash changes", () => {
    const base = rowHash(GENESIS_HASH, known());
    const variants: Array<Partial<ReturnType<typeof known>>> = [
      { id: "43" },
      { occurredAt: "2026-11-24T12:00:00.123457Z" },
      { subject: "cd".repeat(32) },
      { action: "close" },
      { tradeId: null },
      { venue: "bybit" },
      { symbol: "ETH/USDT:USDT" },
      { details: { size: "0.02" } },
      { source: "telegram" },
      { ip: null },
      { outcome: "failed" },
    ];
    for (const v of variants) expect(rowHash(GENESIS_HASH, { ...known(), ...v })).not.toBe(base);
    expect(rowHash("1".repeat(64), known())).not.toBe(base);
  });
});

describe("encoding parts (the append hashes its row in SQL)", () => {
  it("when the database's values are put between the parts as the append's SQL does, then the text is the canonical encoding and hashes to rowHash", () => {
    const assemble = (row: Omit<AuditRow, "rowHash" | "prevHash">, prev: string) => {
      const p = encodingParts(row);
      const quoted = (v: string | null) => (v === null ? "null" : `"${v}"`);
      return `${p[0]}${row.id}${p[1]}${quoted(row.ip?.toLowerCase() ?? null)}${p[2]}${row.occurredAt}${p[3]}${prev}${p[4]}${quoted(row.tradeId)}${p[5]}`;
    };
    const rows = [
      known(),
      { ...known(), ip: null, tradeId: null },
      { ...known(), ip: "2001:db8::1", symbol: 'ODD?/"q" \\ ✓', details: { x: [1e21, 1e-7, -0] } },
    ];
    for (const row of rows) {
      for (const prev of [GENESIS_HASH, "a1".repeat(32)]) {
        const text = assemble(row, prev);
        expect(text).toBe(canonicalEncoding({ ...row, prevHash: prev }));
        expect(
          createHash("sha256")
            .update(prev + text, "utf8")
            .digest("hex"),
        ).toBe(rowHash(prev, row));
      }
    }
  });
});

describe("verifyChain", () => {
  it("when a chain is intact, including gaps in ids from rolled-back appends, then it verifies and returns the head", () => {
    const rows = chain(10, 1, 3);
    expect(verifyChain(rows, chainCursor())).toEqual({
      ok: true,
      count: 10,
      head: rows[9]!.rowHash,
    });
    expect(verifyChain([], chainCursor())).toEqual({ ok: true, count: 0, head: GENESIS_HASH });
  });

  it("when a row's content is edited, then it is reported at that row as row_hash_mismatch", () => {
    const rows = chain(5);
    rows[2] = { ...rows[2]!, symbol: "DOGE/USDT:USDT" };
    expect(verifyChain(rows, chainCursor())).toEqual({
      ok: false,
      id: "3",
      reason: "row_hash_mismatch",
      count: 2,
    });
  });

  it("when a row is edited and its own hash recomputed, then the next row reports prev_hash_mismatch", () => {
    const rows = chain(5);
    const edited = { ...rows[2]!, symbol: "DOGE/USDT:USDT" };
    rows[2] = { ...edited, rowHash: rowHash(edited.prevHash, edited) };
    expect(verifyChain(rows, chainCursor())).toMatchObject({
      ok: false,
      id: "4",
      reason: "prev_hash_mismatch",
    });
  });

  it("when a row is deleted, then the row after it reports prev_hash_mismatch", () => {
    const rows = chain(5);
    rows.splice(1, 1);
    expect(verifyChain(rows, chainCursor())).toEqual({
      ok: false,
      id: "3",
      reason: "prev_hash_mismatch",
      count: 1,
    });
  });

  it("when the first row is deleted, then the new first row does not chain onto genesis", () => {
    const rows = chain(3).slice(1);
    expect(verifyChain(rows, chainCursor())).toMatchObject({ ok: false, id: "2" });
  });

  it("when two rows swap ids, then the first of them fails its own hash", () => {
    const rows = chain(5);
    const [r2, r3] = [rows[1]!, rows[2]!];
    const swapped = [rows[0]!, { ...r3, id: r2.id }, { ...r2, id: r3.id }, rows[3]!, rows[4]!];
    expect(verifyChain(swapped, chainCursor())).toEqual({
      ok: false,
      id: "2",
      reason: "row_hash_mismatch",
      count: 1,
    });
  });

  it("when rows are handed in another order, then the first row out of place is reported, and a repeated or falling id is id_order", () => {
    const rows = chain(5);
    const reordered = [rows[0]!, rows[2]!, rows[1]!, rows[3]!, rows[4]!];
    expect(verifyChain(reordered, chainCursor())).toEqual({
      ok: false,
      id: "3",
      reason: "prev_hash_mismatch",
      count: 1,
    });
    const repeated = [rows[0]!, rows[1]!, rows[1]!];
    expect(verifyChain(repeated, chainCursor())).toEqual({
      ok: false,
      id: "2",
      reason: "id_order",
      count: 2,
    });
  });

  it("when verification starts mid-chain, then the subject's first row must chain onto its head there", () => {
    const rows = chain(6);
    const from = (head: string) => {
      const cursor = chainCursor();
      cursor.heads.set(rows[0]!.subject, head);
      return cursor;
    };
    expect(verifyChain(rows.slice(3), from(rows[2]!.rowHash))).toMatchObject({
      ok: true,
      count: 3,
    });
    expect(verifyChain(rows.slice(3), from(rows[1]!.rowHash))).toMatchObject({
      ok: false,
      id: "4",
      reason: "prev_hash_mismatch",
    });
  });
});

/** Rows of several subjects interleaved by id, each subject chaining onto its own previous row. */
function interleaved(subjects: string[], perSubject: number, subjectChainsFrom = 1n): AuditRow[] {
  const rows: AuditRow[] = [];
  const heads = new Map<string, string>();
  let last = GENESIS_HASH;
  let id = 1;
  for (let i = 0; i < perSubject; i++) {
    for (const subject of subjects) {
      const content = { ...known(), id: String(id), subject, details: { i } };
      const prev = BigInt(id) < subjectChainsFrom ? last : (heads.get(subject) ?? GENESIS_HASH);
      const hash = rowHash(prev, content);
      rows.push({ ...content, prevHash: prev, rowHash: hash });
      heads.set(subject, hash);
      last = hash;
      id++;
    }
  }
  return rows;
}

describe("verifyChain with one chain per subject", () => {
  const [a, b, c] = ["a1".repeat(32), "b2".repeat(32), "c3".repeat(32)];

  it("when three subjects' entries interleave, then each chains onto its own previous entry and all verify", () => {
    const rows = interleaved([a, b, c], 4);
    expect(rows[1]!.prevHash).toBe(GENESIS_HASH); // b's first entry
    expect(rows[3]!.prevHash).toBe(rows[0]!.rowHash); // a's second entry
    expect(verifyChain(rows, chainCursor())).toEqual({
      ok: true,
      count: 12,
      head: rows[11]!.rowHash,
    });
  });

  it("when one subject's middle entry is deleted, then that subject's next entry is reported", () => {
    const rows = interleaved([a, b, c], 4);
    rows.splice(4, 1); // b's second entry, id 5
    expect(verifyChain(rows, chainCursor())).toEqual({
      ok: false,
      id: "8",
      reason: "prev_hash_mismatch",
      count: 6,
    });
  });

  it("when an entry is re-labelled to another subject and its hash recomputed, then the next entry of either subject breaks", () => {
    const rows = interleaved([a, b], 3);
    const moved = { ...rows[2]!, subject: b }; // a's second entry, claimed for b
    rows[2] = { ...moved, rowHash: rowHash(moved.prevHash, moved) };
    expect(verifyChain(rows, chainCursor())).toMatchObject({
      ok: false,
      id: "3",
      reason: "prev_hash_mismatch",
    });
  });

  it("when the log was one chain before the switch to per-subject chains, then each part verifies under its own rule and a break on either side is found", () => {
    const rows = interleaved([a, b, c], 4, 7n);
    expect(rows[5]!.prevHash).toBe(rows[4]!.rowHash); // id 6: single chain
    expect(rows[6]!.prevHash).toBe(rows[3]!.rowHash); // id 7: a's previous entry, id 4
    expect(verifyChain(rows, chainCursor(7n))).toMatchObject({ ok: true, count: 12 });
    // Judged by the wrong rule, the same rows break where the rules differ.
    expect(verifyChain(rows, chainCursor(1n))).toMatchObject({ ok: false, id: "2" });
    const before = rows.filter((r) => r.id !== "3");
    expect(verifyChain(before, chainCursor(7n))).toMatchObject({ ok: false, id: "4" });
  });
});
