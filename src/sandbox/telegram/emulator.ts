// A local Telegram Bot API server for driving the real grammY bot in tests and in the web
// sandbox: Bot API under /bot<token>/…, a control API on the object and under /control/….

import { createHash, randomBytes, randomInt } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { BotApiError, notFound, tooManyRequests, unauthorized } from "./api-error";
import { BodyError, decodeRequest, sendJson } from "./body";
import {
  commandsKey,
  createBotApi,
  type MethodHandler,
  type PendingCallbackQuery,
  RATE_LIMITED_METHODS,
  WithDescription,
} from "./bot-api";
import { type ChatRecord, ChatStore, describeHistory, toHistoryEntry } from "./chat-store";
import { handleControlRequest } from "./control-http";
import { FileStore } from "./file-store";
import { Params } from "./params";
import { RateLimiter } from "./rate-limiter";
import type {
  ApiCall,
  BotCommand,
  CallbackAnswer,
  ChatType,
  EmulatorEvent,
  HistoryEntry,
  MessageEntity,
  RateLimitOptions,
  TgBotUser,
  TgChat,
  TgMessage,
  TgUpdate,
  TgUpdatePayload,
  TgUser,
  TranscriptEntry,
} from "./types";
import { UpdateQueue, type WebhookInfo, type WebhookOptions } from "./update-queue";

export interface TelegramEmulatorOptions {
  /** Bot token; default: a random, valid-looking token generated at start. */
  token?: string;
  botUsername?: string;
  botFirstName?: string;
  /** Clock in milliseconds for message dates, rate limits and the call log. Default Date.now. */
  now?: () => number;
  rateLimit?: RateLimitOptions;
  /** Interface to bind; default 127.0.0.1. */
  host?: string;
  /** Default 0 (an ephemeral port). */
  port?: number;
  webhook?: WebhookOptions;
  /** Hosts setWebhook may target; default loopback only, so nothing is ever posted to the internet. */
  webhookHosts?: readonly string[] | "any";
  /** Default timeout of the waitFor… helpers. Default 5000 ms. */
  waitTimeoutMs?: number;
  /** Oldest calls are dropped beyond this many log entries. Default 10 000. */
  callLogLimit?: number;
}

export interface UserInit {
  id: number;
  first_name?: string;
  last_name?: string;
  username?: string;
  language_code?: string;
}

export interface ChatInit {
  id: number;
  type: ChatType;
  title?: string;
  username?: string;
  /** Lets the bot delete other members' messages in this group. */
  botIsAdmin?: boolean;
}

export interface SendTextOptions {
  /** Post in this group/supergroup/channel instead of the private chat with the bot. */
  chat?: ChatInit;
  /** Reply to this message id of the same chat. */
  replyTo?: number;
}

export interface PressButtonOptions {
  /** Chat of the message; default the user's private chat. */
  chatId?: number;
  /** Allow callback data that no button of the message carries (a stale or forged client). */
  unchecked?: boolean;
}

export interface UserHandle {
  readonly id: number;
  readonly user: TgUser;
  /** Sends text as this user; a leading /command gets a bot_command entity. */
  sendText(text: string, options?: SendTextOptions): TgMessage;
  /** Presses an inline button; returns the callback query id. */
  pressButton(messageId: number, callbackData: string, options?: PressButtonOptions): string;
  /** The user blocks the bot: sends fail with 403, the bot gets a my_chat_member update. */
  blockBot(): void;
  unblockBot(): void;
  /** The private chat with the bot. */
  history(): HistoryEntry[];
  waitForBotMessage(
    predicate?: (message: HistoryEntry) => boolean,
    timeoutMs?: number,
  ): Promise<HistoryEntry>;
}

export interface ChatSummary {
  chat: TgChat;
  message_count: number;
  blocked: boolean;
}

interface Waiter {
  check(): boolean;
  fail(error: Error): void;
}

const LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1", "[::1]"];

