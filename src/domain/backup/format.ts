// The encrypted backup file format (S9.3): a database dump cut into chunks, each chunk one
// standard Fernet token on its own line, so any Fernet implementation can read it given the key.
// Every token's authenticated plaintext starts with the backup's random id, a sequence number and
// a kind, so a dropped, repeated, reordered, swapped (even from another backup) or truncated
// chunk is detected as surely as a flipped byte.
//
//   line 0      "WARDEN-BACKUP 1"                      plain text, identifies the format
//   line 1      token: PREFIX(seq 0, 'H') + JSON header
//   line 2..n   token: PREFIX(seq 1.., 'D') + dump bytes
//   line n+1    token: PREFIX(seq n, 'E') + JSON {"chunks": data chunks, "bytes": dump bytes}
//   nothing after the end token; every line ends with "\n"
//
//   PREFIX = backup id (16 bytes) | sequence number (uint64 big-endian) | kind (1 byte ASCII)
import { randomBytes } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";
import { decrypt, decryptHead, encrypt, type FernetKey, InvalidFernetToken } from "../vault/fernet";

export const MAGIC_LINE = "WARDEN-BACKUP 1";
export const PREFIX_BYTES = 25;
/** Dump bytes per chunk when writing. */
export const DEFAULT_CHUNK_BYTES = 1 << 20;
/** The largest chunk a reader accepts, so a file without newlines cannot exhaust memory. */
export const MAX_CHUNK_BYTES = 8 << 20;
// A Fernet token of MAX_CHUNK_BYTES + prefix: 57 header/MAC/padding bytes, then base64.
const MAX_LINE_CHARS = Math.ceil((MAX_CHUNK_BYTES + PREFIX_BYTES + 16 + 57) / 3) * 4 + 4;

const NEWLINE = Buffer.from("\n");
const KIND = { header: 0x48, data: 0x44, end: 0x45 } as const; // 'H', 'D', 'E'

export interface BackupHeader {
  format: "warden-backup";
  version: 1;
  backupId: string;
  createdAt: string;
  chunkBytes: number;
  /** What the data chunks hold, e.g. "pg_dump custom format". */
  content: string;
  /** The source database's name, for the operator's information only. */
  database?: string;
}

export interface BackupSummary {
  header: BackupHeader;
  chunks: number;
  bytes: number;
}

export type BackupErrorCode =
  | "not_a_backup"
  | "bad_token"
  | "wrong_backup"
  | "out_of_order"
  | "truncated"
  | "trailing_data"
  | "malformed";

/** Why a backup file cannot be trusted. Messages never contain key material or dump bytes. */
export class BackupFormatError extends Error {
  constructor(
    readonly code: BackupErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "BackupFormatError";
  }
}

function prefix(out: Buffer, backupId: Buffer, seq: number, kind: number): void {
  backupId.copy(out, 0);
  out.writeBigUInt64BE(BigInt(seq), 16);
  out[24] = kind;
}

/**
 * Encrypts a dump stream into the backup format. Memory use is one chunk, whatever the size of
 * the dump. `summary()` is available once the stream has finished.
 */
