// Acceptance tests of refresh tokens, sessions, logout and WebSocket tickets over HTTP and
// WebSocket against the running service (S5.3–S5.5): rotation, reuse detection killing the
// family, the Origin rule, logout and revocation server-side, one-time tickets.
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startTestWarden, type TestWarden } from "../../support/warden-harness";
import {
  AuthClient,
  CLEARED_COOKIE,
  createSecrets,
  err,
  expectedRefreshCookie,
  expectNoLeaksAndNoStore,
  freshIp,
  sha256Hex,
  sql,
  TRUSTED_LOOPBACK,
} from "./auth-support";

let w: TestWarden;
let c: AuthClient;

beforeAll(async () => {
  w = await startTestWarden({ env: TRUSTED_LOOPBACK });
  c = new AuthClient(w, createSecrets());
});
afterAll(async () => {
  await w?.stop();
});

const caller = () => c.as(freshIp());

describe("Refresh rotation (S5.3)", () => {
  it("when a refresh token is used with the allowed Origin, then 200 gives a new access token and a new refresh cookie with the exact attributes", async () => {
    const u = caller();
    const s = await u.signedUp();
    const res = await u.refresh(s.refresh);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ accessToken: expect.any(String), expiresIn: 900 });
    expect(res.body.accessToken).not.toBe(s.accessToken);
    const next = res.refresh as string;
    expect(next).toMatch(/^[A-Za-z0-9_-]{22,}$/);
    expect(next).not.toBe(s.refresh);
    expect(res.setCookies).toEqual([expectedRefreshCookie(next)]);
    expect((await u.sessions(res.body.accessToken)).status).toBe(200);
    // The rotated one works in turn.
    expect((await u.refresh(next)).status).toBe(200);
  });

  it("when refresh tokens are stored, then only their SHA-256 is in the database, with the session as family", async () => {
    const u = caller();
    const s = await u.signedUp();
    const rows = await sql<{ hash: string; session_id: string }>(
      w,
      "select hash, session_id::text as session_id from refresh_tokens where hash = $1",
      [sha256Hex(s.refresh)],
    );
    expect(rows).toHaveLength(1);
    const list = await u.sessions(s.accessToken);
    expect(rows[0]!.session_id).toBe(list.body.sessions[0]!.id);
  });

  it("when a refresh token is replayed after rotation, then 401 invalid_token, the whole family dies and a refresh_reuse security event is recorded", async () => {
    const u = caller();
    const s = await u.signedUp();
    const rotated = await u.refresh(s.refresh);
    expect(rotated.status).toBe(200);
    const newest = rotated.refresh as string;
    const newestAccess = rotated.body.accessToken as string;

    const replay = await u.refresh(s.refresh);
    expect(replay.status).toBe(401);
    expect(replay.body).toEqual(err("invalid_token"));
    expect(replay.setCookies).toEqual([CLEARED_COOKIE]);

    // The newest refresh token of the family is dead too, and so are its access tokens.
    const after = await u.refresh(newest);
    expect(after.status).toBe(401);
    expect(after.body).toEqual(err("invalid_token"));
    for (const token of [s.accessToken, newestAccess]) {
      const res = await u.sessions(token);
      expect(res.status).toBe(401);
      expect(res.body).toEqual(err("invalid_token"));
    }

    const events = await sql<{ outcome: string; ip: string }>(
      w,
      "select outcome, host(ip) as ip from security_events where user_id = $1 and kind = 'refresh_reuse'",
      [s.id],
    );
    expect(events).toEqual([{ outcome: "detected", ip: u.ip }]);
  });

  it("when a session dies by reuse, then the user's other sessions live on", async () => {
    const u = caller();
    const s = await u.signedUp();
    const other = await u.login(s.email, s.password);
    expect((await u.refresh(s.refresh)).status).toBe(200);
    expect((await u.refresh(s.refresh)).status).toBe(401);
    expect((await u.sessions(other.accessToken)).status).toBe(200);
    expect((await u.refresh(other.refresh)).status).toBe(200);
  });

  it("when refresh has no Origin or a foreign Origin, then 403 origin_not_allowed and the token is not spent", async () => {
    const u = caller();
    const s = await u.signedUp();
    for (const origin of [null, "https://evil.example", `${w.origin}.evil.example`, "null"]) {
      const res = await u.refresh(s.refresh, origin);
      expect(res.status, String(origin)).toBe(403);
      expect(res.body).toEqual(err("origin_not_allowed"));
      expect(res.setCookies).toEqual([]);
    }
    expect((await u.refresh(s.refresh)).status).toBe(200);
  });

  it("when refresh is asked by GET, then it is not served", async () => {
    const u = caller();
    const s = await u.signedUp();
    const res = await u.get("/refresh", { cookie: s.refresh, origin: w.origin });
    expect(res.status).toBe(404);
    expect(res.setCookies).toEqual([]);
    expect((await u.refresh(s.refresh)).status).toBe(200);
  });

  it("when refresh has no cookie or an unknown token, then 401 invalid_token", async () => {
    const u = caller();
    for (const cookie of [undefined, "not-a-real-refresh-token-at-all-0000"]) {
      const res = await u.refresh(cookie);
      expect(res.status).toBe(401);
      expect(res.body).toEqual(err("invalid_token"));
    }
  });
});