export async function startTelegramEmulator(
  options: TelegramEmulatorOptions = {},
): Promise<TelegramEmulator> {
  const emulator = new TelegramEmulator(options);
  await emulator.listen();
  return emulator;
}

export class TelegramEmulator {
  readonly token: string;
  readonly botUser: TgBotUser;
  private root = "";
  private readonly server: Server;
  private readonly now: () => number;
  private readonly chats: ChatStore;
  private readonly updates: UpdateQueue;
  private readonly files = new FileStore();
  private readonly methods: Map<string, MethodHandler>;
  private readonly callbackQueries = new Map<string, PendingCallbackQuery>();
  private readonly commandStore = new Map<string, BotCommand[]>();
  private readonly users = new Map<number, TgUser>();
  private readonly listeners = new Set<(event: EmulatorEvent) => void>();
  private readonly waiters = new Set<Waiter>();
  private readonly failures: Array<{ method: string; error: BotApiError; remaining: number }> = [];
  private readonly callLog: ApiCall[] = [];
  private readonly answers: CallbackAnswer[] = [];
  private limiter: RateLimiter | undefined;
  private tooMany = 0;
  private closing: Promise<void> | undefined;
  private checkScheduled = false;

  constructor(private readonly options: TelegramEmulatorOptions = {}) {
    this.now = options.now ?? Date.now;
    this.token = options.token ?? generateToken();
    const botId = Number(this.token.split(":")[0]);
    if (!/^\d+:[\w-]+$/.test(this.token) || !Number.isSafeInteger(botId)) {
      throw new Error('token must look like "<bot id>:<secret>", e.g. "123456:AAbc…"');
    }
    this.botUser = {
      id: botId,
      is_bot: true,
      first_name: options.botFirstName ?? "Warden",
      username: options.botUsername ?? "warden_emulator_bot",
      can_join_groups: true,
      can_read_all_group_messages: false,
      supports_inline_queries: false,
      can_connect_to_business: false,
      has_main_web_app: false,
    };
    this.chats = new ChatStore((event) => this.emit(event));
    this.updates = new UpdateQueue({
      nowSeconds: () => this.nowSeconds(),
      webhook: {
        maxAttempts: options.webhook?.maxAttempts ?? 4,
        retryDelayMs: options.webhook?.retryDelayMs ?? 100,
        timeoutMs: options.webhook?.timeoutMs ?? 10_000,
      },
      onWebhookReply: async (call) => {
        const { method, ...fields } = call;
        await this.runLogged(String(method), new Params(fields), new AbortController().signal);
      },
    });
    this.setRateLimit(options.rateLimit);
    this.methods = createBotApi({
      botUser: this.botUser,
      chats: this.chats,
      updates: this.updates,
      files: this.files,
      callbackQueries: this.callbackQueries,
      commands: this.commandStore,
      profileTexts: new Map(),
      nowSeconds: () => this.nowSeconds(),
      recordCallbackAnswer: (answer) => {
        const full: CallbackAnswer = { ...answer, at: this.now() };
        this.answers.push(full);
        this.emit({ type: "callback_answer", chat_id: full.chat_id, answer: full });
      },
      emit: (event) => this.emit(event),
      webhookAllowed: (url) => this.webhookAllowed(url),
    });
    this.server = createServer((req, res) => {
      this.route(req, res).catch((error: unknown) => {
        if (!res.headersSent)
          sendJson(res, 500, { ok: false, error_code: 500, description: String(error) });
        else res.destroy();
      });
    });
  }

