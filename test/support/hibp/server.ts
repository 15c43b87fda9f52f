// A local stand-in for Have-I-Been-Pwned's range API (GET /range/{5 hex}): real HTTP on
// 127.0.0.1, the real response format, and a log of every request so tests can prove what left.
import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingHttpHeaders, STATUS_CODES } from "node:http";
import type { AddressInfo } from "node:net";

export interface HibpRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface HibpServerOptions {
  /** Plaintext passwords the server reports as breached. */
  breached: string[];
  /** Padding lines (count 0) added when Add-Padding: true; the real API pads to 800–1000. */
  padding?: number;
  /**
   * Plaintext passwords whose suffix is served as a padding line (count 0) when padding is on:
   * real padding is random, this makes "a count-0 line is not a hit" testable.
   */
  paddedWith?: string[];
  /** Delay before answering, in ms (tests the client's timeout). */
  delayMs?: number;
  /** Answer every range request with this status instead (e.g. 503). */
  status?: number;
}

export interface HibpServer {
  url: string;
  requests: HibpRequest[];
  /** Change behaviour between requests. */
  set(opts: Partial<Omit<HibpServerOptions, "breached">>): void;
  close(): Promise<void>;
}

export function sha1Hex(password: string): string {
  return createHash("sha1").update(password, "utf8").digest("hex").toUpperCase();
}

export async function startHibpServer(opts: HibpServerOptions): Promise<HibpServer> {
  const state = { padding: opts.padding ?? 0, delayMs: opts.delayMs ?? 0, status: opts.status };
  const counts = new Map<string, number>();
  opts.breached.forEach((p, i) => {
    counts.set(sha1Hex(p), 1000 + i);
  });
  const requests: HibpRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();

  const paddedWith = (opts.paddedWith ?? []).map(sha1Hex);

  const server = createServer((req, res) => {
    const path = req.url ?? "";
    const answer = () => {
      const match = /^\/range\/([0-9A-Fa-f]{5})$/.exec(path);
      if (req.method !== "GET" || match === null) {
        // The real API answers a malformed prefix with 400 and a plain-text explanation.
        res.writeHead(req.method === "GET" ? 400 : 405, { "Content-Type": "text/plain" });
        res.end("The hash prefix was not in a valid format");
        return;
      }
      if (state.status !== undefined) {
        res.writeHead(state.status, { "Content-Type": "text/plain" });
        res.end(STATUS_CODES[state.status] ?? "Error");
        return;
      }
      const prefix = match[1]!.toUpperCase();
      const lines: string[] = [];
      for (const [hash, count] of counts) {
        if (hash.startsWith(prefix)) lines.push(`${hash.slice(5)}:${count}`);
      }
      if (req.headers["add-padding"] === "true") {
        for (const hash of paddedWith) {
          if (hash.startsWith(prefix)) lines.push(`${hash.slice(5)}:0`);
        }
        for (let i = 0; i < state.padding; i++) {
          lines.push(`${randomBytes(18).toString("hex").toUpperCase().slice(0, 35)}:0`);
        }
      }
      lines.sort();
      res.writeHead(200, { "Content-Type": "text/plain" });
      res.end(lines.join("\r\n"));
    };

    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      requests.push({
        method: req.method ?? "",
        path,
        headers: { ...req.headers },
        body: Buffer.concat(chunks).toString("utf8"),
      });
      if (state.delayMs <= 0) return answer();
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (!res.destroyed) answer();
      }, state.delayMs);
      timers.add(timer);
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    set(next) {
      Object.assign(state, next);
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
