// HTTP plumbing: decodes request bodies the way the Bot API accepts them (query string, JSON,
// urlencoded form, multipart/form-data as grammY sends uploads) and writes JSON responses.

import type { IncomingMessage, ServerResponse } from "node:http";
import type { UploadedFile } from "./params";

export interface DecodedBody {
  fields: Record<string, unknown>;
  files: Map<string, UploadedFile>;
}

export class BodyError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "BodyError";
  }
}

/** Telegram accepts uploads up to 50 MB; a little headroom for the multipart framing. */
export const DEFAULT_BODY_LIMIT = 52 * 1024 * 1024;

export async function readBody(req: IncomingMessage, limit = DEFAULT_BODY_LIMIT): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer);
    size += buffer.length;
    if (size > limit) throw new BodyError(413, "Request Entity Too Large");
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

export async function decodeRequest(req: IncomingMessage, url: URL): Promise<DecodedBody> {
  const fields: Record<string, unknown> = Object.fromEntries(url.searchParams);
  const files = new Map<string, UploadedFile>();
  if (req.method === "GET" || req.method === "HEAD") {
    req.resume();
    return { fields, files };
  }
  const body = await readBody(req);
  if (body.length === 0) return { fields, files };

  const contentType = req.headers["content-type"] ?? "";
  const mediaType = contentType.split(";")[0]?.trim().toLowerCase() ?? "";
  if (mediaType === "application/json") {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString("utf8"));
    } catch {
      throw new BodyError(400, "Bad Request: can't parse JSON");
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      throw new BodyError(400, "Bad Request: JSON object expected");
    }
    Object.assign(fields, parsed);
  } else if (mediaType === "multipart/form-data") {
    const boundary = headerParameter(contentType, "boundary");
    if (!boundary) throw new BodyError(400, "Bad Request: multipart boundary is missing");
    for (const part of parseMultipart(body, boundary)) {
      if (part.fileName !== undefined) {
        files.set(part.name, {
          field: part.name,
          fileName: part.fileName,
          contentType: part.contentType,
          data: part.data,
        });
      } else {
        fields[part.name] = part.data.toString("utf8");
      }
    }
  } else {
    // Telegram treats an unlabelled body as a form, as curl -d sends it.
    Object.assign(fields, Object.fromEntries(new URLSearchParams(body.toString("utf8"))));
  }
  return { fields, files };
}

interface MultipartPart {
  name: string;
  fileName?: string;
  contentType?: string;
  data: Buffer;
}

const CRLF = Buffer.from("\r\n");
const HEADER_END = Buffer.from("\r\n\r\n");

/**
 * Minimal RFC 7578 reader. Tolerant on purpose: grammY writes headers without spaces
 * (`content-disposition:form-data;name="x"`) and leaves `filename=` unquoted.
 */
export function parseMultipart(body: Buffer, boundary: string): MultipartPart[] {
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: MultipartPart[] = [];
  let position = body.indexOf(delimiter);
  if (position < 0) throw new BodyError(400, "Bad Request: malformed multipart body");
  position += delimiter.length;

  while (position < body.length) {
    // "--" right after a delimiter closes the body.
    if (body[position] === 0x2d && body[position + 1] === 0x2d) break;
    if (body.subarray(position, position + 2).equals(CRLF)) position += 2;

    const headerEnd = body.indexOf(HEADER_END, position);
    if (headerEnd < 0) throw new BodyError(400, "Bad Request: malformed multipart body");
    const headers = parsePartHeaders(body.subarray(position, headerEnd).toString("utf8"));
    const dataStart = headerEnd + HEADER_END.length;
    const next = body.indexOf(Buffer.concat([CRLF, delimiter]), dataStart);
    if (next < 0) throw new BodyError(400, "Bad Request: malformed multipart body");

    const disposition = headers.get("content-disposition") ?? "";
    const name = headerParameter(disposition, "name");
    if (name !== undefined) {
      parts.push({
        name,
        fileName: headerParameter(disposition, "filename"),
        contentType: headers.get("content-type"),
        data: body.subarray(dataStart, next),
      });
    }
    position = next + CRLF.length + delimiter.length;
  }
  return parts;
}

function parsePartHeaders(block: string): Map<string, string> {
  const headers = new Map<string, string>();
  for (const line of block.split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon > 0)
      headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return headers;
}

/** Reads `key=value` or `key="value"` out of a `;`-separated header value. */
export function headerParameter(header: string, key: string): string | undefined {
  for (const segment of header.split(";").slice(1)) {
    const eq = segment.indexOf("=");
    if (eq < 0) continue;
    if (segment.slice(0, eq).trim().toLowerCase() !== key) continue;
    const value = segment.slice(eq + 1).trim();
    return value.startsWith('"') && value.endsWith('"') && value.length >= 2
      ? value.slice(1, -1).replace(/\\(.)/g, "$1")
      : value;
  }
  return undefined;
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const payload = Buffer.from(JSON.stringify(body));
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": payload.length,
  });
  res.end(payload);
}