  /** @internal Use startTelegramEmulator(). */
  async listen(): Promise<void> {
    const host = this.options.host ?? "127.0.0.1";
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(this.options.port ?? 0, host, () => {
        this.server.off("error", reject);
        resolve();
      });
    });
    const { port } = this.server.address() as AddressInfo;
    this.root = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
  }

  /** Base URL for grammY's `client.apiRoot`, e.g. "http://127.0.0.1:41234". */
  get apiRoot(): string {
    return this.root;
  }

  get controlUrl(): string {
    return `${this.root}/control`;
  }

  /** Every Bot API call, oldest first. */
  get calls(): readonly ApiCall[] {
    return this.callLog;
  }

  get callbackAnswers(): readonly CallbackAnswer[] {
    return this.answers;
  }

  get tooManyRequestsSent(): number {
    return this.tooMany;
  }

  get droppedWebhookUpdates(): number {
    return this.updates.droppedWebhookUpdates;
  }

  /** Updates not yet confirmed (getUpdates) or delivered (webhook). */
  get pendingUpdateCount(): number {
    return this.updates.pendingCount;
  }

  callsTo(method: string): ApiCall[] {
    const wanted = method.toLowerCase();
    return this.callLog.filter((call) => call.method.toLowerCase() === wanted);
  }

  /** Registers (or updates) a Telegram user and returns a handle to act as them. */
  user(init: UserInit): UserHandle {
    const existing = this.users.get(init.id);
    const user: TgUser = dropUndefined({
      id: init.id,
      is_bot: false,
      first_name: init.first_name ?? existing?.first_name ?? `User ${init.id}`,
      last_name: init.last_name ?? existing?.last_name,
      username: init.username ?? existing?.username,
      language_code: init.language_code ?? existing?.language_code,
    });
    this.users.set(user.id, user);
    this.privateChat(user);
    return {
      id: user.id,
      user,
      sendText: (text, options) => this.userSendText(user, text, options),
      pressButton: (messageId, data, options) =>
        this.userPressButton(user, messageId, data, options),
      blockBot: () => this.setBlocked(user, true),
      unblockBot: () => this.setBlocked(user, false),
      history: () => this.history(user.id),
      waitForBotMessage: (predicate, timeoutMs) =>
        this.waitForBotMessage(user.id, predicate, timeoutMs),
    };
  }

  /** Registers a group, supergroup or channel the bot is a member of. */
  chat(init: ChatInit): TgChat {
    const { botIsAdmin, ...chat } = init;
    return { ...this.chats.ensure(dropUndefined(chat), { botIsAdmin }).chat };
  }

  chatList(): ChatSummary[] {
    return this.chats.all().map((record) => ({
      chat: { ...record.chat },
      message_count: [...record.messages.values()].filter((m) => !m.deleted).length,
      blocked: record.blocked,
    }));
  }

  /** The chat as its members see it now: deleted messages gone, edits applied. */
  history(chatId: number): HistoryEntry[] {
    return this.chats.history(chatId);
  }

  /** Every version of every message ever shown in the chat, deleted ones included. */
  transcript(chatId: number): TranscriptEntry[] {
    return this.chats.transcript(chatId);
  }

  /** Commands set with setMyCommands for a scope/language (default scope, no language). */
  commands(
    options: {
      scope?: { type: string; chat_id?: number; user_id?: number };
      language_code?: string;
    } = {},
  ): BotCommand[] {
    return structuredClone(
      this.commandStore.get(commandsKey(options.scope, options.language_code)) ?? [],
    );
  }

  webhookInfo(): WebhookInfo {
    return this.updates.info();
  }

  /** Queues a raw update (any kind) for the bot, e.g. one the emulator has no helper for. */
  injectUpdate(update: TgUpdatePayload): TgUpdate {
    return this.updates.push(structuredClone(update));
  }

  /** Turns the 429 simulation on, changes it, or (undefined) turns it off. */
  setRateLimit(rateLimit: RateLimitOptions | undefined): void {
    this.limiter = rateLimit ? new RateLimiter(rateLimit, this.now) : undefined;
  }

  /** The next `times` calls to `method` fail with this error instead of running. */
  failNext(
    method: string,
    error: { error_code: number; description: string; parameters?: { retry_after?: number } },
    times = 1,
  ): void {
    this.failures.push({
      method: method.toLowerCase(),
      error: new BotApiError(error.error_code, error.description, error.parameters),
      remaining: times,
    });
  }

  /** Marks all bot messages so far as seen, so waitForBotMessage only returns newer ones. */
  discardBotMessages(chatId: number): void {
    const record = this.chats.get(chatId);
    if (record) record.unconsumed = [];
  }

  /**
   * Resolves with the oldest bot message of the chat that no earlier waitForBotMessage call
   * returned and whose current state matches `predicate`; the message then counts as consumed.
   * Messages sent before the call qualify, so there is no race with a fast bot. Deleted
   * messages never match. Rejects after `timeoutMs`, listing the chat history.
   */
  waitForBotMessage(
    chatId: number,
    predicate: (message: HistoryEntry) => boolean = () => true,
    timeoutMs = this.defaultWait(),
  ): Promise<HistoryEntry> {
    return this.waitFor(
      () => {
        const record = this.chats.get(chatId);
        if (!record) return undefined;
        for (const id of record.unconsumed) {
          const stored = this.chats.find(record, id);
          if (!stored) continue;
          const entry = toHistoryEntry(stored);
          if (safeMatch(predicate, entry)) {
            record.unconsumed = record.unconsumed.filter((other) => other !== id);
            return entry;
          }
        }
        return undefined;
      },
      timeoutMs,
      () => {
        const unconsumed = this.chats.get(chatId)?.unconsumed.length ?? 0;
        return (
          `waitForBotMessage(chat ${chatId}): no matching bot message within ${timeoutMs} ms ` +
          `(${unconsumed} unconsumed bot message(s) did not match).\n` +
          `Chat history:\n${describeHistory(this.history(chatId))}`
        );
      },
    );
  }

  /** Resolves with the chat history once `predicate` holds for it (edits, deletions, …). */
  waitForHistory(
    chatId: number,
    predicate: (history: HistoryEntry[]) => boolean,
    timeoutMs = this.defaultWait(),
  ): Promise<HistoryEntry[]> {
    return this.waitFor(
      () => {
        const history = this.history(chatId);
        return safeMatch(predicate, history) ? history : undefined;
      },
      timeoutMs,
      () =>
        `waitForHistory(chat ${chatId}): condition not met within ${timeoutMs} ms.\n` +
        `Chat history:\n${describeHistory(this.history(chatId))}`,
    );
  }

  waitForCallbackAnswer(
    callbackQueryId: string,
    timeoutMs = this.defaultWait(),
  ): Promise<CallbackAnswer> {
    return this.waitFor(
      () => this.answers.find((a) => a.callback_query_id === callbackQueryId),
      timeoutMs,
      () =>
        `waitForCallbackAnswer(${callbackQueryId}): the bot did not call answerCallbackQuery ` +
        `within ${timeoutMs} ms (${this.answers.length} other answer(s) recorded).`,
    );
  }

  /** Resolves with the first logged call (past or future) to `method` matching `predicate`. */
  waitForCall(
    method: string,
    predicate: (call: ApiCall) => boolean = () => true,
    timeoutMs = this.defaultWait(),
  ): Promise<ApiCall> {
    return this.waitFor(
      () => this.callsTo(method).find((call) => safeMatch(predicate, call)),
      timeoutMs,
      () =>
        `waitForCall(${method}): no matching call within ${timeoutMs} ms. Calls so far: ` +
        `${this.callLog.map((c) => c.method).join(", ") || "(none)"}`,
    );
  }

  /** Streams what happens in the emulator (for the web sandbox); returns an unsubscribe. */
  subscribe(listener: (event: EmulatorEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stops the server; pending long polls are answered (empty) and pending waits rejected. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.updates.close();
    for (const waiter of [...this.waiters]) waiter.fail(new Error("Telegram emulator closed"));
    // Let the answered long polls flush before the remaining sockets are cut.
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  // ---- user actions -------------------------------------------------------------------

  private privateChat(user: TgUser): ChatRecord {
    return this.chats.ensure(
      dropUndefined({
        id: user.id,
        type: "private" as const,
        first_name: user.first_name,
        last_name: user.last_name,
        username: user.username,
      }),
    );
  }

  private userSendText(user: TgUser, text: string, options: SendTextOptions = {}): TgMessage {
    this.assertOpen();
    // Telegram clients trim what the user typed and refuse to send nothing.
    const typed = text.trim();
    if (typed === "") throw new Error("sendText: Telegram clients cannot send empty messages");
    let record: ChatRecord;
    if (!options.chat || options.chat.type === "private") {
      record = this.privateChat(user);
      // Writing to a bot you blocked means pressing "Restart", which unblocks it.
      if (record.blocked) this.setBlocked(user, false);
      record.started = true;
    } else {
      const { botIsAdmin, ...chat } = options.chat;
      record = this.chats.ensure(dropUndefined(chat), { botIsAdmin });
    }
    const isChannel = record.chat.type === "channel";
    const entities = commandEntities(typed);
    let replyTo: TgMessage | undefined;
    if (options.replyTo !== undefined) {
      const target = this.chats.find(record, options.replyTo);
      if (!target)
        throw new Error(`sendText: message #${options.replyTo} is not in chat ${record.chat.id}`);
      const { reply_to_message: _nested, ...shallow } = target.message;
      replyTo = structuredClone(shallow);
    }
    const message: TgMessage = dropUndefined({
      message_id: this.chats.allocateId(record),
      from: isChannel ? undefined : user,
      sender_chat: isChannel ? { ...record.chat } : undefined,
      chat: { ...record.chat },
      date: this.nowSeconds(),
      text: typed,
      entities: entities.length > 0 ? entities : undefined,
      reply_to_message: replyTo,
    });
    this.chats.insert(record, { message, from: "user", sender: user });
    this.updates.push(isChannel ? { channel_post: message } : { message });
    return structuredClone(message);
  }

  private userPressButton(
    user: TgUser,
    messageId: number,
    data: string,
    options: PressButtonOptions = {},
  ): string {
    this.assertOpen();
    const chatId = options.chatId ?? user.id;
    const record = this.chats.get(chatId);
    const stored = record ? this.chats.find(record, messageId) : undefined;
    if (!record || !stored) {
      throw new Error(
        `pressButton: message #${messageId} is not visible in chat ${chatId}.\n` +
          `Chat history:\n${describeHistory(this.history(chatId))}`,
      );
    }
    if (stored.from !== "bot")
      throw new Error(`pressButton: message #${messageId} is not the bot's`);
    const buttons = stored.message.reply_markup?.inline_keyboard.flat() ?? [];
    if (!options.unchecked && !buttons.some((b) => b.callback_data === data)) {
      const available = buttons.map((b) => JSON.stringify(b.callback_data ?? b.text)).join(", ");
      throw new Error(
        `pressButton: message #${messageId} has no button with callback_data ${JSON.stringify(data)} ` +
          `(buttons: ${available || "none"})`,
      );
    }
    const id = randomBytes(8).readBigUInt64BE().toString();
    this.callbackQueries.set(id, { chatId, messageId, data, answered: false });
    this.updates.push({
      callback_query: {
        id,
        from: user,
        message: structuredClone(stored.message),
        chat_instance: chatInstance(this.botUser.id, chatId),
        data,
      },
    });
    return id;
  }

  private setBlocked(user: TgUser, blocked: boolean): void {
    const record = this.privateChat(user);
    if (record.blocked === blocked) return;
    record.blocked = blocked;
    const bot = { id: this.botUser.id, is_bot: true, first_name: this.botUser.first_name };
    const member = { user: bot, status: "member" };
    const kicked = { user: bot, status: "kicked", until_date: 0 };
    this.updates.push({
      my_chat_member: {
        chat: { ...record.chat },
        from: user,
        date: this.nowSeconds(),
        old_chat_member: blocked ? member : kicked,
        new_chat_member: blocked ? kicked : member,
      },
    });
  }

  // ---- HTTP ---------------------------------------------------------------------------

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://emulator.invalid");
    const path = url.pathname;
    const api = /^\/bot([^/]*)\/([^/]*)$/.exec(path);
    if (api) return this.serveBotApi(req, res, url, api[1] ?? "", decodeURIComponent(api[2] ?? ""));
    const download = /^\/file\/bot([^/]*)\/(.+)$/.exec(path);
    if (download) return this.serveFile(req, res, download[1] ?? "", download[2] ?? "");
    if (path === "/control" || path.startsWith("/control/")) {
      return handleControlRequest(this, req, res, url);
    }
    req.resume();
    sendJson(res, 404, notFound().toEnvelope());
  }

  private async serveBotApi(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    token: string,
    method: string,
  ): Promise<void> {
    const at = this.now();
    // The client may give up on a long poll; the queue must then not wait for it any more.
    const abort = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) abort.abort();
    });
    let envelope: Record<string, unknown>;
    if (token !== this.token) {
      req.resume();
      // Telegram answers 401 for well-formed unknown tokens and 404 for garbage.
      const error = /^\d+:[\w-]+$/.test(token) ? unauthorized() : notFound();
      envelope = error.toEnvelope();
      this.logCall(method, new Params({}), at, envelope);
    } else {
      let params: Params;
      try {
        const body = await decodeRequest(req, url);
        params = new Params(body.fields, body.files);
      } catch (error) {
        envelope = errorEnvelope(error);
        this.logCall(method, new Params({}), at, envelope);
        sendJson(res, Number(envelope.error_code), envelope);
        return;
      }
      envelope = await this.runLogged(method, params, abort.signal, at);
    }
    if (abort.signal.aborted) return;
    const status = envelope.ok ? 200 : Number(envelope.error_code) || 500;
    sendJson(res, status, envelope);
  }

  /** Runs and logs one Bot API call, returning its envelope (HTTP calls and webhook replies). */
  private async runLogged(
    method: string,
    params: Params,
    signal: AbortSignal,
    at = this.now(),
  ): Promise<Record<string, unknown>> {
    let envelope: Record<string, unknown>;
    try {
      const result = await this.invoke(method, params, signal);
      envelope =
        result instanceof WithDescription
          ? { ok: true, result: result.result, description: result.description }
          : { ok: true, result };
    } catch (error) {
      envelope = errorEnvelope(error);
    }
    this.logCall(method, params, at, envelope);
    return envelope;
  }

  private async invoke(method: string, params: Params, signal: AbortSignal): Promise<unknown> {
    const key = method.toLowerCase();
    const handler = this.methods.get(key);
    if (!handler) throw notFound();
    const failure = this.failures.find((f) => f.method === key && f.remaining > 0);
    if (failure) {
      failure.remaining -= 1;
      throw failure.error;
    }
    if (this.limiter && RATE_LIMITED_METHODS.has(key)) {
      const chatId = Number(params.values.chat_id);
      const retryAfter = this.limiter.take(Number.isSafeInteger(chatId) ? chatId : undefined);
      if (retryAfter !== undefined) {
        this.tooMany += 1;
        throw tooManyRequests(retryAfter);
      }
    }
    return handler(params, signal);
  }

  private serveFile(req: IncomingMessage, res: ServerResponse, token: string, path: string) {
    req.resume();
    const file = token === this.token ? this.files.getByPath(decodeURIComponent(path)) : undefined;
    if (!file?.data) {
      sendJson(res, 404, notFound().toEnvelope());
      return;
    }
    res.writeHead(200, {
      "content-type": "application/octet-stream",
      "content-length": file.data.length,
    });
    res.end(file.data);
  }

  /** @internal For the control HTTP layer: raw bytes of an uploaded file. */
  fileBytes(fileId: string): Buffer | undefined {
    return this.files.get(fileId)?.data;
  }

  private logCall(method: string, params: Params, at: number, envelope: Record<string, unknown>) {
    const call: ApiCall = dropUndefined({
      method,
      params: params.forLog(),
      at,
      ok: envelope.ok === true,
      error_code: envelope.ok ? undefined : Number(envelope.error_code),
      description: envelope.ok ? undefined : String(envelope.description),
    });
    this.callLog.push(call);
    const limit = this.options.callLogLimit ?? 10_000;
    if (this.callLog.length > limit) this.callLog.splice(0, this.callLog.length - limit);
    this.emit({ type: "call", call });
  }

  // ---- events and waiting -------------------------------------------------------------

  private emit(event: EmulatorEvent): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch {
        // A broken subscriber (e.g. a closed SSE stream) must not break the Bot API.
      }
    }
    // Checked a tick later, so that a waiter sees the API call that caused the event completed
    // (response built, call logged) rather than half-way through.
    if (this.waiters.size > 0 && !this.checkScheduled) {
      this.checkScheduled = true;
      setImmediate(() => {
        this.checkScheduled = false;
        for (const waiter of [...this.waiters]) waiter.check();
      });
    }
  }

  private waitFor<T>(
    check: () => T | undefined,
    timeoutMs: number,
    describe: () => string,
  ): Promise<T> {
    // Created here so a timeout points at the test line that waited, not at a timer.
    const failure = new Error("waiting");
    return new Promise<T>((resolve, reject) => {
      if (this.closing) {
        reject(new Error("Telegram emulator closed"));
        return;
      }
      const first = check();
      if (first !== undefined) {
        resolve(first);
        return;
      }
      const waiter: Waiter = {
        check: () => {
          const value = check();
          if (value === undefined) return false;
          finish();
          resolve(value);
          return true;
        },
        fail: (error) => {
          finish();
          reject(error);
        },
      };
      const timer = setTimeout(() => {
        failure.message = describe();
        waiter.fail(failure);
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
      };
      this.waiters.add(waiter);
    });
  }

  private defaultWait(): number {
    return this.options.waitTimeoutMs ?? 5000;
  }

  private nowSeconds(): number {
    return Math.floor(this.now() / 1000);
  }

  private assertOpen(): void {
    if (this.closing) throw new Error("Telegram emulator closed");
  }

  private webhookAllowed(url: URL): boolean {
    const hosts = this.options.webhookHosts ?? LOOPBACK_HOSTS;
    return hosts === "any" || hosts.includes(url.hostname.toLowerCase());
  }
}

