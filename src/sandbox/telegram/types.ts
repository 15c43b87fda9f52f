// Wire shapes of the Bot API objects the emulator produces, and the public types of its
// control side. Kept local (not grammY's types) so the emulator stays framework-agnostic.

export interface TgUser {
  id: number;
  is_bot: boolean;
  first_name: string;
  last_name?: string;
  username?: string;
  language_code?: string;
}

export interface TgBotUser extends TgUser {
  is_bot: true;
  username: string;
  can_join_groups: boolean;
  can_read_all_group_messages: boolean;
  supports_inline_queries: boolean;
  can_connect_to_business: boolean;
  has_main_web_app: boolean;
}

export type ChatType = "private" | "group" | "supergroup" | "channel";

export interface TgChat {
  id: number;
  type: ChatType;
  title?: string;
  username?: string;
  first_name?: string;
  last_name?: string;
}

export interface MessageEntity {
  type: string;
  offset: number;
  length: number;
  url?: string;
  language?: string;
  custom_emoji_id?: string;
}

export interface InlineKeyboardButton {
  text: string;
  callback_data?: string;
  url?: string;
  [option: string]: unknown;
}

export interface KeyboardButton {
  text: string;
  [option: string]: unknown;
}

/** Any of the four markup kinds; one object type so tests can read `inline_keyboard` directly. */
export interface ReplyMarkup {
  inline_keyboard?: InlineKeyboardButton[][];
  keyboard?: KeyboardButton[][];
  remove_keyboard?: boolean;
  force_reply?: boolean;
  [option: string]: unknown;
}

export interface PhotoSize {
  file_id: string;
  file_unique_id: string;
  width: number;
  height: number;
  file_size?: number;
}

export interface TgMessage {
  message_id: number;
  from?: TgUser;
  sender_chat?: TgChat;
  chat: TgChat;
  date: number;
  edit_date?: number;
  text?: string;
  entities?: MessageEntity[];
  caption?: string;
  caption_entities?: MessageEntity[];
  photo?: PhotoSize[];
  reply_markup?: { inline_keyboard: InlineKeyboardButton[][] };
  reply_to_message?: TgMessage;
}

export interface TgCallbackQuery {
  id: string;
  from: TgUser;
  message: TgMessage;
  chat_instance: string;
  data: string;
}

export interface TgChatMemberUpdated {
  chat: TgChat;
  from: TgUser;
  date: number;
  old_chat_member: { user: TgUser; status: string; until_date?: number };
  new_chat_member: { user: TgUser; status: string; until_date?: number };
}

/** An update without its id; the emulator numbers updates as it queues them. */
export interface TgUpdatePayload {
  message?: TgMessage;
  edited_message?: TgMessage;
  channel_post?: TgMessage;
  callback_query?: TgCallbackQuery;
  my_chat_member?: TgChatMemberUpdated;
  [kind: string]: unknown;
}

export interface TgUpdate extends TgUpdatePayload {
  update_id: number;
}

export interface BotCommand {
  command: string;
  description: string;
}

// ---- Control side ----------------------------------------------------------------------

/** A photo as the emulator recorded it; `sha256`/`file_size` are known for uploads only. */
export interface PhotoInfo {
  file_id: string;
  file_unique_id: string;
  width: number;
  height: number;
  source: "upload" | "url" | "file_id";
  file_size?: number;
  sha256?: string;
  file_name?: string;
  url?: string;
}

/** One message as the chat participant currently sees it. */
export interface HistoryEntry {
  message_id: number;
  from: "bot" | "user";
  /** The account that sent it (the bot's user object for bot messages). */
  sender?: TgUser;
  date: number;
  text?: string;
  entities?: MessageEntity[];
  caption?: string;
  caption_entities?: MessageEntity[];
  photo?: PhotoInfo;
  /** Markup as sent by the bot, any kind (inline, reply keyboard, remove, force reply). */
  reply_markup?: ReplyMarkup;
  reply_to_message_id?: number;
  /** parse_mode the bot used; `text`/`caption` are already rendered to plain text. */
  parse_mode?: string;
  /** The unparsed text/caption the bot sent when a parse_mode was used. */
  source_text?: string;
  edited?: boolean;
  edit_date?: number;
}

/** One version of one message: every send and every edit, deleted messages included. */
export interface TranscriptEntry extends HistoryEntry {
  event: "sent" | "edited";
  /** 0 for the original, then 1, 2, … per edit. */
  version: number;
  /** The message was deleted later (or already is). */
  deleted: boolean;
}

export interface ApiCall {
  method: string;
  /** Decoded parameters; uploaded files appear as `{ file_name, file_size, sha256 }`. */
  params: Record<string, unknown>;
  /** Emulator clock, milliseconds. */
  at: number;
  ok: boolean;
  error_code?: number;
  description?: string;
}

export interface CallbackAnswer {
  callback_query_id: string;
  text?: string;
  show_alert: boolean;
  url?: string;
  cache_time?: number;
  at: number;
  chat_id: number;
  message_id: number;
  data: string;
}

export type EmulatorEvent =
  | { type: "message"; chat_id: number; entry: HistoryEntry }
  | { type: "edit"; chat_id: number; entry: HistoryEntry }
  | { type: "delete"; chat_id: number; message_id: number }
  | { type: "chat_action"; chat_id: number; action: string }
  | { type: "callback_answer"; chat_id: number; answer: CallbackAnswer }
  | { type: "call"; call: ApiCall };

export interface RateLimitOptions {
  /** Sending/editing calls allowed per chat in any rolling second. */
  perChatPerSecond?: number;
  /** Sending/editing calls allowed across all chats in any rolling second. */
  globalPerSecond?: number;
  /** Fixed retry_after to report; default: seconds until the window frees up (at least 1). */
  retryAfter?: number;
}
