// Drives the Telegram Bot API emulator with a real grammY bot (long polling, webhooks, file
// uploads, error paths), proving it speaks the protocol the way grammY and Telegram do.

import { createHash } from "node:crypto";
import { createServer, type IncomingHttpHeaders, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Bot, GrammyError, InputFile, webhookCallback } from "grammy";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  startTelegramEmulator,
  type TelegramEmulator,
  type TelegramEmulatorOptions,
} from "../support/telegram";

const START = Date.UTC(2026, 0, 15, 12, 0, 0);
const HOUR = 60 * 60 * 1000;

let clock = START;
let tg: TelegramEmulator;
let bots: Bot[] = [];
let handlerErrors: unknown[] = [];
let servers: Server[] = [];

async function emulator(options: TelegramEmulatorOptions = {}): Promise<TelegramEmulator> {
  await tg?.close();
  tg = await startTelegramEmulator({ now: () => clock, waitTimeoutMs: 3000, ...options });
  return tg;
}

function newBot(token = tg.token): Bot {
  const bot = new Bot(token, { client: { apiRoot: tg.apiRoot } });
  bot.catch((error) => {
    handlerErrors.push(error.error);
  });
  bots.push(bot);
  return bot;
}

/** Starts long polling and resolves once grammY is inside its getUpdates loop. */
async function startPolling(bot: Bot): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    bot.start({ onStart: () => resolve(), timeout: 30 }).catch(reject);
  });
}

async function listen(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Just enough PNG (signature + IHDR) for the emulator to read the dimensions. */
function pngHeader(width: number, height: number): Buffer {
  const bytes = Buffer.alloc(33);
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(bytes, 0);
  bytes.writeUInt32BE(13, 8);
  bytes.write("IHDR", 12, "latin1");
  bytes.writeUInt32BE(width, 16);
  bytes.writeUInt32BE(height, 20);
  return bytes;
}

async function apiError(promise: Promise<unknown>): Promise<GrammyError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GrammyError);
  return error as GrammyError;
}

beforeEach(async () => {
  clock = START;
  handlerErrors = [];
  await emulator();
});

afterEach(async () => {
  for (const bot of bots) if (bot.isRunning()) await bot.stop();
  bots = [];
  await tg.close();
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  servers = [];
  expect(handlerErrors).toEqual([]);
});

