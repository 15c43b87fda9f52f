// /sandbox: a small web chat in front of the Telegram emulator, so a newcomer can talk to the
// real bot from a browser right after `npm start` (development without TELEGRAM_BOT_TOKEN only;
// main.ts never mounts it in production). It answers loopback clients only, and only under a
// local or the public host name (a DNS-rebinding page cannot reach it): anyone who reaches it
// can act as any sandbox user.
import express, { type NextFunction, type Request, type Response, Router } from "express";
import { z } from "zod";
import type { Asset } from "../api/web-routes";
import type { EmulatorEvent, TelegramEmulator } from "./telegram";

const LOOPBACK = new Set(["127.0.0.1", "::1", "::ffff:127.0.0.1"]);
const userId = z.coerce
  .number()
  .int()
  .min(1)
  .max(2 ** 40);
const messageBody = z.object({ text: z.string().min(1).max(4096) });
const pressBody = z.object({
  message_id: z.number().int().positive(),
  callback_data: z.string().min(1).max(64),
});

const LOCAL_HOSTS = ["localhost", "127.0.0.1", "[::1]"];

export function localOnly(publicHost: string) {
  const hosts = new Set([...LOCAL_HOSTS, publicHost]);
  return (req: Request, res: Response, next: NextFunction) => {
    // The socket's address, never X-Forwarded-For; the Host header without its port.
    const host = (req.get("host") ?? "").replace(/:\d+$/, "").toLowerCase();
    // A proxy or tunnel on this machine also connects from loopback: anything it forwarded
    // (it says so in these headers) came from elsewhere.
    const forwarded = ["x-forwarded-for", "forwarded", "x-real-ip"].some((h) => req.get(h));
    if (forwarded || !LOOPBACK.has(req.socket.remoteAddress ?? "") || !hosts.has(host)) {
      res
        .status(403)
        .json({ error: "forbidden", message: "The sandbox answers this machine only." });
      return;
    }
    next();
  };
}

export function createSandboxRoutes(deps: {
  tg: TelegramEmulator;
  /** PUBLIC_URL's host name, accepted besides localhost and the loopback addresses. */
  publicHost: string;
  page: string;
  script: Asset;
}): {
  router: Router;
  closeStreams(): void;
} {
  const { tg } = deps;
  const router = Router();
  const streams = new Set<Response>();
  router.use("/sandbox", localOnly(deps.publicHost.toLowerCase()), (_req, res, next) => {
    res.setHeader("Cache-Control", "no-store");
    next();
  });
  router.get("/sandbox", (_req, res) => {
    res.setHeader("Content-Type", "text/html; charset=utf-8");
    res.send(deps.page);
  });
  router.get("/sandbox/app.js", (_req, res) => {
    res.setHeader("Content-Type", deps.script.contentType);
    res.send(deps.script.body);
  });
  router.get("/sandbox/api/bot", (_req, res) => {
    res.json({ username: tg.botUser.username, name: tg.botUser.first_name });
  });

  const user = (req: Request) => {
    const id = userId.safeParse(req.params.id);
    if (!id.success) return undefined;
    return tg.user({ id: id.data, first_name: "Sandbox", last_name: `user ${id.data}` });
  };
  const bad = (res: Response, message: string) =>
    res.status(400).json({ error: "invalid_request", message });

  router.get("/sandbox/api/users/:id/history", (req, res) => {
    const u = user(req);
    if (!u) return bad(res, "Bad user id.");
    res.json({ history: u.history() });
  });

  router.post("/sandbox/api/users/:id/messages", express.json({ limit: "16kb" }), (req, res) => {
    const u = user(req);
    const body = messageBody.safeParse(req.body);
    if (!u || !body.success) return bad(res, "Send {text} (1 to 4096 characters).");
    const message = u.sendText(body.data.text);
    res.status(201).json({ message_id: message.message_id });
  });

  router.post("/sandbox/api/users/:id/presses", express.json({ limit: "4kb" }), (req, res) => {
    const u = user(req);
    const body = pressBody.safeParse(req.body);
    if (!u || !body.success) return bad(res, "Send {message_id, callback_data}.");
    try {
      u.pressButton(body.data.message_id, body.data.callback_data);
    } catch {
      res.status(409).json({ error: "not_pressable", message: "That button is gone." });
      return;
    }
    res.status(204).end();
  });

  // Server-Sent Events for one private chat: messages, edits and deletions as they happen.
  router.get("/sandbox/api/users/:id/events", (req, res) => {
    const u = user(req);
    if (!u) return bad(res, "Bad user id.");
    res.writeHead(200, {
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-store",
      Connection: "keep-alive",
    });
    res.write(": connected\n\n");
    const unsubscribe = tg.subscribe((event: EmulatorEvent) => {
      if (event.type === "call" || event.chat_id !== u.id) return;
      res.write(`data: ${JSON.stringify(event)}\n\n`);
    });
    const ping = setInterval(() => res.write(": ping\n\n"), 15_000);
    streams.add(res);
    req.on("close", () => {
      clearInterval(ping);
      unsubscribe();
      streams.delete(res);
    });
  });

  router.get("/sandbox/api/files/:fileId", (req, res) => {
    const bytes = tg.fileBytes(String(req.params.fileId));
    if (!bytes) {
      res.status(404).json({ error: "not_found", message: "No such file." });
      return;
    }
    // Only images are rendered; anything else is offered as a download, never sniffed.
    const png = bytes.subarray(0, 8).equals(Buffer.from("89504e470d0a1a0a", "hex"));
    const jpeg = bytes.subarray(0, 3).equals(Buffer.from("ffd8ff", "hex"));
    res.setHeader(
      "Content-Type",
      png ? "image/png" : jpeg ? "image/jpeg" : "application/octet-stream",
    );
    res.send(bytes);
  });

  return {
    router,
    // Event streams never end on their own; shutdown ends them so the server can close.
    closeStreams() {
      for (const res of streams) res.end();
      streams.clear();
    },
  };
}