function generateToken(): string {
  const botId = randomInt(1_000_000_000, 8_000_000_000);
  // 35 characters after the colon, like real tokens (which start with "AA").
  const secret = `AA${randomBytes(33).toString("base64url").slice(0, 33)}`;
  return `${botId}:${secret}`;
}

/** Entity for a leading /command (optionally /command@bot_username), like Telegram adds. */
function commandEntities(text: string): MessageEntity[] {
  const match = /^\/[A-Za-z0-9_]{1,32}(@[A-Za-z0-9_]{3,})?/.exec(text);
  return match ? [{ type: "bot_command", offset: 0, length: match[0].length }] : [];
}

/** Telegram's chat_instance: an opaque id that is stable per bot and chat. */
function chatInstance(botId: number, chatId: number): string {
  const digest = createHash("sha256").update(`${botId}:${chatId}`).digest();
  return digest.readBigInt64BE().toString();
}

function safeMatch<T>(predicate: (value: T) => boolean, value: T): boolean {
  try {
    return predicate(value);
  } catch {
    // A throwing predicate (e.g. one using expect) simply means "not this one".
    return false;
  }
}

function errorEnvelope(error: unknown): Record<string, unknown> {
  if (error instanceof BotApiError) return error.toEnvelope();
  if (error instanceof BodyError) {
    return { ok: false, error_code: error.status, description: error.message };
  }
  const detail = error instanceof Error ? error.message : String(error);
  return { ok: false, error_code: 500, description: `Internal Server Error: ${detail}` };
}

function dropUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
