// The WebSocket hub (S5.5) on real HTTP servers with real Redis tickets and a real `ws` client:
// Origin allow-list, the ticket as the only credential, 1008 on every failure, cross-process fan-out.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import type { OneTimeTokenStore } from "../../../src/domain/accounts/ports";
import { createLogger } from "../../../src/infra/logger";
import { createOneTimeTokenStore } from "../../../src/infra/one-time-tokens";
import { createScrubber } from "../../../src/infra/scrub";
import {
  attachWebSocketHub,
  type WebSocketHub,
  type WebSocketHubOptions,
  WS_TICKET_KIND,
  wsTicketConsumer,
} from "../../../src/infra/ws-hub";
import { createTestRedis, type TestRedis } from "../../support/context";
import { captureLogs } from "../../support/log-capture";

const ORIGIN = "https://app.warden.test";
const AUTH_TIMEOUT_MS = 300;

interface RunningHub {
  hub: WebSocketHub;
  server: Server;
  subscriber: Redis;
  url: string;
}

interface Closed {
  code: number;
  reason: string;
}

interface Client {
  ws: WebSocket;
  next(): Promise<unknown>;
  closed: Promise<Closed>;
}

let testRedis: TestRedis;
let redis: Redis;
let tokens: OneTimeTokenStore;
const logs = captureLogs();
const logger = createLogger({
  level: "debug",
  pretty: false,
  scrubber: createScrubber(),
  destination: logs.stream,
});
const hubs: RunningHub[] = [];
const issuedTickets: string[] = [];
let hubA: RunningHub;
let hubB: RunningHub;