export function createBackupEncryptor(opts: {
  key: FernetKey;
  content: string;
  database?: string;
  chunkBytes?: number;
  /** Unix seconds; all tokens carry it. */
  now?: number;
  backupId?: Buffer;
}): Transform & { header: BackupHeader; summary(): BackupSummary } {
  const chunkBytes = opts.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  if (!Number.isInteger(chunkBytes) || chunkBytes < 1 || chunkBytes > MAX_CHUNK_BYTES) {
    throw new RangeError(`chunkBytes must be 1 to ${MAX_CHUNK_BYTES}`);
  }
  const backupId = opts.backupId ?? randomBytes(16);
  if (backupId.length !== 16) throw new RangeError("backupId must be 16 bytes");
  const timestamp = opts.now ?? Math.floor(Date.now() / 1000);
  const header: BackupHeader = {
    format: "warden-backup",
    version: 1,
    backupId: backupId.toString("hex"),
    createdAt: new Date(timestamp * 1000).toISOString(),
    chunkBytes,
    content: opts.content,
    ...(opts.database !== undefined && { database: opts.database }),
  };
  const buf = Buffer.allocUnsafe(PREFIX_BYTES + chunkBytes);
  let fill = 0;
  let seq = 0;
  let total = 0;
  let done: BackupSummary | undefined;

  // The token and its newline go out separately: concatenating would copy each token once more.
  const emit = (t: Transform, plaintext: Buffer) => {
    t.push(encrypt(opts.key, plaintext, { timestamp }), "latin1");
    t.push(NEWLINE);
  };
  const sealed = (t: Transform, kind: number, payload: Buffer) => {
    const p = Buffer.allocUnsafe(PREFIX_BYTES + payload.length);
    prefix(p, backupId, seq++, kind);
    payload.copy(p, PREFIX_BYTES);
    emit(t, p);
  };
  const flushData = (t: Transform) => {
    prefix(buf, backupId, seq++, KIND.data);
    emit(t, buf.subarray(0, PREFIX_BYTES + fill));
    total += fill;
    fill = 0;
  };

  const stream = new Transform({
    construct(cb) {
      this.push(`${MAGIC_LINE}\n`);
      sealed(this, KIND.header, Buffer.from(JSON.stringify(header), "utf8"));
      cb();
    },
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      let at = 0;
      while (at < chunk.length) {
        const n = Math.min(chunkBytes - fill, chunk.length - at);
        chunk.copy(buf, PREFIX_BYTES + fill, at, at + n);
        fill += n;
        at += n;
        if (fill === chunkBytes) flushData(this);
      }
      cb();
    },
    flush(cb) {
      if (fill > 0) flushData(this);
      const chunks = seq - 1;
      sealed(this, KIND.end, Buffer.from(JSON.stringify({ chunks, bytes: total }), "utf8"));
      buf.fill(0);
      done = { header, chunks, bytes: total };
      cb();
    },
  });
  return Object.assign(stream, {
    header,
    summary(): BackupSummary {
      if (!done) throw new Error("the backup is not finished");
      return done;
    },
  });
}

function parseJson(payload: Buffer, what: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(payload.toString("utf8"));
    if (v !== null && typeof v === "object" && !Array.isArray(v))
      return v as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new BackupFormatError("malformed", `the ${what} is not valid JSON`);
}

function parseHeader(payload: Buffer, backupId: Buffer): BackupHeader {
  const h = parseJson(payload, "header");
  if (
    h.format !== "warden-backup" ||
    h.version !== 1 ||
    h.backupId !== backupId.toString("hex") ||
    typeof h.createdAt !== "string" ||
    typeof h.content !== "string" ||
    !Number.isInteger(h.chunkBytes) ||
    (h.chunkBytes as number) < 1 ||
    (h.chunkBytes as number) > MAX_CHUNK_BYTES
  ) {
    throw new BackupFormatError("malformed", "the header is not a Warden backup header");
  }
  return h as unknown as BackupHeader;
}

/**
 * Reads the backup format, authenticating every token and checking the id, sequence and end
 * marker. Emits dump bytes only after their own token verified, and holds the last chunk back
 * until the end marker verified too, so a consumer (pg_restore) never sees the end of the dump
 * of a truncated file; a caller that must not act on
 * a partial dump (restore) verifies the whole file first and then reads it again, and passes
 * `expectBackupId` so the second pass cannot be fed a different (valid) backup.
 * The stream fails with BackupFormatError on the first problem.
 */
