// Sockets follow sessions (issue 15): a WebSocket is bound to the session whose access token
// bought its ticket. Logout, session revoke, revoke-all, password change and reset close it with
// 4401 within a second on every API process — here the socket is on one process and the revoke
// on the other — and nothing published after the revoke reaches it.
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { createLogger } from "../../../src/infra/logger";
import { createScrubber } from "../../../src/infra/scrub";
import { createWebSocketPublisher } from "../../../src/infra/ws-hub";
import { type RunningWarden, startWarden } from "../../../src/main";
import { captureLogs } from "../../support/log-capture";
import { freePort } from "../../support/process";
import { startTestWarden, type TestWarden } from "../../support/warden-harness";
import { AuthClient, type Caller, createSecrets, freshIp, TRUSTED_LOOPBACK } from "./auth-support";

let w: TestWarden;
let other: RunningWarden;
let otherBase: string;
let c: AuthClient;
let redis: Redis;
let publish: (userId: number, event: object) => Promise<number>;

beforeAll(async () => {
  w = await startTestWarden({ env: TRUSTED_LOOPBACK });
  // A second API process on the same database and Redis prefix.
  const port = await freePort();
  other = await startWarden({
    env: { ...w.env, PORT: String(port) },
    roles: ["api"],
    logger: createLogger({
      level: "warn",
      pretty: false,
      scrubber: createScrubber(),
      destination: captureLogs().stream,
    }),
  });
  otherBase = `http://127.0.0.1:${other.port}`;
  c = new AuthClient(w, createSecrets());
  redis = new Redis(w.redis.url, { keyPrefix: w.redis.prefix });
  publish = createWebSocketPublisher(redis);
}, 60_000);
afterAll(async () => {
  redis?.disconnect();
  await other?.shutdown.run("test finished");
  await w?.stop();
});

interface Socket {
  received: unknown[];
  closed: Promise<{ code: number; at: number }>;
}

/** A socket on the other process, authenticated with a ticket bought by `token`. */
async function socketOn(u: Caller, token: string): Promise<Socket> {
  const { ticket } = (await u.post("/ws-ticket", undefined, { token })).body as { ticket: string };
  const ws = new WebSocket(`${otherBase.replace("http", "ws")}/ws`, { origin: w.origin });
  const received: unknown[] = [];
  const closed = new Promise<{ code: number; at: number }>((resolve) =>
    ws.on("close", (code) => resolve({ code, at: Date.now() })),
  );
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  const ready = new Promise((resolve) => ws.once("message", resolve));
  ws.on("message", (data) => received.push(JSON.parse(String(data))));
  ws.send(JSON.stringify({ type: "auth", ticket }));
  await ready;
  expect(received).toEqual([{ type: "ready" }]);
  received.length = 0;
  return { received, closed };
}

async function expectClosedWithin1s(s: Socket, userId: string, revokedAt: number) {
  const timeout = new Promise<null>((r) => setTimeout(() => r(null), 1_000));
  const closed = await Promise.race([s.closed, timeout]);
  expect(closed, "socket still open 1 s after the revoke").not.toBeNull();
  expect(closed!.code).toBe(4401);
  expect(closed!.at - revokedAt).toBeLessThanOrEqual(1_000);
  await publish(Number(userId), { type: "alert", id: "after-revoke" });
  await new Promise((r) => setTimeout(r, 200));
  expect(s.received).toEqual([]);
}

async function signedUpWithSocket(tag: string) {
  const u = c.as(freshIp());
  const s = await u.signedUp(tag);
  const socket = await socketOn(u, s.accessToken);
  // The socket is live before the revoke: an event reaches it.
  await publish(Number(s.id), { type: "alert", id: "before" });
  await expect.poll(() => socket.received.length).toBe(1);
  socket.received.length = 0;
  return { u, s, socket };
}

describe("sockets follow sessions", () => {
  it("when the session logs out on the other process, then its socket closes with 4401 within 1 s and gets nothing after", async () => {
    const { u, s, socket } = await signedUpWithSocket("ws-logout");
    expect((await u.post("/logout", undefined, { token: s.accessToken })).status).toBe(204);
    await expectClosedWithin1s(socket, s.id, Date.now());
  });

  it("when the user signs out everywhere, then the socket closes with 4401 within 1 s and gets nothing after", async () => {
    const { u, s, socket } = await signedUpWithSocket("ws-revoke-all");
    const second = await u.login(s.email, s.password);
    expect((await u.delete("/sessions", { token: second.accessToken })).status).toBeLessThan(300);
    await expectClosedWithin1s(socket, s.id, Date.now());
  });

  it("when another session revokes this one, then only this session's socket closes with 4401", async () => {
    const { u, s, socket } = await signedUpWithSocket("ws-revoke-one");
    const second = await u.login(s.email, s.password);
    const survivor = await socketOn(u, second.accessToken);
    const sessions = (await u.sessions(second.accessToken)).body.sessions;
    const target = sessions.find((x) => !x.current)!;
    expect((await u.delete(`/sessions/${target.id}`, { token: second.accessToken })).status).toBe(
      204,
    );
    await expectClosedWithin1s(socket, s.id, Date.now());
    await publish(Number(s.id), { type: "alert", id: "to-survivor" });
    // The other session's socket stays and gets both events published after the revoke.
    await expect
      .poll(() => survivor.received)
      .toEqual([
        { type: "alert", id: "after-revoke" },
        { type: "alert", id: "to-survivor" },
      ]);
  });

  it("when the password is changed, then the socket closes with 4401 within 1 s and gets nothing after", async () => {
    const { u, s, socket } = await signedUpWithSocket("ws-change");
    const res = await u.post(
      "/password/change",
      { currentPassword: s.password, newPassword: "a different long passphrase" },
      { token: s.accessToken },
    );
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    await expectClosedWithin1s(socket, s.id, Date.now());
  });

  it("when the password is reset, then the socket closes with 4401 within 1 s and gets nothing after", async () => {
    const { u, s, socket } = await signedUpWithSocket("ws-reset");
    expect((await u.post("/password/reset/request", { email: s.email })).status).toBe(202);
    const mail = await w.smtp.waitForMessage(
      (m) => m.to.includes(s.email) && m.text.includes("/reset-password#token="),
      15_000,
    );
    const token = decodeURIComponent(/reset-password#token=([^\s"<>]+)/.exec(mail.text)![1]!);
    const res = await u.post("/password/reset/confirm", {
      token,
      password: "a reset long passphrase",
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    await expectClosedWithin1s(socket, s.id, Date.now());
  });
});
