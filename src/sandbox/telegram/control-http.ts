// The emulator's control API over HTTP (JSON under /control/…, events as SSE), so a browser
// page can play the user's side of a chat; mirrors the TypeScript API of TelegramEmulator.

import type { IncomingMessage, ServerResponse } from "node:http";
import { readBody, sendJson } from "./body";
import type { ChatInit, TelegramEmulator, UserInit } from "./emulator";
import type { EmulatorEvent } from "./types";

class ControlError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const SSE_KEEPALIVE_MS = 15_000;
const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);

/** The Host header's name (without its port) is a loopback name or address. */
function isLoopbackHost(host: string | undefined): boolean {
  if (!host) return false;
  const name = host.replace(/:\d+$/, "").toLowerCase();
  return LOOPBACK_HOSTS.has(name) || /^127(\.\d{1,3}){3}$/.test(name);
}
/** Events streamed when the client does not pick: everything but the noisy call log. */
const DEFAULT_EVENT_TYPES = ["message", "edit", "delete", "chat_action", "callback_answer"];

export async function handleControlRequest(
  emulator: TelegramEmulator,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<void> {
  try {
    // A page on another site can point a DNS name at 127.0.0.1 (DNS rebinding) and drive the
    // control API from the user's browser: only a loopback Host is served.
    if (!isLoopbackHost(req.headers.host)) {
      req.resume();
      throw new ControlError(403, "the control API answers loopback host names only");
    }
    const segments = url.pathname.split("/").filter(Boolean).slice(1).map(decodeURIComponent);
    if (req.method === "GET" && segments[0] === "events" && segments.length === 1) {
      streamEvents(emulator, req, res, url);
      return;
    }
    if (req.method === "GET" && segments[0] === "files" && segments.length === 2) {
      req.resume();
      const bytes = emulator.fileBytes(segments[1] ?? "");
      if (!bytes) throw new ControlError(404, "no such file");
      res.writeHead(200, {
        "content-type": "application/octet-stream",
        "content-length": bytes.length,
      });
      res.end(bytes);
      return;
    }
    if (req.method !== "POST") req.resume();
    const body = req.method === "POST" ? await readJson(req) : {};
    const result = route(emulator, req.method ?? "GET", segments, body, url);
    sendJson(res, 200, result);
  } catch (error) {
    const status = error instanceof ControlError ? error.status : 400;
    sendJson(res, status, { error: error instanceof Error ? error.message : String(error) });
  }
}

function route(
  emulator: TelegramEmulator,
  method: string,
  segments: string[],
  body: Record<string, unknown>,
  url: URL,
): unknown {
  const [resource, id, action] = segments;
  const key = `${method} ${[resource, id === undefined ? "" : ":id", action ?? ""].filter(Boolean).join("/")}`;
  switch (key) {
    case "GET ":
      // Never the bot token: whoever holds it can act as the bot.
      return {
        api_root: emulator.apiRoot,
        bot: emulator.botUser,
        chats: emulator.chatList(),
      };
    case "GET chats":
      return emulator.chatList();
    case "POST chats":
      return emulator.chat(body as unknown as ChatInit);
    case "GET chats/:id/history":
      return emulator.history(integer(id, "chat id"));
    case "GET chats/:id/transcript":
      return emulator.transcript(integer(id, "chat id"));
    case "POST users":
      return emulator.user(body as unknown as UserInit).user;
    case "POST users/:id/messages": {
      const user = emulator.user({ id: integer(id, "user id") });
      const text = body.text;
      if (typeof text !== "string") throw new ControlError(400, "text (string) is required");
      return user.sendText(text, {
        ...(body.chat ? { chat: body.chat as ChatInit } : {}),
        ...(body.reply_to_message_id !== undefined
          ? { replyTo: integer(body.reply_to_message_id, "reply_to_message_id") }
          : {}),
      });
    }
    case "POST users/:id/button-presses": {
      const user = emulator.user({ id: integer(id, "user id") });
      const data = body.callback_data;
      if (typeof data !== "string")
        throw new ControlError(400, "callback_data (string) is required");
      const callbackQueryId = user.pressButton(integer(body.message_id, "message_id"), data, {
        ...(body.chat_id !== undefined ? { chatId: integer(body.chat_id, "chat_id") } : {}),
      });
      return { callback_query_id: callbackQueryId };
    }
    case "POST users/:id/block":
      emulator.user({ id: integer(id, "user id") }).blockBot();
      return { ok: true };
    case "POST users/:id/unblock":
      emulator.user({ id: integer(id, "user id") }).unblockBot();
      return { ok: true };
    case "GET calls": {
      const only = url.searchParams.get("method");
      return only ? emulator.callsTo(only) : emulator.calls;
    }
    case "GET callback-answers":
      return emulator.callbackAnswers;
    case "GET commands": {
      const scope = url.searchParams.get("scope");
      const languageCode = url.searchParams.get("language_code");
      return emulator.commands({
        ...(scope ? { scope: JSON.parse(scope) } : {}),
        ...(languageCode ? { language_code: languageCode } : {}),
      });
    }
    case "GET webhook":
      return emulator.webhookInfo();
    default:
      throw new ControlError(404, `no control endpoint ${method} ${url.pathname}`);
  }
}

function streamEvents(
  emulator: TelegramEmulator,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): void {
  req.resume();
  const types = new Set(url.searchParams.get("types")?.split(",") ?? DEFAULT_EVENT_TYPES);
  const chatFilter = url.searchParams.get("chat_id");
  res.writeHead(200, {
    "content-type": "text/event-stream",
    "cache-control": "no-cache",
    connection: "keep-alive",
  });
  res.write(": connected\n\n");
  const unsubscribe = emulator.subscribe((event: EmulatorEvent) => {
    if (!types.has(event.type)) return;
    if (chatFilter !== null && "chat_id" in event && String(event.chat_id) !== chatFilter) return;
    res.write(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
  });
  const keepalive = setInterval(() => res.write(": keepalive\n\n"), SSE_KEEPALIVE_MS);
  res.on("close", () => {
    clearInterval(keepalive);
    unsubscribe();
  });
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const raw = await readBody(req, 1024 * 1024);
  if (raw.length === 0) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString("utf8"));
  } catch {
    throw new ControlError(400, "request body must be JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new ControlError(400, "request body must be a JSON object");
  }
  return parsed as Record<string, unknown>;
}

function integer(value: unknown, what: string): number {
  const parsed = typeof value === "number" ? value : Number(value);
  if (!Number.isSafeInteger(parsed)) throw new ControlError(400, `${what} must be an integer`);
  return parsed;
}
