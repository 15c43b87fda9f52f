// The Bot API methods the emulator implements, with Telegram's validation rules and error
// descriptions. Each handler returns the `result` of the envelope or throws a BotApiError.

import { badRequest, forbidden, messageNotModified } from "./api-error";
import type { ChatRecord, ChatStore, StoredMessage } from "./chat-store";
import type { FileStore, StoredFile } from "./file-store";
import { type FormattedText, renderParseMode, trimFormatted } from "./formatting";
import type { Params } from "./params";
import type {
  BotCommand,
  CallbackAnswer,
  EmulatorEvent,
  InlineKeyboardButton,
  KeyboardButton,
  MessageEntity,
  PhotoInfo,
  ReplyMarkup,
  TgBotUser,
  TgMessage,
} from "./types";
import type { UpdateQueue } from "./update-queue";

export interface PendingCallbackQuery {
  chatId: number;
  messageId: number;
  data: string;
  answered: boolean;
}

/** What the method handlers need from the emulator. */
export interface BotApiHost {
  readonly botUser: TgBotUser;
  readonly chats: ChatStore;
  readonly updates: UpdateQueue;
  readonly files: FileStore;
  readonly callbackQueries: Map<string, PendingCallbackQuery>;
  readonly commands: Map<string, BotCommand[]>;
  readonly profileTexts: Map<string, string>;
  nowSeconds(): number;
  recordCallbackAnswer(answer: Omit<CallbackAnswer, "at">): void;
  emit(event: EmulatorEvent): void;
  /** Whether setWebhook may point at this URL (keeps tests off the internet). */
  webhookAllowed(url: URL): boolean;
}

export type MethodHandler = (params: Params, signal: AbortSignal) => unknown;

/** Some methods (setWebhook, deleteWebhook) answer with a human-readable description too. */
export class WithDescription {
  constructor(
    readonly result: unknown,
    readonly description: string,
  ) {}
}

const withDescription = (result: unknown, description: string) =>
  new WithDescription(result, description);

/** Methods that Telegram's flood control applies to (sending and editing messages). */
export const RATE_LIMITED_METHODS = new Set([
  "sendmessage",
  "sendphoto",
  "editmessagetext",
  "editmessagecaption",
  "editmessagereplymarkup",
]);

const MESSAGE_LIMIT = 4096;
const CAPTION_LIMIT = 1024;
const DELETE_WINDOW_SECONDS = 48 * 60 * 60;
const CHAT_ACTIONS = new Set([
  "typing",
  "upload_photo",
  "record_video",
  "upload_video",
  "record_voice",
  "upload_voice",
  "upload_document",
  "choose_sticker",
  "find_location",
  "record_video_note",
  "upload_video_note",
]);

export function commandsKey(
  scope: { type?: string; chat_id?: number | string; user_id?: number } | undefined,
  languageCode: string | undefined,
): string {
  const s = scope ?? { type: "default" };
  return `${s.type ?? "default"}:${s.chat_id ?? ""}:${s.user_id ?? ""}|${languageCode ?? ""}`;
}