describe("Telegram emulator driven by a real grammY bot", () => {
  it("when the bot calls getMe, then it receives the emulated bot account", async () => {
    const bot = newBot();

    const me = await bot.api.getMe();

    expect(tg.token).toMatch(/^\d+:AA[\w-]{33}$/);
    expect(me).toEqual({
      id: Number(tg.token.split(":")[0]),
      is_bot: true,
      first_name: "Warden",
      username: "warden_emulator_bot",
      can_join_groups: true,
      can_read_all_group_messages: false,
      supports_inline_queries: false,
      can_connect_to_business: false,
      has_main_web_app: false,
    });
    expect(tg.calls.map((c) => [c.method, c.ok])).toEqual([["getMe", true]]);
  });

  it("when a user sends /start, then the command handler runs and its reply appears in the history", async () => {
    const bot = newBot();
    bot.command("start", (ctx) => ctx.reply(`Welcome, ${ctx.from?.first_name}!`));
    await startPolling(bot);
    const alice = tg.user({ id: 1001, first_name: "Alice", username: "alice" });

    const sent = alice.sendText("/start");
    const reply = await tg.waitForBotMessage(alice.id);

    expect(sent.entities).toEqual([{ type: "bot_command", offset: 0, length: 6 }]);
    expect(reply).toMatchObject({ message_id: 2, from: "bot", text: "Welcome, Alice!" });
    expect(
      tg
        .history(alice.id)
        .map(({ message_id, from, text, date }) => ({ message_id, from, text, date })),
    ).toEqual([
      { message_id: 1, from: "user", text: "/start", date: START / 1000 },
      { message_id: 2, from: "bot", text: "Welcome, Alice!", date: START / 1000 },
    ]);
  });

  it("when a user presses an inline button, then the callbackQuery handler runs and its answer is recorded", async () => {
    const bot = newBot();
    const seenByHandler: Array<{ data?: string; text?: string }> = [];
    bot.command("menu", (ctx) =>
      ctx.reply("Close position BTCUSDT?", {
        reply_markup: {
          inline_keyboard: [
            [
              { text: "Yes", callback_data: "close:7" },
              { text: "No", callback_data: "keep:7" },
            ],
          ],
        },
      }),
    );
    bot.callbackQuery("close:7", async (ctx) => {
      seenByHandler.push({ data: ctx.callbackQuery.data, text: ctx.callbackQuery.message?.text });
      await ctx.answerCallbackQuery({ text: "Closing…", show_alert: true });
    });
    await startPolling(bot);
    const alice = tg.user({ id: 1002, first_name: "Alice" });
    alice.sendText("/menu");
    const menu = await alice.waitForBotMessage();

    const queryId = alice.pressButton(menu.message_id, "close:7");
    const answer = await tg.waitForCallbackAnswer(queryId);

    expect(seenByHandler).toEqual([{ data: "close:7", text: "Close position BTCUSDT?" }]);
    expect(answer).toEqual({
      callback_query_id: queryId,
      text: "Closing…",
      show_alert: true,
      at: START,
      chat_id: alice.id,
      message_id: menu.message_id,
      data: "close:7",
    });
    expect(tg.callbackAnswers).toHaveLength(1);
    expect(() => alice.pressButton(menu.message_id, "close:8")).toThrow(
      'has no button with callback_data "close:8" (buttons: "close:7", "keep:7")',
    );
  });

  it("when the bot deletes a user's message, then the history drops it but the transcript keeps it", async () => {
    const bot = newBot();
    bot.on("message:text", async (ctx) => {
      if (!ctx.message.text.startsWith("key ")) return;
      await ctx.deleteMessage();
      await ctx.reply("I deleted your message: never paste API keys into the chat.");
    });
    await startPolling(bot);
    const alice = tg.user({ id: 1003 });
    const secret = "key sk-live-7f3a9b";

    const leaked = alice.sendText(secret);
    await alice.waitForBotMessage();

    expect(tg.history(alice.id).map((e) => [e.message_id, e.from, e.text])).toEqual([
      [2, "bot", "I deleted your message: never paste API keys into the chat."],
    ]);
    expect(tg.transcript(alice.id).map((e) => [e.message_id, e.from, e.text, e.deleted])).toEqual([
      [leaked.message_id, "user", secret, true],
      [2, "bot", "I deleted your message: never paste API keys into the chat.", false],
    ]);
    const botTexts = tg.transcript(alice.id).filter((e) => e.from === "bot");
    expect(botTexts.some((e) => e.text?.includes("sk-live"))).toBe(false);
  });

  it("when the bot deletes a message older than 48 hours, then grammY throws Telegram's error", async () => {
    const bot = newBot();
    const alice = tg.user({ id: 1004 });
    const old = alice.sendText("first");
    clock += 47 * HOUR;
    const recent = alice.sendText("second");
    clock += 1 * HOUR;

    const tooOld = await apiError(bot.api.deleteMessage(alice.id, old.message_id));
    const missing = await apiError(bot.api.deleteMessage(alice.id, 999));
    const deleted = await bot.api.deleteMessage(alice.id, recent.message_id);

    expect([tooOld.error_code, tooOld.description]).toEqual([
      400,
      "Bad Request: message can't be deleted",
    ]);
    expect([missing.error_code, missing.description]).toEqual([
      400,
      "Bad Request: message to delete not found",
    ]);
    expect(deleted).toBe(true);
    expect(tg.history(alice.id).map((e) => e.text)).toEqual(["first"]);
  });

  it("when the bot edits its message text, then the history shows the edit and the transcript both versions", async () => {
    const bot = newBot();
    const alice = tg.user({ id: 1005 });
    alice.sendText("/status");
    const sent = await bot.api.sendMessage(alice.id, "Loading…", {
      reply_markup: { inline_keyboard: [[{ text: "Cancel", callback_data: "cancel" }]] },
    });
    clock += 5000;

    const edited = await bot.api.editMessageText(
      alice.id,
      sent.message_id,
      "<b>Balance:</b> 1 200 USDT",
      {
        parse_mode: "HTML",
      },
    );
    const unchanged = await apiError(
      bot.api.editMessageText(alice.id, sent.message_id, "<b>Balance:</b> 1 200 USDT", {
        parse_mode: "HTML",
      }),
    );
    const notOwn = await apiError(bot.api.editMessageText(alice.id, 1, "hijacked"));

    expect(edited).toMatchObject({ text: "Balance: 1 200 USDT", edit_date: (START + 5000) / 1000 });
    expect(tg.history(alice.id)[1]).toEqual({
      message_id: sent.message_id,
      from: "bot",
      sender: {
        id: tg.botUser.id,
        is_bot: true,
        first_name: "Warden",
        username: "warden_emulator_bot",
      },
      date: START / 1000,
      text: "Balance: 1 200 USDT",
      entities: [{ type: "bold", offset: 0, length: 8 }],
      parse_mode: "HTML",
      source_text: "<b>Balance:</b> 1 200 USDT",
      edited: true,
      edit_date: (START + 5000) / 1000,
    });
    expect(
      tg
        .transcript(alice.id)
        .map((e) => [e.event, e.version, e.text, e.reply_markup?.inline_keyboard?.length]),
    ).toEqual([
      ["sent", 0, "/status", undefined],
      ["sent", 0, "Loading…", 1],
      ["edited", 1, "Balance: 1 200 USDT", undefined],
    ]);
    expect(unchanged.description).toBe(
      "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
    );
    expect(notOwn.description).toBe("Bad Request: message can't be edited");
  });

  it("when the bot sends a photo uploaded from a Buffer, then its size, sha256 and caption are recorded", async () => {
    const bot = newBot();
    const alice = tg.user({ id: 1006 });
    alice.sendText("/chart");
    const png = pngHeader(640, 480);
    const sha256 = createHash("sha256").update(png).digest("hex");

    const uploaded = await bot.api.sendPhoto(alice.id, new InputFile(png, "chart.png"), {
      caption: "BTCUSDT 1h",
      reply_markup: { inline_keyboard: [[{ text: "Refresh", callback_data: "chart:refresh" }]] },
    });
    const photo = uploaded.photo.at(-1);
    const resent = await bot.api.sendPhoto(alice.id, photo?.file_id ?? "");
    const unknownId = await apiError(bot.api.sendPhoto(alice.id, "AgACAgIAAxk-not-issued-here"));

    expect(photo).toMatchObject({ width: 640, height: 480, file_size: png.length });
    expect(tg.history(alice.id)[1]).toMatchObject({
      from: "bot",
      caption: "BTCUSDT 1h",
      photo: {
        source: "upload",
        file_size: 33,
        sha256,
        width: 640,
        height: 480,
        file_name: "chart.png",
      },
      reply_markup: { inline_keyboard: [[{ text: "Refresh", callback_data: "chart:refresh" }]] },
    });
    expect(tg.history(alice.id)[2]?.photo).toMatchObject({
      source: "file_id",
      sha256,
      file_id: photo?.file_id,
    });
    expect(resent.photo[0]?.file_id).toBe(photo?.file_id);
    expect(unknownId.description).toBe("Bad Request: wrong file identifier/HTTP URL specified");
    expect(tg.callsTo("sendPhoto")[0]?.params.photo).toEqual({
      file_name: "chart.png",
      file_size: 33,
      sha256,
    });
  });

  it("when the bot sets its commands, then getMyCommands returns them per scope and language", async () => {
    const bot = newBot();
    const commands = [
      { command: "start", description: "Start the bot" },
      { command: "positions", description: "Open positions" },
    ];

    await bot.api.setMyCommands(commands);
    await bot.api.setMyCommands([{ command: "start", description: "Bot starten" }], {
      language_code: "de",
    });
    const invalid = await apiError(
      bot.api.setMyCommands([{ command: "Bad-Command", description: "x" }]),
    );

    expect(await bot.api.getMyCommands()).toEqual(commands);
    expect(await bot.api.getMyCommands({ language_code: "de" })).toEqual([
      { command: "start", description: "Bot starten" },
    ]);
    expect(await bot.api.getMyCommands({ scope: { type: "all_private_chats" } })).toEqual([]);
    expect(tg.commands()).toEqual(commands);
    expect(tg.callsTo("setMyCommands").map((c) => c.params.commands)).toEqual([
      commands,
      [{ command: "start", description: "Bot starten" }],
      [{ command: "Bad-Command", description: "x" }],
    ]);
    expect(invalid.description).toBe("Bad Request: BOT_COMMAND_INVALID");
    await bot.api.deleteMyCommands();
    expect(await bot.api.getMyCommands()).toEqual([]);
  });

  it("when a webhook with a secret token is set, then updates are POSTed to it with the secret header", async () => {
    const bot = newBot();
    bot.command("start", (ctx) => ctx.reply("Hello via webhook"));
    const handle = webhookCallback(bot, "http", { secretToken: "w4rden_Secret-1" });
    const received: Array<{ headers: IncomingHttpHeaders }> = [];
    const url = await listen((req, res) => {
      received.push({ headers: req.headers });
      void handle(req, res);
    });
    await bot.api.setWebhook(`${url}/telegram`, { secret_token: "w4rden_Secret-1" });
    const alice = tg.user({ id: 1007 });

    alice.sendText("/start");
    const reply = await alice.waitForBotMessage();

    expect(reply.text).toBe("Hello via webhook");
    expect(received).toHaveLength(1);
    expect(received[0]?.headers["x-telegram-bot-api-secret-token"]).toBe("w4rden_Secret-1");
    expect(received[0]?.headers["content-type"]).toBe("application/json");
    expect(await bot.api.getWebhookInfo()).toEqual({
      url: `${url}/telegram`,
      has_custom_certificate: false,
      pending_update_count: 0,
      max_connections: 40,
    });
  });

  it("when the bot replies inside the webhook response, then the emulator executes that call", async () => {
    const bot = new Bot(tg.token, {
      client: { apiRoot: tg.apiRoot, canUseWebhookReply: (method) => method === "sendMessage" },
    });
    bots.push(bot);
    bot.command("ping", (ctx) => ctx.reply("pong"));
    const url = await listen(webhookCallback(bot, "http"));
    await bot.api.setWebhook(url);
    const alice = tg.user({ id: 1016 });

    alice.sendText("/ping");
    const reply = await alice.waitForBotMessage();

    expect(reply.text).toBe("pong");
    expect(tg.callsTo("sendMessage")).toMatchObject([
      { ok: true, params: { chat_id: alice.id, text: "pong" } },
    ]);
  });

  it("when the webhook answers with an error, then the update is retried until accepted", async () => {
    await emulator({ webhook: { retryDelayMs: 10, maxAttempts: 4 } });
    const bot = newBot();
    const bodies: string[] = [];
    let failuresLeft = 2;
    const url = await listen((req, res) => {
      let body = "";
      req.on("data", (chunk) => {
        body += chunk;
      });
      req.on("end", () => {
        bodies.push(body);
        res.statusCode = failuresLeft-- > 0 ? 502 : 200;
        res.end();
      });
    });
    await bot.api.setWebhook(url);

    tg.user({ id: 1008 }).sendText("ping");
    await expect.poll(() => bodies.length, { timeout: 2000 }).toBe(3);

    expect(new Set(bodies).size).toBe(1);
    expect(JSON.parse(bodies[0] ?? "{}")).toMatchObject({
      update_id: 1,
      message: { text: "ping" },
    });
    expect(tg.webhookInfo()).toMatchObject({
      pending_update_count: 0,
      last_error_message: "Wrong response from the webhook: 502 Bad Gateway",
    });
  });

  it("when getUpdates is called while a webhook is set, then the emulator answers 409", async () => {
    const bot = newBot();
    const url = await listen((_req, res) => res.end());
    await bot.api.setWebhook(url);

    const conflict = await apiError(bot.api.getUpdates({ timeout: 0 }));

    expect([conflict.error_code, conflict.description]).toEqual([
      409,
      "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
    ]);
  });

  it("when setWebhook points outside the allowed hosts, then it is refused and nothing is posted", async () => {
    const bot = newBot();

    const refused = await apiError(bot.api.setWebhook("https://example.com/hook"));

    expect(refused.error_code).toBe(400);
    expect(refused.description).toMatch(/^Bad Request: bad webhook: /);
    expect(tg.webhookInfo().url).toBe("");
  });

  it("when the token is unknown, then the emulator answers 401 Unauthorized", async () => {
    const bot = newBot(`${tg.botUser.id}:AAwrong-secret-wrong-secret-wrong-sec`);

    const error = await apiError(bot.api.getMe());

    expect([error.error_code, error.description]).toEqual([401, "Unauthorized"]);
  });

  it("when the per-chat rate limit is exceeded, then the emulator answers 429 with retry_after", async () => {
    await emulator({ rateLimit: { perChatPerSecond: 2 } });
    const bot = newBot();
    const alice = tg.user({ id: 1009 });
    alice.sendText("/spam");

    await bot.api.sendMessage(alice.id, "one");
    await bot.api.sendMessage(alice.id, "two");
    const limited = await apiError(bot.api.sendMessage(alice.id, "three"));
    clock += 1000;
    await bot.api.sendMessage(alice.id, "four");

    expect(limited.error_code).toBe(429);
    expect(limited.description).toBe("Too Many Requests: retry after 1");
    expect(limited.parameters.retry_after).toBe(1);
    expect(tg.tooManyRequestsSent).toBe(1);
    expect(tg.history(alice.id).map((e) => e.text)).toEqual(["/spam", "one", "two", "four"]);
  });

  it("when the bot writes to a user who never started it or blocked it, then Telegram's 403s come back", async () => {
    const bot = newBot();
    const stranger = tg.user({ id: 1010 });
    const blocker = tg.user({ id: 1011 });
    blocker.sendText("/start");
    blocker.blockBot();

    const notStarted = await apiError(bot.api.sendMessage(stranger.id, "hi"));
    const blocked = await apiError(bot.api.sendMessage(blocker.id, "hi"));
    const unknown = await apiError(bot.api.sendMessage(999_999, "hi"));

    expect(notStarted.description).toBe("Forbidden: bot can't initiate conversation with a user");
    expect(blocked.description).toBe("Forbidden: bot was blocked by the user");
    expect(unknown.description).toBe("Bad Request: chat not found");
  });

  it("when the bot sends malformed HTML or MarkdownV2, then it gets Telegram's parse errors", async () => {
    const bot = newBot();
    const alice = tg.user({ id: 1012 });
    alice.sendText("/help");

    const html = await apiError(
      bot.api.sendMessage(alice.id, "Use /sr <value>", { parse_mode: "HTML" }),
    );
    const unclosed = await apiError(
      bot.api.sendMessage(alice.id, "<b>PnL", { parse_mode: "HTML" }),
    );
    const markdown = await apiError(
      bot.api.sendMessage(alice.id, "*PnL* is +1.5%", { parse_mode: "MarkdownV2" }),
    );
    const escaped = await bot.api.sendMessage(alice.id, "*PnL* is \\+1\\.5%", {
      parse_mode: "MarkdownV2",
    });

    expect(html.description).toBe(
      'Bad Request: can\'t parse entities: Unsupported start tag "value" at byte offset 8',
    );
    expect(unclosed.description).toBe(
      "Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"b\"",
    );
    expect(markdown.description).toBe(
      "Bad Request: can't parse entities: Character '+' is reserved and must be escaped with the preceding '\\'",
    );
    expect([escaped.text, escaped.entities]).toEqual([
      "PnL is +1.5%",
      [{ type: "bold", offset: 0, length: 3 }],
    ]);
  });

  it("when a client posts a urlencoded form, then strings are coerced and JSON parameters decoded", async () => {
    const alice = tg.user({ id: 1013 });
    alice.sendText("/start");
    const form = new URLSearchParams({
      chat_id: String(alice.id),
      text: "Pick one",
      reply_markup: JSON.stringify({ inline_keyboard: [[{ text: "A", callback_data: "a" }]] }),
    });

    const response = await fetch(`${tg.apiRoot}/bot${tg.token}/sendMessage`, {
      method: "POST",
      body: form,
    });
    const unknownMethod = await fetch(`${tg.apiRoot}/bot${tg.token}/sendPigeon`);

    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      ok: true,
      result: {
        message_id: 2,
        text: "Pick one",
        reply_markup: { inline_keyboard: [[{ text: "A", callback_data: "a" }]] },
      },
    });
    expect(unknownMethod.status).toBe(404);
    expect(await unknownMethod.json()).toEqual({
      ok: false,
      error_code: 404,
      description: "Not Found",
    });
  });

  it("when a user writes through the control API, then the bot replies and the SSE stream carries it", async () => {
    const bot = newBot();
    bot.on("message:text", (ctx) => ctx.reply(`echo: ${ctx.message.text}`));
    await startPolling(bot);
    const events = await fetch(`${tg.controlUrl}/events?chat_id=1014`);
    const reader = (events.body as ReadableStream<Uint8Array>).getReader();

    const posted = await fetch(`${tg.controlUrl}/users/1014/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ text: "hello" }),
    });
    let stream = "";
    while (!stream.includes("echo: hello")) {
      const { value, done } = await reader.read();
      if (done) break;
      stream += new TextDecoder().decode(value);
    }
    await reader.cancel();
    const history = await (await fetch(`${tg.controlUrl}/chats/1014/history`)).json();

    expect(posted.status).toBe(200);
    expect(stream).toContain("event: message\n");
    expect(history).toMatchObject([
      { message_id: 1, from: "user", text: "hello" },
      { message_id: 2, from: "bot", text: "echo: hello" },
    ]);
  });

  it("when the control API is reached under a name other than a loopback one (DNS rebinding), then it answers 403; under 127.0.0.1 it answers without the bot token", async () => {
    const get = (host: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const url = new URL(tg.controlUrl);
        const req = request(
          { host: url.hostname, port: url.port, path: url.pathname, headers: { host } },
          (res) => {
            let body = "";
            res.on("data", (d: Buffer) => {
              body += d.toString();
            });
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
          },
        );
        req.on("error", reject);
        req.end();
      });
    const rebound = await get("attacker.example:80");
    expect(rebound.status).toBe(403);
    expect(rebound.body).not.toContain(tg.token);
    const local = await get(new URL(tg.controlUrl).host);
    expect(local.status).toBe(200);
    expect(JSON.parse(local.body)).toHaveProperty("api_root");
    expect(local.body).not.toContain(tg.token);
  });

  it("when the emulator closes during a long poll, then close returns promptly", async () => {
    const poll = fetch(`${tg.apiRoot}/bot${tg.token}/getUpdates?timeout=30`);
    // Give the request time to reach the server and start waiting.
    await new Promise((resolve) => setTimeout(resolve, 100));

    const started = Date.now();
    await tg.close();
    const response = await poll;

    expect(Date.now() - started).toBeLessThan(1000);
    expect(await response.json()).toEqual({ ok: true, result: [] });
  });

  it("when grammY stops polling, then the updates it handled are confirmed", async () => {
    const bot = newBot();
    const seen: string[] = [];
    bot.on("message:text", (ctx) => {
      seen.push(ctx.message.text);
    });
    await startPolling(bot);
    const alice = tg.user({ id: 1015 });

    alice.sendText("one");
    alice.sendText("two");
    await expect.poll(() => seen).toEqual(["one", "two"]);
    await bot.stop();

    expect(tg.pendingUpdateCount).toBe(0);
  });
});
