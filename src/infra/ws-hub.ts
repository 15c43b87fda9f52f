// The WebSocket hub at /ws (S5.5): allow-listed Origin at the handshake, a one-time ticket as the
// first message, and per-user delivery fanned out across API processes through Redis pub/sub.
import type { IncomingMessage, Server } from "node:http";
import type { Duplex } from "node:stream";
import type { Redis } from "ioredis";
import { type RawData, WebSocket, WebSocketServer } from "ws";
import type { OneTimeTokenStore } from "../domain/accounts/ports";
import type { Logger } from "./logger";

/** The OneTimeTokenStore kind of WebSocket tickets; `POST /api/auth/ws-ticket` issues it. */
export const WS_TICKET_KIND = "ws";
/** S5.5: a ticket lives at most 30 s. */
export const WS_TICKET_TTL_SECONDS = 30;

export interface WebSocketTicket {
  userId: number;
  /** The session (refresh family) whose access token bought the ticket; the socket ends with it. */
  sessionId: string;
}

export interface WebSocketHubOptions {
  server: Server;
  path?: string;
  /** Exact origins (`https://warden.example`); a handshake from any other Origin gets 403. */
  allowedOrigins: readonly string[];
  /** Consumes a ticket once; null when unknown, expired or used. */
  consumeTicket: (ticket: string) => Promise<WebSocketTicket | null>;
  /** Two connections: a subscriber connection can run nothing but (un)subscribe. */
  redis: { publisher: Redis; subscriber: Redis };
  /** Pub/sub channel; the publisher's keyPrefix is put in front of it. */
  channel?: string;
  logger: Logger;
  authTimeoutMs?: number;
  maxPayloadBytes?: number;
  /** How often idle sockets are pinged; one without a pong by the next round is dropped. */
  heartbeatMs?: number;
}

export interface WebSocketHub {
  /** Delivers `event` (as JSON) to every socket of the user on every hub process. */
  publishToUser(userId: number, event: object): Promise<void>;
  /** Authenticated sockets of the user on this process. */
  connectionsOf(userId: number): number;
  close(): Promise<void>;
}

/** Close codes (RFC 6455 §7.4.1). */
export const WS_CLOSE = {
  goingAway: 1001,
  policyViolation: 1008,
  internalError: 1011,
  /** The session the socket belongs to ended (logout, revoke, password change or reset). */
  sessionEnded: 4401,
} as const;

const MAX_TICKET_LENGTH = 256;

/** Adapts the one-time token store: a ticket's payload is `{ userId }`, anything else is null. */
export function wsTicketConsumer(
  tokens: OneTimeTokenStore,
): (ticket: string) => Promise<WebSocketTicket | null> {
  return async (ticket) => {
    const payload = await tokens.consume(WS_TICKET_KIND, ticket);
    return parseTicketPayload(payload);
  };
}

function parseTicketPayload(payload: unknown): WebSocketTicket | null {
  if (typeof payload !== "object" || payload === null) return null;
  const { userId, sessionId } = payload as { userId?: unknown; sessionId?: unknown };
  if (typeof userId !== "number" || !Number.isSafeInteger(userId)) return null;
  return typeof sessionId === "string" && sessionId.length <= 64 ? { userId, sessionId } : null;
}

function parseJson(data: RawData): unknown {
  const bytes = Buffer.isBuffer(data)
    ? data
    : Array.isArray(data)
      ? Buffer.concat(data)
      : Buffer.from(data);
  try {
    return JSON.parse(bytes.toString("utf8"));
  } catch {
    return undefined;
  }
}

/** The ticket of a well-formed `{"type":"auth","ticket":"…"}`, else null. */
function authTicketOf(message: unknown): string | null {
  if (typeof message !== "object" || message === null || Array.isArray(message)) return null;
  const { type, ticket } = message as { type?: unknown; ticket?: unknown };
  if (type !== "auth" || typeof ticket !== "string") return null;
  if (ticket.length === 0 || ticket.length > MAX_TICKET_LENGTH) return null;
  return ticket;
}