describe("Logout (S5.4)", () => {
  it("when a user logs out with bearer and cookie, then 204 clears the cookie and the session dies server-side", async () => {
    const u = caller();
    const s = await u.signedUp();
    const other = await u.login(s.email, s.password);
    const res = await u.post("/logout", undefined, { token: s.accessToken, cookie: s.refresh });
    expect(res.status).toBe(204);
    expect(res.setCookies).toEqual([CLEARED_COOKIE]);
    const access = await u.sessions(s.accessToken);
    expect(access.status).toBe(401);
    expect(access.body).toEqual(err("invalid_token"));
    const refresh = await u.refresh(s.refresh);
    expect(refresh.status).toBe(401);
    expect(refresh.body).toEqual(err("invalid_token"));
    // Only that session.
    expect((await u.sessions(other.accessToken)).status).toBe(200);
  });

  it("when a user logs out with only the cookie, then the family dies: a token refreshed earlier and its access token stop working", async () => {
    const u = caller();
    const s = await u.signedUp();
    const rotated = await u.refresh(s.refresh);
    const res = await u.post("/logout", undefined, { cookie: rotated.refresh });
    expect(res.status).toBe(204);
    expect((await u.sessions(rotated.body.accessToken)).status).toBe(401);
    expect((await u.sessions(s.accessToken)).status).toBe(401);
    expect((await u.refresh(rotated.refresh)).status).toBe(401);
  });

  it("when a user logs out with only the bearer token, then the refresh token of that session stops working", async () => {
    const u = caller();
    const s = await u.signedUp();
    expect((await u.post("/logout", undefined, { token: s.accessToken })).status).toBe(204);
    expect((await u.refresh(s.refresh)).status).toBe(401);
  });
});

describe("Sessions (S5.4)", () => {
  it("when a user lists sessions, then each live one shows id, times, IP, user agent and which is current", async () => {
    const u = caller();
    const s = await u.signedUp();
    const second = await u.login(s.email, s.password);
    const res = await u.sessions(second.accessToken);
    expect(res.status).toBe(200);
    expect(res.body.sessions).toHaveLength(2);
    for (const session of res.body.sessions) {
      expect(session).toEqual({
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        lastUsedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        ip: u.ip,
        userAgent: "warden-acceptance-test",
        current: expect.any(Boolean),
      });
    }
    expect(res.body.sessions.filter((x: { current: boolean }) => x.current)).toHaveLength(1);
  });

  it("when a user revokes one session, then 204 and that session's access and refresh tokens stop working, the others do not", async () => {
    const u = caller();
    const s = await u.signedUp();
    const victim = await u.login(s.email, s.password);
    const victimId = (await u.sessions(victim.accessToken)).body.sessions.find(
      (x: { current: boolean }) => x.current,
    )!.id;
    const res = await u.delete(`/sessions/${victimId}`, { token: s.accessToken });
    expect(res.status).toBe(204);
    expect((await u.sessions(victim.accessToken)).status).toBe(401);
    expect((await u.refresh(victim.refresh)).status).toBe(401);
    const left = await u.sessions(s.accessToken);
    expect(left.status).toBe(200);
    expect(left.body.sessions.map((x: { id: string }) => x.id)).not.toContain(victimId);
    expect(left.body.sessions).toHaveLength(1);
  });

  it("when a user tries to revoke another user's session, then 404 session_not_found and it lives on", async () => {
    const u = caller();
    const alice = await u.signedUp("alice");
    const bob = await u.signedUp("bob");
    const bobSession = (await u.sessions(bob.accessToken)).body.sessions[0]!.id;
    const res = await u.delete(`/sessions/${bobSession}`, { token: alice.accessToken });
    expect(res.status).toBe(404);
    expect(res.body).toEqual(err("session_not_found"));
    expect((await u.sessions(bob.accessToken)).status).toBe(200);
  });

  it("when a user revokes all sessions, then 200 with the count and every session, this one included, stops working", async () => {
    const u = caller();
    const s = await u.signedUp();
    const b = await u.login(s.email, s.password);
    const cc = await u.login(s.email, s.password);
    const res = await u.delete("/sessions", { token: s.accessToken });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ revoked: 3 });
    expect(res.setCookies).toEqual([CLEARED_COOKIE]);
    for (const session of [s, b, cc]) {
      expect((await u.sessions(session.accessToken)).status).toBe(401);
      expect((await u.refresh(session.refresh)).status).toBe(401);
    }
  });
});