async function startHub(
  consumeTicket: WebSocketHubOptions["consumeTicket"] = wsTicketConsumer(tokens),
): Promise<RunningHub> {
  const server = createServer((_req, res) => {
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const subscriber = new Redis(testRedis.url, { keyPrefix: testRedis.prefix });
  const hub = await attachWebSocketHub({
    server,
    allowedOrigins: [ORIGIN],
    consumeTicket,
    redis: { publisher: redis, subscriber },
    logger,
    authTimeoutMs: AUTH_TIMEOUT_MS,
  });
  const running = {
    hub,
    server,
    subscriber,
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`,
  };
  hubs.push(running);
  return running;
}

async function stopHub(h: RunningHub): Promise<void> {
  await h.hub.close();
  h.server.closeAllConnections();
  await new Promise((resolve) => h.server.close(resolve));
  await h.subscriber.quit();
}

async function issueTicket(userId: number, ttlSeconds = 30): Promise<string> {
  const ticket = await tokens.issue(
    WS_TICKET_KIND,
    { userId, sessionId: `s-${userId}` },
    ttlSeconds,
  );
  issuedTickets.push(ticket);
  return ticket;
}

/** Opens a client that queues every message, so none is lost between awaits. */
function connect(
  url: string,
  options: { origin?: string; headers?: Record<string, string> } = { origin: ORIGIN },
): Promise<Client> {
  const ws = new WebSocket(url, options);
  const queued: unknown[] = [];
  const waiting: Array<(message: unknown) => void> = [];
  ws.on("message", (data) => {
    const message: unknown = JSON.parse(String(data));
    const waiter = waiting.shift();
    if (waiter) waiter(message);
    else queued.push(message);
  });
  const closed = new Promise<Closed>((resolve) =>
    ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  return new Promise((resolve, reject) => {
    ws.once("open", () =>
      resolve({
        ws,
        closed,
        next: () =>
          queued.length > 0 ? Promise.resolve(queued.shift()) : new Promise((r) => waiting.push(r)),
      }),
    );
    ws.once("error", reject);
  });
}

async function authenticated(url: string, userId: number): Promise<Client> {
  const client = await connect(url);
  client.ws.send(JSON.stringify({ type: "auth", ticket: await issueTicket(userId) }));
  expect(await client.next()).toEqual({ type: "ready" });
  return client;
}

/** The handshake's failure message, e.g. "Unexpected server response: 403". */
async function handshakeError(url: string, options: { origin?: string }): Promise<string> {
  try {
    const client = await connect(url, options);
    client.ws.close();
  } catch (err) {
    return (err as Error).message;
  }
  return "opened";
}

beforeAll(async () => {
  testRedis = createTestRedis();
  redis = new Redis(testRedis.url, { keyPrefix: testRedis.prefix });
  tokens = createOneTimeTokenStore(redis);
  hubA = await startHub();
  hubB = await startHub();
});

afterAll(async () => {
  await Promise.all(hubs.map(stopHub));
  await redis.quit();
  await testRedis.cleanup();
});

describe("WebSocket hub", () => {
  it("when a valid ticket is the first message, then ready, and publishToUser delivers events", async () => {
    const client = await authenticated(hubA.url, 101);

    expect(hubA.hub.connectionsOf(101)).toBe(1);
    await hubA.hub.publishToUser(101, { type: "order.filled", orderId: "o-1" });
    expect(await client.next()).toEqual({ type: "order.filled", orderId: "o-1" });
    client.ws.close();
  });

  it("when an event is for another user, then it is not delivered", async () => {
    const alice = await authenticated(hubA.url, 201);
    const bob = await authenticated(hubA.url, 202);

    await hubA.hub.publishToUser(202, { type: "for-bob" });
    await hubA.hub.publishToUser(201, { type: "for-alice" });

    expect(await alice.next()).toEqual({ type: "for-alice" });
    expect(await bob.next()).toEqual({ type: "for-bob" });
    alice.ws.close();
    bob.ws.close();
  });

  it("when the same ticket is used a second time, then the socket is closed with 1008", async () => {
    const ticket = await issueTicket(301);
    const first = await connect(hubA.url);
    first.ws.send(JSON.stringify({ type: "auth", ticket }));
    expect(await first.next()).toEqual({ type: "ready" });

    const second = await connect(hubA.url);
    second.ws.send(JSON.stringify({ type: "auth", ticket }));

    expect(await second.closed).toEqual({ code: 1008, reason: "invalid ticket" });
    expect(hubA.hub.connectionsOf(301)).toBe(1);
    first.ws.close();
  });

  it("when no message arrives within the auth timeout, then the socket is closed with 1008", async () => {
    const client = await connect(hubA.url);
    const started = Date.now();

    expect(await client.closed).toEqual({ code: 1008, reason: "auth timeout" });
    expect(Date.now() - started).toBeGreaterThanOrEqual(AUTH_TIMEOUT_MS - 50);
  });

  it("when the first message is garbage, then the socket is closed with 1008", async () => {
    for (const garbage of ["not json", '{"type":"hello"}', '{"type":"auth"}', '["auth"]', "null"]) {
      const client = await connect(hubA.url);
      client.ws.send(garbage);
      expect(await client.closed).toEqual({ code: 1008, reason: "auth required" });
    }
    const binary = await connect(hubA.url);
    binary.ws.send(Buffer.from(JSON.stringify({ type: "auth", ticket: "x".repeat(43) })));
    expect((await binary.closed).code).toBe(1008);
  });

  it("when an unknown ticket is sent, then the socket is closed with 1008", async () => {
    const client = await connect(hubA.url);
    client.ws.send(JSON.stringify({ type: "auth", ticket: "A".repeat(43) }));

    expect(await client.closed).toEqual({ code: 1008, reason: "invalid ticket" });
  });

  it("when a second message arrives before auth completes, then the socket is closed with 1008", async () => {
    // A slow ticket check holds the socket in "authenticating" long enough to send into it.
    const consume = wsTicketConsumer(tokens);
    const slow = await startHub(async (ticket) => {
      await new Promise((resolve) => setTimeout(resolve, 150));
      return consume(ticket);
    });
    const client = await connect(slow.url);
    client.ws.send(JSON.stringify({ type: "auth", ticket: await issueTicket(401) }));
    await new Promise((resolve) => setTimeout(resolve, 30));
    client.ws.send(JSON.stringify({ type: "ping" }));

    expect(await client.closed).toEqual({ code: 1008, reason: "unexpected message" });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(slow.hub.connectionsOf(401)).toBe(0);
  });

  it("when a ticket or bearer token comes in the URL or a header without the auth message, then 1008 and the ticket stays unused", async () => {
    const ticket = await issueTicket(501);
    const client = await connect(`${hubA.url}?ticket=${ticket}&token=${ticket}`, {
      origin: ORIGIN,
      headers: { Authorization: `Bearer ${ticket}`, "Sec-WebSocket-Protocol": "warden" },
    });

    expect(await client.closed).toEqual({ code: 1008, reason: "auth timeout" });
    expect(hubA.hub.connectionsOf(501)).toBe(0);
    // Never read from the URL or headers, so it was never consumed: the proper way still works.
    const proper = await connect(hubA.url);
    proper.ws.send(JSON.stringify({ type: "auth", ticket }));
    expect(await proper.next()).toEqual({ type: "ready" });
    proper.ws.close();
  });

  it("when the Origin is not allow-listed or missing, then the handshake fails with 403", async () => {
    expect(await handshakeError(hubA.url, { origin: "https://evil.example" })).toMatch(/\b403\b/);
    expect(
      await handshakeError(hubA.url, { origin: "https://app.warden.test.evil.example" }),
    ).toMatch(/\b403\b/);
    expect(await handshakeError(hubA.url, {})).toMatch(/\b403\b/);
  });

  it("when the upgrade is for another path, then the handshake fails with 404", async () => {
    expect(await handshakeError(hubA.url.replace(/\/ws$/, "/other"), { origin: ORIGIN })).toMatch(
      /\b404\b/,
    );
  });

  it("when an event is published via hub A, then a socket connected to hub B receives it", async () => {
    const client = await authenticated(hubB.url, 601);

    expect(hubA.hub.connectionsOf(601)).toBe(0);
    expect(hubB.hub.connectionsOf(601)).toBe(1);
    await hubA.hub.publishToUser(601, { type: "alert", text: "margin low" });

    expect(await client.next()).toEqual({ type: "alert", text: "margin low" });
    client.ws.close();
  });

  it("when the ticket has expired, then the socket is closed with 1008", async () => {
    const ticket = await issueTicket(701, 1);
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    const client = await connect(hubA.url);
    client.ws.send(JSON.stringify({ type: "auth", ticket }));

    expect(await client.closed).toEqual({ code: 1008, reason: "invalid ticket" });
  });

  it("when the first message exceeds the size limit, then the socket is closed", async () => {
    const client = await connect(hubA.url);
    client.ws.send(JSON.stringify({ type: "auth", ticket: "x".repeat(5_000) }));

    expect((await client.closed).code).toBe(1009);
  });

  it("when an authenticated client pings, then the hub answers pong and ignores anything else", async () => {
    const client = await authenticated(hubA.url, 801);
    client.ws.send(JSON.stringify({ type: "auth", ticket: "again" }));
    client.ws.send("chatter");
    client.ws.send(JSON.stringify({ type: "ping" }));

    expect(await client.next()).toEqual({ type: "pong" });
    expect(client.ws.readyState).toBe(WebSocket.OPEN);
    client.ws.close();
  });

  it("when a socket closes, then it is no longer counted for its user", async () => {
    const client = await authenticated(hubA.url, 901);
    expect(hubA.hub.connectionsOf(901)).toBe(1);

    client.ws.close();
    await client.closed;
    await expect.poll(() => hubA.hub.connectionsOf(901)).toBe(0);
  });

  it("when the hub closes, then its sockets are closed with 1001 and its subscription ends", async () => {
    const channel = `${testRedis.prefix}ws:events`;
    const subscribers = async () => (await redis.pubsub("NUMSUB", channel))[1];
    const before = await subscribers();
    const hubC = await startHub();
    const client = await authenticated(hubC.url, 1001);
    expect(await subscribers()).toBe(Number(before) + 1);

    await hubC.hub.close();

    expect(await client.closed).toEqual({ code: 1001, reason: "server shutting down" });
    expect(hubC.hub.connectionsOf(1001)).toBe(0);
    expect(await subscribers()).toBe(before);
  });

  it("when tickets were used, refused or expired, then none appears in the logs", () => {
    expect(issuedTickets.length).toBeGreaterThan(5);
    const text = logs.text();
    expect(text).toContain("ws auth refused");
    for (const ticket of issuedTickets) expect(text).not.toContain(ticket);
  });
});
