// A Sentry ingestion endpoint on 127.0.0.1: accepts POST /api/<project>/envelope/ as the real
// one does (public key checked, gzip/deflate bodies), decodes each envelope and records it.
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { promisify } from "node:util";
import { gunzip, inflate } from "node:zlib";

export interface EnvelopeItem {
  header: Record<string, unknown>;
  /** The payload parsed as JSON when it is JSON, else its text. */
  payload: unknown;
}

export interface Envelope {
  header: Record<string, unknown>;
  items: EnvelopeItem[];
  /** The decoded body exactly as the SDK sent it (after decompression). */
  raw: string;
}

export interface SentryServer {
  /** DSN pointing at this server, with a fresh public key. */
  dsn: string;
  envelopes: Envelope[];
  /** Requests refused (wrong project or key, malformed envelope). */
  refused: number;
  /** Resolves with the first recorded event (item type "event") matching `predicate`. */
  waitForEvent(predicate: (event: Record<string, unknown>) => boolean): Promise<Envelope>;
  close(): Promise<void>;
}

const PROJECT = "4242";

export function parseEnvelope(body: Buffer): Envelope {
  let offset = 0;
  const readLine = (): string => {
    const nl = body.indexOf(0x0a, offset);
    const end = nl < 0 ? body.length : nl;
    const line = body.subarray(offset, end).toString("utf8");
    offset = end + 1;
    return line;
  };
  const header = JSON.parse(readLine()) as Record<string, unknown>;
  const items: EnvelopeItem[] = [];
  while (offset < body.length) {
    const line = readLine();
    if (line.trim() === "") continue;
    const itemHeader = JSON.parse(line) as Record<string, unknown>;
    let text: string;
    if (typeof itemHeader.length === "number") {
      text = body.subarray(offset, offset + itemHeader.length).toString("utf8");
      offset += itemHeader.length + 1;
    } else {
      text = readLine();
    }
    let payload: unknown = text;
    try {
      payload = JSON.parse(text);
    } catch {
      // attachments and other non-JSON items stay text
    }
    items.push({ header: itemHeader, payload });
  }
  return { header, items, raw: body.toString("utf8") };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const body = Buffer.concat(chunks);
  const encoding = req.headers["content-encoding"];
  if (encoding === "gzip") return promisify(gunzip)(body);
  if (encoding === "deflate") return promisify(inflate)(body);
  return body;
}

function sentryKeyOf(req: IncomingMessage, url: URL): string | undefined {
  const fromQuery = url.searchParams.get("sentry_key");
  if (fromQuery) return fromQuery;
  const auth = req.headers["x-sentry-auth"];
  const m = typeof auth === "string" ? /sentry_key=([^,\s]+)/.exec(auth) : null;
  return m?.[1];
}

export async function startSentryServer(): Promise<SentryServer> {
  const publicKey = randomBytes(16).toString("hex");
  const envelopes: Envelope[] = [];
  const waiters: Array<() => void> = [];
  const state = { refused: 0 };
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (req.method !== "POST" || url.pathname !== `/api/${PROJECT}/envelope/`) {
      state.refused++;
      res.writeHead(404).end();
      return;
    }
    if (sentryKeyOf(req, url) !== publicKey) {
      state.refused++;
      res.writeHead(401, { "content-type": "application/json" });
      res.end('{"detail":"invalid api key"}');
      return;
    }
    try {
      const envelope = parseEnvelope(await readBody(req));
      envelopes.push(envelope);
      for (const w of waiters.splice(0)) w();
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ id: envelope.header.event_id ?? null }));
    } catch {
      state.refused++;
      res.writeHead(400).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    dsn: `http://${publicKey}@127.0.0.1:${port}/${PROJECT}`,
    envelopes,
    get refused() {
      return state.refused;
    },
    waitForEvent(predicate) {
      return new Promise((resolve) => {
        const check = () => {
          const found = envelopes.find((e) =>
            e.items.some(
              (i) =>
                i.header.type === "event" &&
                typeof i.payload === "object" &&
                i.payload !== null &&
                predicate(i.payload as Record<string, unknown>),
            ),
          );
          if (found) resolve(found);
          else waiters.push(check);
        };
        check();
      });
    },
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

/** The event payload of an envelope. */
export function eventOf(envelope: Envelope): Record<string, unknown> {
  const item = envelope.items.find((i) => i.header.type === "event");
  if (!item) throw new Error("the envelope holds no event");
  return item.payload as Record<string, unknown>;
}