describe("WebSocket tickets (S5.5)", () => {
  const wsUrl = () => `${w.base.replace(/^http/, "ws")}/ws`;

  /** Opens a socket; `origin` null sends no Origin header. */
  function open(origin: string | null = w.origin): Promise<WebSocket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(wsUrl(), origin === null ? {} : { headers: { Origin: origin } });
      ws.once("open", () => resolve(ws));
      ws.once("error", reject);
      ws.once("unexpected-response", (_req, res) =>
        reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })),
      );
    });
  }

  /** Sends the auth message; resolves with the first message or the close code. */
  function authenticate(
    ws: WebSocket,
    ticket: string,
  ): Promise<{ message?: unknown; close?: number }> {
    return new Promise((resolve) => {
      ws.once("message", (data) => resolve({ message: JSON.parse(String(data)) }));
      ws.once("close", (code) => resolve({ close: code }));
      ws.send(JSON.stringify({ type: "auth", ticket }));
    });
  }

  async function ticketFor(u: ReturnType<typeof caller>, token: string) {
    const res = await u.post("/ws-ticket", undefined, { token });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ ticket: expect.any(String), expiresIn: 30 });
    return res.body.ticket as string;
  }

  it("when a signed-in user asks for a ticket, then it is ≥128 bits, kept in Redis only as a hash with TTL ≤ 30 s", async () => {
    const u = caller();
    const s = await u.signedUp();
    const ticket = await ticketFor(u, s.accessToken);
    expect(ticket).toMatch(/^[A-Za-z0-9_-]{22,}$/);
    const redis = new Redis(w.redis.url);
    try {
      const ttl = await redis.ttl(`${w.redis.prefix}ott:ws:t:${sha256Hex(ticket)}`);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(30);
    } finally {
      redis.disconnect();
    }
  });

  it("when no access token is given, then no ticket (401 invalid_token)", async () => {
    const res = await caller().post("/ws-ticket");
    expect(res.status).toBe(401);
    expect(res.body).toEqual(err("invalid_token"));
  });

  it("when a ticket is sent as the first message, then ready; the same ticket again closes with 1008", async () => {
    const u = caller();
    const s = await u.signedUp();
    const ticket = await ticketFor(u, s.accessToken);

    const first = await open();
    expect(await authenticate(first, ticket)).toEqual({ message: { type: "ready" } });
    first.close();

    const second = await open();
    expect(await authenticate(second, ticket)).toEqual({ close: 1008 });
  });

  it("when the ticket is unknown, then the socket closes with 1008", async () => {
    const ws = await open();
    expect(await authenticate(ws, "x".repeat(43))).toEqual({ close: 1008 });
  });

  it("when the first message is the access token instead of a ticket, then the socket closes with 1008", async () => {
    const u = caller();
    const s = await u.signedUp();
    const ws = await open();
    expect(await authenticate(ws, s.accessToken)).toEqual({ close: 1008 });
  });

  it("when the handshake Origin is missing or foreign, then the upgrade is refused with 403", async () => {
    await expect(open("https://evil.example")).rejects.toMatchObject({ status: 403 });
    await expect(open(null)).rejects.toMatchObject({ status: 403 });
  });
});

describe("Closing checks", () => {
  it("when all flows above ran, then no password, refresh token or ticket is in the log, PostgreSQL or Redis, and every response had Cache-Control: no-store", async () => {
    await expectNoLeaksAndNoStore(w, c);
  });
});
