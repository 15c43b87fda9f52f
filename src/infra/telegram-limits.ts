// Telegram's flood limits for every process that sends for one bot (the bot role's replies and
// the workers' alerts alike): ~30 messages per rolling second overall and one per second in a
// private chat (20 a minute in a group), held on Redis so N processes stay under them together.
// https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this
import { randomBytes } from "node:crypto";
import type { Transformer } from "grammy";
import type { Redis } from "ioredis";

/** Sends per rolling second for all processes together: under 30, with room for jitter. */
export const GLOBAL_SENDS_PER_SECOND = 28;

export interface ChatLimit {
  sends: number;
  windowMs: number;
}

/**
 * One send per chat per window. The window is a little over a second so that a message which
 * took its slot early cannot arrive within the same second as the next one on a busy network.
 */
export const PRIVATE_CHAT_LIMIT: ChatLimit = { sends: 1, windowMs: 1_100 };
export const GROUP_CHAT_LIMIT: ChatLimit = { sends: 20, windowMs: 61_000 };

/** Methods that put a message in a chat and so count against its limits. */
const SENDS = new Set([
  "sendmessage",
  "sendphoto",
  "senddocument",
  "sendmediagroup",
  "copymessage",
  "forwardmessage",
  "editmessagetext",
  "editmessagecaption",
  "editmessagereplymarkup",
]);

// Sliding logs of send times on Redis's own clock (process clocks do not matter). A slot is taken
// in both logs at once, or in neither, with the wait until one frees up returned instead.
// Overall sends are also spaced evenly (1000 / limit ms apart): a log that let its whole second's
// allowance out at once would, with a little network jitter, put two seconds' worth into one.
// KEYS[1] overall log, KEYS[2] the chat's log; ARGV: overall limit, member, chat limit, chat
// window, spacing.
const TAKE_SLOT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wait = 0
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 1000)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  wait = tonumber(oldest[2]) + 1000 - now + 1
end
local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if newest[2] and now - tonumber(newest[2]) < tonumber(ARGV[5]) then
  local w = tonumber(newest[2]) + tonumber(ARGV[5]) - now
  if w > wait then wait = w end
end
local win = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - win)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  local w = tonumber(oldest[2]) + win - now + 1
  if w > wait then wait = w end
end
if wait > 0 then return wait end
redis.call('ZADD', KEYS[1], now, now .. ':' .. ARGV[2])
redis.call('PEXPIRE', KEYS[1], 2000)
redis.call('ZADD', KEYS[2], now, now .. ':' .. ARGV[2])
redis.call('PEXPIRE', KEYS[2], win * 2)
return 0
`;

export interface TelegramLimitsOptions {
  /** Redis with the deployment's key prefix, shared by every process sending for the bot. */
  redis: Redis;
  perSecond?: number;
  /** Told once when Redis fails and this process falls back to limiting itself alone. */
  onFallback?: (err: unknown) => void;
}

/**
 * A Bot API transformer that holds a send until it fits Telegram's limits across processes.
 * Sends to one chat from this process leave in the order they were made. If Redis cannot be
 * reached the process keeps the same limits on its own (a 429 is then still possible across
 * processes, and auto-retry honours its `retry_after`) rather than stop answering users.
 */
export function sharedTelegramLimits(opts: TelegramLimitsOptions): Transformer {
  const overall = opts.perSecond ?? GLOBAL_SENDS_PER_SECOND;
  const spacing = Math.floor(1000 / overall);
  const local = createLocalLog(overall, spacing);
  const turns = new Map<string, Promise<void>>();
  let warned = false;

  async function takeSlot(chat: string, limit: ChatLimit): Promise<void> {
    for (;;) {
      let wait: number;
      try {
        wait = Number(
          await opts.redis.eval(
            TAKE_SLOT,
            2,
            "telegram:sends",
            `telegram:chat:${chat}`,
            String(overall),
            randomBytes(6).toString("hex"),
            String(limit.sends),
            String(limit.windowMs),
            String(spacing),
          ),
        );
      } catch (err) {
        if (!warned) {
          warned = true;
          opts.onFallback?.(err);
        }
        wait = local.take(chat, limit);
      }
      if (wait <= 0) return;
      await new Promise((r) => setTimeout(r, wait));
    }
  }

  /** Waits for this process's earlier sends to the chat to take their slots, then takes one. */
  async function takeInOrder(chat: string, limit: ChatLimit): Promise<void> {
    const before = turns.get(chat) ?? Promise.resolve();
    const mine = before.then(() => takeSlot(chat, limit));
    const settled = mine.catch(() => {});
    turns.set(chat, settled);
    try {
      await mine;
    } finally {
      if (turns.get(chat) === settled) turns.delete(chat);
    }
  }

  return async (prev, method, payload, signal) => {
    const chatId = (payload as { chat_id?: unknown } | undefined)?.chat_id;
    if (SENDS.has(method.toLowerCase()) && chatId !== undefined) {
      const chat = String(chatId);
      await takeInOrder(chat, isGroup(chat) ? GROUP_CHAT_LIMIT : PRIVATE_CHAT_LIMIT);
    }
    return prev(method, payload, signal);
  };
}

function isGroup(chat: string): boolean {
  return chat.startsWith("-") || chat.startsWith("@");
}

/** The same sliding logs in this process's memory, for when Redis is away. */
function createLocalLog(overall: number, spacing: number) {
  const sends: number[] = [];
  const chats = new Map<string, number[]>();
  const prune = (log: number[], now: number, windowMs: number) => {
    while (log.length > 0 && (log[0] ?? 0) <= now - windowMs) log.shift();
  };
  return {
    take(chat: string, limit: ChatLimit): number {
      const now = Date.now();
      prune(sends, now, 1000);
      const log = chats.get(chat) ?? [];
      prune(log, now, limit.windowMs);
      let wait = 0;
      if (sends.length >= overall) wait = (sends[0] ?? now) + 1000 - now + 1;
      const newest = sends[sends.length - 1];
      if (newest !== undefined && now - newest < spacing) {
        wait = Math.max(wait, newest + spacing - now);
      }
      if (log.length >= limit.sends) {
        wait = Math.max(wait, (log[0] ?? now) + limit.windowMs - now + 1);
      }
      if (wait > 0) return wait;
      sends.push(now);
      log.push(now);
      chats.set(chat, log);
      if (chats.size > 10_000) {
        for (const [id, l] of chats) {
          prune(l, now, GROUP_CHAT_LIMIT.windowMs);
          if (l.length === 0) chats.delete(id);
        }
      }
      return 0;
    },
  };
}
