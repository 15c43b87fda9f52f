// What the fake venues share: a node:http server on 127.0.0.1 that records every request with
// its raw body, and HMAC helpers that compare signatures the way a venue does.
import { createHmac, timingSafeEqual } from "node:crypto";
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  /** The raw query string, without "?", exactly as sent. */
  query: string;
  headers: IncomingHttpHeaders;
  /** The raw body, exactly as sent. */
  body: string;
}

export interface Reply {
  status: number;
  body: unknown;
  /** Never answer (the request was executed, its answer is lost: the client times out). */
  hang?: boolean;
  /** Sent as is instead of `body` as JSON (an HTML error page). */
  raw?: string;
  /** Extra response headers (rate-limit weights, Retry-After). */
  headers?: Record<string, string>;
}

export interface FakeHttpServer {
  url: string;
  close(): Promise<void>;
}

/**
 * How a fake loses the answer to an order it has executed (VENUES.md, "all": a request can
 * execute and its answer be lost): no answer at all, or a gateway's 502 page.
 */
export type LostAnswer = "timeout" | 502;

export function lostAnswerReply(kind: LostAnswer): Reply {
  return kind === "timeout"
    ? { status: 0, body: null, hang: true }
    : { status: 502, body: null, raw: "<html><body><h1>502 Bad Gateway</h1></body></html>" };
}

/**
 * Limit answers a fake was told to give next (`limitNext`), before any other handling: the
 * request is recorded but not executed, as a venue's gateway refuses it before its engine.
 */
export function createLimitAnswers() {
  const queue: Reply[] = [];
  return {
    push(reply: Reply, times = 1): void {
      for (let i = 0; i < times; i++) queue.push(reply);
    },
    take(): Reply | undefined {
      return queue.shift();
    },
  };
}

/** Starts a server whose handler sees each request after its body has been read and recorded. */
export async function startRecordingServer(
  requests: RecordedRequest[],
  handle: (req: RecordedRequest) => Reply,
): Promise<FakeHttpServer> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const raw = req.url ?? "/";
      const q = raw.indexOf("?");
      const recorded: RecordedRequest = {
        method: req.method ?? "",
        path: q === -1 ? raw : raw.slice(0, q),
        query: q === -1 ? "" : raw.slice(q + 1),
        headers: { ...req.headers },
        body: Buffer.concat(chunks).toString("utf8"),
      };
      requests.push(recorded);
      let reply: Reply;
      try {
        reply = handle(recorded);
      } catch (err) {
        reply = { status: 500, body: { error: (err as Error).message } };
      }
      if (reply.hang) return;
      res.writeHead(reply.status, { "Content-Type": "application/json", ...reply.headers });
      res.end(reply.raw ?? JSON.stringify(reply.body));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export function hmacSha256Hex(secret: string, payload: string): string {
  return createHmac("sha256", secret).update(payload, "utf8").digest("hex");
}

/** Constant-time comparison of a presented hex signature with the expected one. */
export function signatureMatches(expectedHex: string, presented: string): boolean {
  const a = Buffer.from(expectedHex, "utf8");
  const b = Buffer.from(presented.toLowerCase(), "utf8");
  return a.length === b.length && timingSafeEqual(a, b);
}

export function header(req: RecordedRequest, name: string): string | undefined {
  const v = req.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/** Parses a urlencoded string into a plain object (last value wins), for reading parameters. */
export function parseForm(raw: string): Record<string, string> {
  return Object.fromEntries(new URLSearchParams(raw));
}

/** Rounds to 8 decimals and prints without exponent, as venues print decimals. */
export function dec(n: number, places = 8): string {
  const fixed = (Math.round(n * 10 ** places) / 10 ** places).toFixed(places);
  return fixed.includes(".") ? fixed.replace(/\.?0+$/, "") : fixed;
}