export function createBackupDecryptor(opts: {
  key: FernetKey;
  expectBackupId?: string;
  /**
   * Check only, emitting nothing: every token is still authenticated and its id, sequence, kind
   * and length checked, but a data chunk's dump bytes are not decrypted (verifyBackup).
   */
  verifyOnly?: boolean;
  onHeader?: (header: BackupHeader) => void;
}): Transform & { summary(): BackupSummary } {
  let pending: Buffer[] = [];
  let pendingLen = 0;
  let line = 0;
  let backupId: Buffer | undefined;
  let header: BackupHeader | undefined;
  let chunks = 0;
  let bytes = 0;
  let ended = false;
  let held: Buffer | undefined;
  let done: BackupSummary | undefined;

  const handle = (t: Transform, text: string) => {
    const n = line++;
    if (n === 0) {
      if (text !== MAGIC_LINE)
        throw new BackupFormatError("not_a_backup", "not a Warden backup file");
      return;
    }
    if (ended) throw new BackupFormatError("trailing_data", "data after the end of the backup");
    let plain: Buffer;
    // Without the data: only the prefix is decrypted, and the length learnt from the padding.
    let dataLength: number | undefined;
    try {
      if (opts.verifyOnly && n > 1) {
        const { head, length } = decryptHead(opts.key, text, PREFIX_BYTES);
        plain = head;
        if (head[24] === KIND.data) dataLength = length - PREFIX_BYTES;
        else plain = decrypt(opts.key, text);
      } else {
        plain = decrypt(opts.key, text);
      }
    } catch (err) {
      if (!(err instanceof InvalidFernetToken)) throw err;
      throw new BackupFormatError(
        "bad_token",
        `chunk ${n - 1} does not verify (tampered, or another key)`,
      );
    }
    if (plain.length < PREFIX_BYTES)
      throw new BackupFormatError("malformed", `chunk ${n - 1} is too short`);
    const id = plain.subarray(0, 16);
    const seq = plain.readBigUInt64BE(16);
    const kind = plain[24];
    const payload = plain.subarray(PREFIX_BYTES);
    if (n === 1) {
      if (kind !== KIND.header || seq !== 0n) {
        throw new BackupFormatError("out_of_order", "the first chunk is not the header");
      }
      backupId = Buffer.from(id);
      if (opts.expectBackupId !== undefined && backupId.toString("hex") !== opts.expectBackupId) {
        throw new BackupFormatError("wrong_backup", "this is not the backup that was verified");
      }
      header = parseHeader(payload, backupId);
      opts.onHeader?.(header);
      return;
    }
    if (!backupId!.equals(id)) {
      throw new BackupFormatError("wrong_backup", `chunk ${n - 1} belongs to another backup`);
    }
    if (seq !== BigInt(n - 1)) {
      throw new BackupFormatError(
        "out_of_order",
        `chunk ${n - 1} carries sequence number ${seq}: chunks were dropped, repeated or reordered`,
      );
    }
    if (kind === KIND.data) {
      const size = dataLength ?? payload.length;
      if (size <= 0 || size > header!.chunkBytes) {
        throw new BackupFormatError("malformed", `chunk ${n - 1} has a wrong size`);
      }
      chunks++;
      bytes += size;
      if (opts.verifyOnly) return;
      if (held) t.push(held);
      held = payload;
      return;
    }
    if (kind === KIND.end) {
      const end = parseJson(payload, "end marker");
      if (end.chunks !== chunks || end.bytes !== bytes) {
        throw new BackupFormatError("malformed", "the end marker does not match the chunks read");
      }
      ended = true;
      if (held) t.push(held);
      held = undefined;
      return;
    }
    throw new BackupFormatError("malformed", `chunk ${n - 1} has an unknown kind`);
  };

  const stream = new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      try {
        let from = 0;
        for (;;) {
          const nl = chunk.indexOf(0x0a, from);
          if (nl < 0) break;
          const piece = chunk.subarray(from, nl);
          const text =
            pendingLen === 0
              ? piece.toString("latin1")
              : Buffer.concat([...pending, piece], pendingLen + piece.length).toString("latin1");
          pending = [];
          pendingLen = 0;
          handle(this, text);
          from = nl + 1;
        }
        if (from < chunk.length) {
          pending.push(chunk.subarray(from));
          pendingLen += chunk.length - from;
          if (pendingLen > MAX_LINE_CHARS) {
            throw new BackupFormatError("malformed", "a line is longer than any valid chunk");
          }
        }
        cb();
      } catch (err) {
        cb(err as Error);
      }
    },
    flush(cb) {
      if (pendingLen > 0) {
        return cb(new BackupFormatError("truncated", "the file ends in the middle of a chunk"));
      }
      if (line === 0) return cb(new BackupFormatError("not_a_backup", "the file is empty"));
      if (!header) return cb(new BackupFormatError("truncated", "the file has no header"));
      if (!ended) {
        return cb(new BackupFormatError("truncated", "the file ends before the end marker"));
      }
      done = { header, chunks, bytes };
      cb();
    },
  });
  return Object.assign(stream, {
    summary(): BackupSummary {
      if (!done) throw new Error("the backup has not been read to its end");
      return done;
    },
  });
}
