// The backup format on its own (no database): round trips at the edges of the chunk size, and
// the reader's refusals that need no pg_dump to show.
import { randomBytes } from "node:crypto";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { describe, expect, it } from "vitest";
import {
  BackupFormatError,
  createBackupDecryptor,
  createBackupEncryptor,
  MAX_CHUNK_BYTES,
} from "../../../../src/domain/backup";
import { decrypt, generateFernetKey, parseFernetKey } from "../../../../src/domain/vault/fernet";

const key = parseFernetKey(generateFernetKey());

async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  await pipeline(
    stream,
    new Writable({
      write(c: Buffer, _e, cb) {
        parts.push(c);
        cb();
      },
    }),
  );
  return Buffer.concat(parts);
}

async function seal(data: Buffer, chunkBytes: number, pieces = 7): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let i = 0; i < pieces; i++) {
    parts.push(
      data.subarray(
        Math.floor((i * data.length) / pieces),
        Math.floor(((i + 1) * data.length) / pieces),
      ),
    );
  }
  return collect(
    Readable.from(parts).pipe(createBackupEncryptor({ key, content: "test", chunkBytes })),
  );
}

async function open(file: Buffer, feed = 1000) {
  const parts: Buffer[] = [];
  for (let i = 0; i < file.length; i += feed) parts.push(file.subarray(i, i + feed));
  const d = createBackupDecryptor({ key });
  const data = await collect(Readable.from(parts).pipe(d));
  return { data, summary: d.summary() };
}

describe("backup format", () => {
  it.each([
    [0, 0],
    [1, 1],
    [100, 1],
    [1000, 10],
    [1001, 11],
  ])(
    "when %i bytes are sealed in 100-byte chunks, then they read back exactly in %i data chunks",
    async (n, chunks) => {
      const data = randomBytes(n);
      const file = await seal(data, 100);
      const { data: back, summary } = await open(file, 37);
      expect(back.equals(data)).toBe(true);
      expect(summary).toMatchObject({
        chunks,
        bytes: n,
        header: { chunkBytes: 100, content: "test" },
      });
      // One token per line after the magic line, each a standard Fernet token.
      const lines = file.toString("latin1").split("\n");
      expect(lines).toHaveLength(chunks + 4);
      for (const l of lines.slice(1, -1)) expect(() => decrypt(key, l)).not.toThrow();
    },
  );

  it("when the chunk size is out of range, then the writer refuses it", () => {
    expect(() => createBackupEncryptor({ key, content: "x", chunkBytes: 0 })).toThrow(RangeError);
    expect(() =>
      createBackupEncryptor({ key, content: "x", chunkBytes: MAX_CHUNK_BYTES + 1 }),
    ).toThrow(RangeError);
  });

  it.each([
    ["an empty file", Buffer.alloc(0), "not_a_backup"],
    ["another kind of file", Buffer.from("PGDMP\u0001\u000e\n"), "not_a_backup"],
    ["the magic line alone", Buffer.from("WARDEN-BACKUP 1\n"), "truncated"],
    [
      "a line longer than any chunk",
      Buffer.concat([Buffer.from("WARDEN-BACKUP 1\n"), Buffer.alloc(MAX_CHUNK_BYTES * 2, 65)]),
      "malformed",
    ],
  ])("when the reader is given %s, then it fails with %s", async (_l, file, code) => {
    const err = await open(file, 1 << 20).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackupFormatError);
    expect((err as BackupFormatError).code).toBe(code);
  });

  it("when the header token is moved after a data token, then the reader refuses the file", async () => {
    const lines = (await seal(randomBytes(300), 100)).toString("latin1").split("\n");
    const moved = [lines[0], lines[2], lines[1], ...lines.slice(3)].join("\n");
    const err = await open(Buffer.from(moved, "latin1")).catch((e: unknown) => e);
    expect((err as BackupFormatError).code).toBe("out_of_order");
  });
});

describe("backup format, verify-only reading", () => {
  const verifyOnly = async (file: Buffer) => {
    const d = createBackupDecryptor({ key, verifyOnly: true });
    const out = await collect(Readable.from([file]).pipe(d));
    return { out, summary: d.summary() };
  };

  it("when a large backup is checked without decrypting its data, then it counts what a full read counts and emits nothing", async () => {
    // Sizes whose last chunk ends on and off a cipher block, and chunks big enough that only
    // their first blocks and padding are decrypted.
    for (const n of [3 * 65_536, 3 * 65_536 + 1, 2 * 65_536 + 15]) {
      const file = await seal(randomBytes(n), 65_536);
      const { out, summary } = await verifyOnly(file);
      expect(out.length).toBe(0);
      expect(summary).toEqual((await open(file, 4096)).summary);
    }
  });

  it("when a byte deep inside a large data chunk is flipped, then the verify-only reader refuses the file", async () => {
    const file = await seal(randomBytes(4 * 65_536), 65_536);
    const lines = file.toString("latin1").split("\n");
    const line = lines[3]!;
    const at = Math.floor(line.length / 2);
    lines[3] = line.slice(0, at) + (line[at] === "A" ? "B" : "A") + line.slice(at + 1);
    const failure = await verifyOnly(Buffer.from(lines.join("\n"), "latin1")).catch(
      (e: unknown) => e,
    );
    expect(failure).toBeInstanceOf(BackupFormatError);
    expect((failure as BackupFormatError).code).toBe("bad_token");
  });
});
