// Chats and their messages: per-chat increasing ids, edits kept as versions, deletions kept
// as tombstones, so both the visible history and the full transcript can be produced.

import type {
  EmulatorEvent,
  HistoryEntry,
  PhotoInfo,
  ReplyMarkup,
  TgChat,
  TgMessage,
  TgUser,
  TranscriptEntry,
} from "./types";

export interface StoredMessage {
  /** The Bot API object as it is now (what getUpdates/sendMessage return). */
  message: TgMessage;
  from: "bot" | "user";
  sender?: TgUser;
  /** Markup as the bot sent it; `message.reply_markup` only ever holds inline keyboards. */
  markup?: ReplyMarkup;
  photo?: PhotoInfo;
  parseMode?: string;
  sourceText?: string;
  version: number;
  deleted: boolean;
}

export interface ChatRecord {
  chat: TgChat;
  nextMessageId: number;
  messages: Map<number, StoredMessage>;
  transcript: Array<{ messageId: number; entry: TranscriptEntry }>;
  /** Groups/channels: the bot may delete other members' messages. */
  botIsAdmin: boolean;
  /** Private chats: the user has written first (bots cannot start conversations). */
  started: boolean;
  blocked: boolean;
  /** Bot message ids not yet handed out by waitForBotMessage, oldest first. */
  unconsumed: number[];
}

export interface ChatOptions {
  botIsAdmin?: boolean;
}

export class ChatStore {
  private readonly chats = new Map<number, ChatRecord>();

  constructor(private readonly emit: (event: EmulatorEvent) => void) {}

  ensure(chat: TgChat, options: ChatOptions = {}): ChatRecord {
    let record = this.chats.get(chat.id);
    if (!record) {
      record = {
        chat: { ...chat },
        nextMessageId: 1,
        messages: new Map(),
        transcript: [],
        botIsAdmin: options.botIsAdmin ?? false,
        started: false,
        blocked: false,
        unconsumed: [],
      };
      this.chats.set(chat.id, record);
    } else {
      Object.assign(record.chat, chat);
      if (options.botIsAdmin !== undefined) record.botIsAdmin = options.botIsAdmin;
    }
    return record;
  }

  get(chatId: number): ChatRecord | undefined {
    return this.chats.get(chatId);
  }

  findByUsername(username: string): ChatRecord | undefined {
    const wanted = username.replace(/^@/, "").toLowerCase();
    for (const record of this.chats.values()) {
      if (record.chat.username?.toLowerCase() === wanted) return record;
    }
    return undefined;
  }

  all(): ChatRecord[] {
    return [...this.chats.values()];
  }

  /** Reserves the next message id; ids are never reused, even after deletions. */
  allocateId(record: ChatRecord): number {
    const id = record.nextMessageId;
    record.nextMessageId += 1;
    return id;
  }

  insert(record: ChatRecord, stored: Omit<StoredMessage, "version" | "deleted">): StoredMessage {
    const full: StoredMessage = { ...stored, version: 0, deleted: false };
    record.messages.set(full.message.message_id, full);
    if (full.from === "bot") record.unconsumed.push(full.message.message_id);
    const entry = toHistoryEntry(full);
    this.recordVersion(record, full, "sent");
    this.emit({ type: "message", chat_id: record.chat.id, entry });
    return full;
  }

  /** A visible (not deleted) message. */
  find(record: ChatRecord, messageId: number): StoredMessage | undefined {
    const stored = record.messages.get(messageId);
    return stored && !stored.deleted ? stored : undefined;
  }

  /** Applies an edit that the caller already validated; bumps the version and notifies. */
  edit(record: ChatRecord, stored: StoredMessage, change: (message: StoredMessage) => void): void {
    change(stored);
    stored.version += 1;
    this.recordVersion(record, stored, "edited");
    this.emit({ type: "edit", chat_id: record.chat.id, entry: toHistoryEntry(stored) });
  }

  remove(record: ChatRecord, stored: StoredMessage): void {
    stored.deleted = true;
    record.unconsumed = record.unconsumed.filter((id) => id !== stored.message.message_id);
    this.emit({
      type: "delete",
      chat_id: record.chat.id,
      message_id: stored.message.message_id,
    });
  }

  history(chatId: number): HistoryEntry[] {
    const record = this.chats.get(chatId);
    if (!record) return [];
    return [...record.messages.values()].filter((m) => !m.deleted).map(toHistoryEntry);
  }

  transcript(chatId: number): TranscriptEntry[] {
    const record = this.chats.get(chatId);
    if (!record) return [];
    return record.transcript.map(({ messageId, entry }) => ({
      ...structuredClone(entry),
      deleted: record.messages.get(messageId)?.deleted ?? false,
    }));
  }

  private recordVersion(record: ChatRecord, stored: StoredMessage, event: "sent" | "edited") {
    record.transcript.push({
      messageId: stored.message.message_id,
      entry: { ...toHistoryEntry(stored), event, version: stored.version, deleted: false },
    });
  }
}

/** A detached snapshot: later edits never change an entry a caller already holds. */
export function toHistoryEntry(stored: StoredMessage): HistoryEntry {
  const m = stored.message;
  const entry: HistoryEntry = {
    message_id: m.message_id,
    from: stored.from,
    ...(stored.sender ? { sender: stored.sender } : {}),
    date: m.date,
  };
  if (m.text !== undefined) entry.text = m.text;
  if (m.entities?.length) entry.entities = m.entities;
  if (m.caption !== undefined) entry.caption = m.caption;
  if (m.caption_entities?.length) entry.caption_entities = m.caption_entities;
  if (stored.photo) entry.photo = stored.photo;
  if (stored.markup) entry.reply_markup = stored.markup;
  if (m.reply_to_message) entry.reply_to_message_id = m.reply_to_message.message_id;
  if (stored.parseMode) entry.parse_mode = stored.parseMode;
  if (stored.sourceText !== undefined) entry.source_text = stored.sourceText;
  if (m.edit_date !== undefined) {
    entry.edited = true;
    entry.edit_date = m.edit_date;
  }
  return structuredClone(entry);
}

/** One line per message, for timeout errors and logs. */
export function describeHistory(entries: readonly HistoryEntry[]): string {
  if (entries.length === 0) return "  (no messages)";
  return entries
    .map((e) => {
      const body = e.text ?? (e.photo ? `[photo] ${e.caption ?? ""}`.trim() : "(no text)");
      const buttons = e.reply_markup?.inline_keyboard
        ?.flat()
        .map((b) => `[${b.text}${b.callback_data !== undefined ? ` → ${b.callback_data}` : ""}]`)
        .join(" ");
      const flags = e.edited ? " (edited)" : "";
      return `  #${e.message_id} ${e.from}${flags}: ${JSON.stringify(body)}${buttons ? ` ${buttons}` : ""}`;
    })
    .join("\n");
}