/** Handlers keyed by lower-cased method name (Telegram matches names case-insensitively). */
export function createBotApi(host: BotApiHost): Map<string, MethodHandler> {
  const { chats } = host;

  function resolveChat(p: Params): ChatRecord {
    const raw = p.values.chat_id;
    if (raw === undefined || raw === null || raw === "") throw badRequest("chat_id is empty");
    let record: ChatRecord | undefined;
    if (typeof raw === "string" && raw.startsWith("@")) {
      record = chats.findByUsername(raw);
    } else {
      const id = typeof raw === "number" ? raw : Number(String(raw).trim());
      record = Number.isSafeInteger(id) ? chats.get(id) : undefined;
    }
    if (!record) throw badRequest("chat not found");
    return record;
  }

  /** A chat the bot may write to right now. */
  function writableChat(p: Params): ChatRecord {
    const record = resolveChat(p);
    if (record.chat.type === "private") {
      if (record.blocked) throw forbidden("bot was blocked by the user");
      if (!record.started) throw forbidden("bot can't initiate conversation with a user");
    }
    return record;
  }

  function messageId(p: Params): number {
    const id = p.optInt("message_id");
    if (id === undefined || id <= 0) throw badRequest("message identifier is not specified");
    return id;
  }

  function formatted(
    p: Params,
    textField: "text" | "caption",
    entitiesField: string,
  ): FormattedText {
    const source = p.optString(textField) ?? "";
    const explicit = p.optObject<MessageEntity[]>(
      entitiesField,
      `can't parse ${entitiesField} JSON object`,
    );
    if (explicit !== undefined) {
      if (!Array.isArray(explicit)) throw badRequest(`can't parse ${entitiesField} JSON object`);
      return trimFormatted({ text: source, entities: explicit });
    }
    return trimFormatted(renderParseMode(source, p.optString("parse_mode")));
  }

  function messageText(p: Params): FormattedText {
    if (!p.has("text")) throw badRequest("message text is empty");
    const result = formatted(p, "text", "entities");
    if (result.text.trim() === "") throw badRequest("message text is empty");
    if (result.text.length > MESSAGE_LIMIT) throw badRequest("message is too long");
    return result;
  }

  function caption(p: Params): FormattedText | undefined {
    if (!p.has("caption")) return undefined;
    const result = formatted(p, "caption", "caption_entities");
    if (result.text.length > CAPTION_LIMIT) throw badRequest("message caption is too long");
    return result.text === "" ? undefined : result;
  }

  function replyMarkup(p: Params): ReplyMarkup | undefined {
    const markup = p.optObject<ReplyMarkup>(
      "reply_markup",
      "can't parse reply keyboard markup JSON object",
    );
    if (markup === undefined) return undefined;
    if (typeof markup !== "object" || Array.isArray(markup)) {
      throw badRequest("can't parse reply keyboard markup JSON object");
    }
    if (markup.inline_keyboard !== undefined) {
      return { ...markup, inline_keyboard: validateInlineKeyboard(markup.inline_keyboard) };
    }
    if (markup.keyboard !== undefined) {
      if (!isRows(markup.keyboard)) {
        throw badRequest('field "keyboard" of the ReplyKeyboardMarkup must be an Array of Arrays');
      }
      // Plain strings are accepted as shorthand for { text }.
      const keyboard = markup.keyboard.map((row) =>
        row.map(
          (b): KeyboardButton => (typeof b === "string" ? { text: b } : (b as KeyboardButton)),
        ),
      );
      return { ...markup, keyboard };
    }
    if (markup.remove_keyboard || markup.force_reply) return markup;
    throw badRequest("can't parse reply keyboard markup JSON object");
  }

  function inlineOnly(markup: ReplyMarkup | undefined): TgMessage["reply_markup"] {
    const rows = markup?.inline_keyboard;
    return rows?.some((row) => row.length > 0) ? { inline_keyboard: rows } : undefined;
  }

  function replyTarget(p: Params, record: ChatRecord): TgMessage | undefined {
    const parameters = p.optObject<{ message_id?: number; allow_sending_without_reply?: boolean }>(
      "reply_parameters",
      "can't parse reply parameters JSON object",
    );
    const targetId = parameters?.message_id ?? p.optInt("reply_to_message_id");
    if (targetId === undefined) return undefined;
    const allowMissing =
      parameters?.allow_sending_without_reply ?? p.bool("allow_sending_without_reply");
    const target = chats.find(record, Number(targetId));
    if (!target) {
      if (allowMissing) return undefined;
      throw badRequest("message to be replied not found");
    }
    const { reply_to_message: _nested, ...shallow } = target.message;
    return structuredClone(shallow);
  }

  function newBotMessage(record: ChatRecord, fields: Partial<TgMessage>): TgMessage {
    const base: TgMessage = {
      message_id: chats.allocateId(record),
      ...(record.chat.type === "channel"
        ? { sender_chat: record.chat }
        : { from: stripBotFields(host.botUser) }),
      chat: record.chat,
      date: host.nowSeconds(),
    };
    return structuredClone({ ...base, ...dropUndefined(fields) });
  }

  function editableBotMessage(p: Params): { record: ChatRecord; stored: StoredMessage } {
    if (p.has("inline_message_id")) throw badRequest("MESSAGE_ID_INVALID");
    const record = resolveChat(p);
    if (record.chat.type === "private" && record.blocked) {
      throw forbidden("bot was blocked by the user");
    }
    const stored = chats.find(record, messageId(p));
    if (!stored) throw badRequest("message to edit not found");
    if (stored.from !== "bot") throw badRequest("message can't be edited");
    return { record, stored };
  }

  /** After an edit, only an inline keyboard given in the edit survives (Telegram semantics). */
  function markupAfterEdit(stored: StoredMessage, inline: TgMessage["reply_markup"]) {
    const keepsChatKeyboard = stored.markup && stored.markup.inline_keyboard === undefined;
    return inline ?? (keepsChatKeyboard ? stored.markup : undefined);
  }

  function applyEdit(
    record: ChatRecord,
    stored: StoredMessage,
    change: Partial<TgMessage>,
    inline: TgMessage["reply_markup"],
    rendering?: { parseMode?: string; source?: string },
  ): TgMessage {
    chats.edit(record, stored, (s) => {
      for (const [key, value] of Object.entries(change) as [keyof TgMessage, unknown][]) {
        if (value === undefined) delete s.message[key];
        else Object.assign(s.message, { [key]: structuredClone(value) });
      }
      if (inline) s.message.reply_markup = structuredClone(inline);
      else delete s.message.reply_markup;
      s.markup = structuredClone(markupAfterEdit(s, inline));
      s.message.edit_date = host.nowSeconds();
      if (rendering) {
        s.parseMode = rendering.parseMode;
        s.sourceText = rendering.source;
      }
    });
    return structuredClone(stored.message);
  }

  function photoInfo(file: StoredFile, source: PhotoInfo["source"]): PhotoInfo {
    return dropUndefined({
      file_id: file.file_id,
      file_unique_id: file.file_unique_id,
      width: file.width,
      height: file.height,
      source,
      file_size: file.data?.length,
      sha256: file.sha256,
      file_name: file.file_name,
      url: file.url,
    });
  }

  const methods: Record<string, MethodHandler> = {
    getMe: () => host.botUser,

    getUpdates: (p, signal) =>
      host.updates.getUpdates(
        { offset: p.optInt("offset"), limit: p.optInt("limit"), timeout: p.optInt("timeout") },
        signal,
      ),

    setWebhook: (p) => {
      const url = p.optString("url") ?? "";
      if (url === "") {
        const had = host.updates.deleteWebhook(p.bool("drop_pending_updates"));
        return withDescription(true, had ? "Webhook was deleted" : "Webhook is already deleted");
      }
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        throw badRequest("bad webhook: An HTTPS URL must be provided for webhook");
      }
      if (parsed.protocol !== "https:" && parsed.protocol !== "http:") {
        throw badRequest("bad webhook: An HTTPS URL must be provided for webhook");
      }
      if (!host.webhookAllowed(parsed)) {
        throw badRequest(
          `bad webhook: Failed to resolve host: the emulator only delivers to allowed hosts (${parsed.hostname} is not one)`,
        );
      }
      const secretToken = p.optString("secret_token");
      if (secretToken !== undefined && !/^[A-Za-z0-9_-]{1,256}$/.test(secretToken)) {
        throw badRequest("secret token contains unallowed characters");
      }
      const allowedUpdates = p.optObject<string[]>(
        "allowed_updates",
        "can't parse allowed_updates JSON object",
      );
      const already = host.updates.webhookUrl === url;
      host.updates.setWebhook(
        {
          url,
          ...(secretToken ? { secretToken } : {}),
          maxConnections: p.optInt("max_connections") ?? 40,
          ...(allowedUpdates ? { allowedUpdates } : {}),
        },
        p.bool("drop_pending_updates"),
      );
      return withDescription(true, already ? "Webhook is already set" : "Webhook was set");
    },

    deleteWebhook: (p) => {
      const had = host.updates.deleteWebhook(p.bool("drop_pending_updates"));
      return withDescription(true, had ? "Webhook was deleted" : "Webhook is already deleted");
    },

    getWebhookInfo: () => host.updates.info(),

    sendMessage: (p) => {
      const record = writableChat(p);
      const text = messageText(p);
      const markup = replyMarkup(p);
      const reply = replyTarget(p, record);
      const message = newBotMessage(record, {
        text: text.text,
        ...(text.entities.length ? { entities: text.entities } : {}),
        reply_markup: inlineOnly(markup),
        reply_to_message: reply,
      });
      const parseMode = p.optString("parse_mode");
      chats.insert(record, {
        message,
        from: "bot",
        sender: message.from,
        ...(markup ? { markup } : {}),
        ...(parseMode ? { parseMode, sourceText: p.optString("text") } : {}),
      });
      return message;
    },

    sendPhoto: (p) => {
      const record = writableChat(p);
      const upload = p.optFile("photo");
      const reference = upload ? undefined : p.optString("photo");
      let file: StoredFile;
      let source: PhotoInfo["source"];
      if (upload) {
        if (upload.data.length === 0) throw badRequest("file must be non-empty");
        file = host.files.addUpload(upload.data, upload.fileName);
        source = "upload";
      } else if (!reference) {
        throw badRequest("there is no photo in the request");
      } else if (/^https?:\/\//i.test(reference)) {
        file = host.files.addUrl(reference);
        source = "url";
      } else {
        const known = host.files.get(reference);
        if (!known) throw badRequest("wrong file identifier/HTTP URL specified");
        file = known;
        source = "file_id";
      }
      const text = caption(p);
      const markup = replyMarkup(p);
      const reply = replyTarget(p, record);
      const message = newBotMessage(record, {
        photo: [
          dropUndefined({
            file_id: file.file_id,
            file_unique_id: file.file_unique_id,
            width: file.width,
            height: file.height,
            file_size: file.data?.length,
          }),
        ],
        caption: text?.text,
        ...(text?.entities.length ? { caption_entities: text.entities } : {}),
        reply_markup: inlineOnly(markup),
        reply_to_message: reply,
      });
      const parseMode = p.optString("parse_mode");
      chats.insert(record, {
        message,
        from: "bot",
        sender: message.from,
        photo: photoInfo(file, source),
        ...(markup ? { markup } : {}),
        ...(parseMode && text ? { parseMode, sourceText: p.optString("caption") } : {}),
      });
      return message;
    },

    editMessageText: (p) => {
      const { record, stored } = editableBotMessage(p);
      if (stored.message.text === undefined) {
        throw badRequest("there is no text in the message to edit");
      }
      const text = messageText(p);
      const markup = replyMarkup(p);
      if (markup && markup.inline_keyboard === undefined)
        throw badRequest("inline keyboard expected");
      const inline = inlineOnly(markup);
      const unchanged =
        text.text === stored.message.text &&
        sameJson(text.entities, stored.message.entities ?? []) &&
        sameJson(inline, stored.message.reply_markup);
      if (unchanged) throw messageNotModified();
      const parseMode = p.optString("parse_mode");
      return applyEdit(
        record,
        stored,
        { text: text.text, entities: text.entities.length ? text.entities : undefined },
        inline,
        { parseMode, source: parseMode ? p.optString("text") : undefined },
      );
    },

    editMessageCaption: (p) => {
      const { record, stored } = editableBotMessage(p);
      if (stored.message.text !== undefined) {
        throw badRequest("there is no caption in the message to edit");
      }
      const text = caption(p);
      const markup = replyMarkup(p);
      if (markup && markup.inline_keyboard === undefined)
        throw badRequest("inline keyboard expected");
      const inline = inlineOnly(markup);
      const unchanged =
        (text?.text ?? "") === (stored.message.caption ?? "") &&
        sameJson(text?.entities ?? [], stored.message.caption_entities ?? []) &&
        sameJson(inline, stored.message.reply_markup);
      if (unchanged) throw messageNotModified();
      const parseMode = p.optString("parse_mode");
      return applyEdit(
        record,
        stored,
        {
          caption: text?.text,
          caption_entities: text?.entities.length ? text.entities : undefined,
        },
        inline,
        { parseMode, source: parseMode && text ? p.optString("caption") : undefined },
      );
    },

    editMessageReplyMarkup: (p) => {
      const { record, stored } = editableBotMessage(p);
      const markup = replyMarkup(p);
      if (markup && markup.inline_keyboard === undefined)
        throw badRequest("inline keyboard expected");
      const inline = inlineOnly(markup);
      if (sameJson(inline, stored.message.reply_markup)) throw messageNotModified();
      return applyEdit(record, stored, {}, inline);
    },

    deleteMessage: (p) => {
      const record = resolveChat(p);
      const stored = chats.find(record, messageId(p));
      if (!stored) throw badRequest("message to delete not found");
      const age = host.nowSeconds() - stored.message.date;
      const ownMessage = stored.from === "bot";
      const mayDelete = ownMessage || record.chat.type === "private" || record.botIsAdmin;
      if (age >= DELETE_WINDOW_SECONDS || !mayDelete) throw badRequest("message can't be deleted");
      chats.remove(record, stored);
      return true;
    },

    answerCallbackQuery: (p) => {
      const id = p.optString("callback_query_id") ?? "";
      const query = host.callbackQueries.get(id);
      if (!query || query.answered) {
        throw badRequest("query is too old and response timeout expired or query ID is invalid");
      }
      query.answered = true;
      const text = p.optString("text");
      const url = p.optString("url");
      const cacheTime = p.optInt("cache_time");
      host.recordCallbackAnswer(
        dropUndefined({
          callback_query_id: id,
          text,
          show_alert: p.bool("show_alert"),
          url,
          cache_time: cacheTime,
          chat_id: query.chatId,
          message_id: query.messageId,
          data: query.data,
        }),
      );
      return true;
    },

    sendChatAction: (p) => {
      const record = writableChat(p);
      const action = p.optString("action") ?? "";
      if (!CHAT_ACTIONS.has(action)) throw badRequest("wrong parameter action in request");
      host.emit({ type: "chat_action", chat_id: record.chat.id, action });
      return true;
    },

    setMyCommands: (p) => {
      const commands = p.optObject<BotCommand[]>("commands", "can't parse commands JSON object");
      if (!Array.isArray(commands)) throw badRequest("can't parse commands JSON object");
      if (commands.length > 100) throw badRequest("too many commands specified");
      for (const entry of commands) {
        if (typeof entry?.command !== "string" || !/^\/?[a-z0-9_]{1,32}$/.test(entry.command)) {
          throw badRequest("BOT_COMMAND_INVALID");
        }
        if (typeof entry.description !== "string" || entry.description.trim() === "") {
          throw badRequest("command description is empty");
        }
        if (entry.description.length > 256) throw badRequest("BOT_COMMAND_DESCRIPTION_INVALID");
      }
      const key = commandsKey(scopeOf(p), p.optString("language_code"));
      const normalized = commands.map((c) => ({
        command: c.command.replace(/^\//, ""),
        description: c.description,
      }));
      if (normalized.length === 0) host.commands.delete(key);
      else host.commands.set(key, normalized);
      return true;
    },

    getMyCommands: (p) =>
      host.commands.get(commandsKey(scopeOf(p), p.optString("language_code"))) ?? [],

    deleteMyCommands: (p) => {
      host.commands.delete(commandsKey(scopeOf(p), p.optString("language_code")));
      return true;
    },

    setMyDescription: (p) => setProfileText(p, "description", 512),
    getMyDescription: (p) => ({ description: profileText(p, "description") }),
    setMyShortDescription: (p) => setProfileText(p, "short_description", 120),
    getMyShortDescription: (p) => ({ short_description: profileText(p, "short_description") }),
    setMyName: (p) => setProfileText(p, "name", 64),
    getMyName: (p) => ({ name: profileText(p, "name") || host.botUser.first_name }),

    getChat: (p) => {
      const record = resolveChat(p);
      return { ...record.chat, accent_color_id: 0, max_reaction_count: 11 };
    },

    getFile: (p) => {
      const file = host.files.get(p.optString("file_id") ?? "");
      if (!file) throw badRequest("invalid file_id");
      return dropUndefined({
        file_id: file.file_id,
        file_unique_id: file.file_unique_id,
        file_size: file.data?.length,
        file_path: file.data ? file.file_path : undefined,
      });
    },
  };

  function scopeOf(p: Params) {
    return p.optObject<{ type?: string; chat_id?: number | string; user_id?: number }>(
      "scope",
      "can't parse BotCommandScope JSON object",
    );
  }

  function setProfileText(p: Params, field: string, limit: number) {
    const value = p.optString(field) ?? "";
    if (value.length > limit) throw badRequest(`bot ${field.replace("_", " ")} is too long`);
    const key = `${field}|${p.optString("language_code") ?? ""}`;
    if (value === "") host.profileTexts.delete(key);
    else host.profileTexts.set(key, value);
    return true;
  }

  function profileText(p: Params, field: string): string {
    return host.profileTexts.get(`${field}|${p.optString("language_code") ?? ""}`) ?? "";
  }

  return new Map(Object.entries(methods).map(([name, handler]) => [name.toLowerCase(), handler]));
}

function validateInlineKeyboard(rows: unknown): InlineKeyboardButton[][] {
  if (!isRows(rows)) {
    throw badRequest(
      'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays',
    );
  }
  for (const row of rows) {
    for (const candidate of row) {
      const button = candidate as Partial<InlineKeyboardButton> | null;
      if (typeof button !== "object" || button === null || typeof button.text !== "string") {
        throw badRequest(
          "can't parse inline keyboard button: InlineKeyboardButton must be an Object",
        );
      }
      const actions = Object.keys(button).filter((key) => key !== "text");
      if (actions.length === 0) {
        throw badRequest(
          "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard",
        );
      }
      const data = button.callback_data;
      if (data !== undefined) {
        const bytes = Buffer.byteLength(String(data), "utf8");
        if (bytes === 0 || bytes > 64) throw badRequest("BUTTON_DATA_INVALID");
      }
    }
  }
  return rows as InlineKeyboardButton[][];
}

function isRows(value: unknown): value is unknown[][] {
  return Array.isArray(value) && value.every((row) => Array.isArray(row));
}

function stripBotFields(bot: TgBotUser) {
  return { id: bot.id, is_bot: true, first_name: bot.first_name, username: bot.username };
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

function dropUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