function refuseHandshake(socket: Duplex, status: 403 | 404 | 503, text: string): void {
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\n` +
      `Content-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`,
  );
  socket.destroy();
}

function normalizeOrigin(origin: string): string {
  const url = new URL(origin);
  if (url.origin === "null") throw new Error(`not an http(s) origin: ${origin}`);
  return url.origin;
}

/**
 * Attaches the hub to `server` (handling only upgrades on `path`) and subscribes to the fan-out
 * channel; resolves once the subscription is live, so no event published afterwards is missed.
 */
export async function attachWebSocketHub(opts: WebSocketHubOptions): Promise<WebSocketHub> {
  const path = opts.path ?? "/ws";
  const authTimeoutMs = opts.authTimeoutMs ?? 5_000;
  const heartbeatMs = opts.heartbeatMs ?? 30_000;
  const { logger, server } = opts;
  const { publisher, subscriber } = opts.redis;
  // Fail at start-up on a mistyped origin rather than refuse every browser later.
  const allowedOrigins = new Set(opts.allowedOrigins.map(normalizeOrigin));
  // ioredis prefixes keys, not pub/sub channels: add the prefix so deployments and parallel
  // test files sharing one Redis never hear each other.
  const keyPrefix = (publisher.options.keyPrefix as string | undefined) ?? "";
  const channel = `${keyPrefix}${opts.channel ?? "ws:events"}`;

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: opts.maxPayloadBytes ?? 4_096,
    perMessageDeflate: false,
    clientTracking: true,
    // Subprotocols are a classic place to smuggle a bearer token; none is ever selected.
    handleProtocols: () => false,
  });
  const byUser = new Map<number, Set<WebSocket>>();
  const sessionOf = new WeakMap<WebSocket, string>();
  const alive = new WeakMap<WebSocket, boolean>();
  let closing = false;

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    let pathname: string;
    try {
      pathname = new URL(req.url ?? "/", "http://localhost").pathname;
    } catch {
      pathname = "";
    }
    if (pathname !== path) {
      // Another upgrade handler may own this path; with none, answer rather than hang.
      if (server.listenerCount("upgrade") === 1) refuseHandshake(socket, 404, "Not Found");
      return;
    }
    socket.on("error", () => {});
    if (closing) {
      refuseHandshake(socket, 503, "Service Unavailable");
      return;
    }
    const origin = req.headers.origin;
    if (typeof origin !== "string" || !allowedOrigins.has(origin)) {
      logger.warn({ origin: origin ?? null, ip: req.socket.remoteAddress }, "ws handshake refused");
      refuseHandshake(socket, 403, "Forbidden");
      return;
    }
    // The URL query and headers are never read for credentials: only the first message is.
    wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, req));
  };

  const register = (ws: WebSocket, userId: number, sessionId: string) => {
    sessionOf.set(ws, sessionId);
    let sockets = byUser.get(userId);
    if (sockets === undefined) {
      sockets = new Set();
      byUser.set(userId, sockets);
    }
    sockets.add(ws);
    ws.once("close", () => {
      sockets.delete(ws);
      if (sockets.size === 0 && byUser.get(userId) === sockets) byUser.delete(userId);
    });
  };

  const onConnection = (ws: WebSocket, req: IncomingMessage) => {
    const ip = req.socket.remoteAddress;
    let state: "awaiting_auth" | "authenticating" | "ready" = "awaiting_auth";
    ws.on("error", (err) => logger.debug({ err, ip }, "ws socket error"));
    alive.set(ws, true);
    ws.on("pong", () => alive.set(ws, true));

    const refuse = (reason: string) => {
      clearTimeout(timer);
      logger.info({ ip, reason }, "ws auth refused");
      if (ws.readyState === WebSocket.OPEN) ws.close(WS_CLOSE.policyViolation, reason);
      else ws.terminate();
    };
    const timer = setTimeout(() => refuse("auth timeout"), authTimeoutMs);
    ws.once("close", () => clearTimeout(timer));

    ws.on("message", (data, isBinary) => {
      if (state === "ready") {
        // Clients have nothing to say after auth except an application-level ping.
        const message = isBinary ? undefined : parseJson(data);
        if (
          typeof message === "object" &&
          message !== null &&
          (message as { type?: unknown }).type === "ping"
        ) {
          ws.send(JSON.stringify({ type: "pong" }));
        }
        return;
      }
      if (state === "authenticating") {
        refuse("unexpected message");
        return;
      }
      state = "authenticating";
      const ticket = isBinary ? null : authTicketOf(parseJson(data));
      if (ticket === null) {
        refuse("auth required");
        return;
      }
      opts.consumeTicket(ticket).then(
        (result) => {
          if (ws.readyState !== WebSocket.OPEN) return;
          if (result === null || !Number.isSafeInteger(result.userId)) {
            refuse("invalid ticket");
            return;
          }
          clearTimeout(timer);
          state = "ready";
          register(ws, result.userId, result.sessionId);
          ws.send(JSON.stringify({ type: "ready" }));
          logger.debug({ userId: result.userId, ip }, "ws authenticated");
        },
        (err: unknown) => {
          clearTimeout(timer);
          logger.error({ err, ip }, "ws ticket check failed");
          if (ws.readyState === WebSocket.OPEN) ws.close(WS_CLOSE.internalError, "try again");
        },
      );
    });
  };

  const onMessage = (from: string, raw: string) => {
    if (from !== channel) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      logger.warn({ channel }, "ws fan-out message is not JSON");
      return;
    }
    const { userId, event, endSessions } = (parsed ?? {}) as {
      userId?: unknown;
      event?: unknown;
      endSessions?: unknown;
    };
    if (typeof userId !== "number") return;
    const sockets = byUser.get(userId);
    if (sockets === undefined) return;
    if (endSessions !== undefined) {
      // One channel carries events and session ends in publish order: a socket closed here
      // gets nothing published after the end.
      const only = typeof endSessions === "string" ? endSessions : null;
      for (const ws of [...sockets]) {
        if (only !== null && sessionOf.get(ws) !== only) continue;
        sockets.delete(ws);
        if (ws.readyState === WebSocket.OPEN) ws.close(WS_CLOSE.sessionEnded, "session ended");
      }
      if (sockets.size === 0 && byUser.get(userId) === sockets) byUser.delete(userId);
      return;
    }
    if (typeof event !== "object" || event === null) return;
    const payload = JSON.stringify(event);
    for (const ws of sockets) {
      if (ws.readyState === WebSocket.OPEN) ws.send(payload);
    }
  };

  subscriber.on("message", onMessage);
  await subscriber.subscribe(channel);
  server.on("upgrade", onUpgrade);

  const heartbeat = setInterval(() => {
    for (const ws of wss.clients) {
      if (alive.get(ws) === false) {
        ws.terminate();
        continue;
      }
      alive.set(ws, false);
      ws.ping();
    }
  }, heartbeatMs);
  heartbeat.unref();

  return {
    async publishToUser(userId, event) {
      if (!Number.isSafeInteger(userId)) throw new Error("publishToUser needs an integer user id");
      await publisher.publish(channel, JSON.stringify({ userId, event }));
    },
    connectionsOf(userId) {
      return byUser.get(userId)?.size ?? 0;
    },
    async close() {
      if (closing) return;
      closing = true;
      clearInterval(heartbeat);
      server.off("upgrade", onUpgrade);
      subscriber.off("message", onMessage);
      await subscriber.unsubscribe(channel).catch((err: unknown) => {
        logger.warn({ err }, "ws unsubscribe failed");
      });
      const sockets = [...wss.clients];
      await Promise.all(
        sockets.map(
          (ws) =>
            new Promise<void>((resolve) => {
              if (ws.readyState === WebSocket.CLOSED) return resolve();
              // A client that never answers the close frame must not hold up shutdown.
              const force = setTimeout(() => ws.terminate(), 1_000);
              ws.once("close", () => {
                clearTimeout(force);
                resolve();
              });
              ws.close(WS_CLOSE.goingAway, "server shutting down");
            }),
        ),
      );
      byUser.clear();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

/**
 * Publishes to the hub's fan-out channel without a hub, e.g. from a worker process: every API
 * process delivers the event to the user's open sockets. Resolves with how many hub processes
 * heard it.
 */
export function createWebSocketPublisher(publisher: Redis, channelName = "ws:events") {
  const keyPrefix = (publisher.options.keyPrefix as string | undefined) ?? "";
  const channel = `${keyPrefix}${channelName}`;
  return async (userId: number, event: object): Promise<number> => {
    if (!Number.isSafeInteger(userId)) throw new Error("publishToUser needs an integer user id");
    return publisher.publish(channel, JSON.stringify({ userId, event }));
  };
}

/**
 * Tells every hub process that sessions ended: the sockets of `sessionId` (or of every session
 * of the user when null) are closed with 4401.
 */
export function createWebSocketSessionEnder(publisher: Redis, channelName = "ws:events") {
  const keyPrefix = (publisher.options.keyPrefix as string | undefined) ?? "";
  const channel = `${keyPrefix}${channelName}`;
  return async (userId: string, sessionId: string | null): Promise<void> => {
    const id = Number(userId);
    if (!Number.isSafeInteger(id)) throw new Error("session end needs an integer user id");
    await publisher.publish(
      channel,
      JSON.stringify({ userId: id, endSessions: sessionId ?? true }),
    );
  };
}
