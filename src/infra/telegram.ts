// The Bot API client for messages Warden sends on its own (alerts, notices): Telegram's flood
// limits respected up front (under 30 messages/s overall, 1/s per chat) and a 429's
// `retry_after` honoured when the server asks anyway. With Redis, the overall limit holds for
// every worker process together, not for each one.
import { randomBytes } from "node:crypto";
import { autoRetry } from "@grammyjs/auto-retry";
import { apiThrottler } from "@grammyjs/transformer-throttler";
import { Api } from "grammy";
import type { Redis } from "ioredis";

/** Sends per rolling second for all processes together: under 30, with room for jitter. */
export const GLOBAL_SENDS_PER_SECOND = 28;

// A sliding log of send times on Redis's own clock (so process clocks do not matter): a slot is
// taken when fewer than the limit were taken in the last second; otherwise the wait is returned.
const TAKE_SLOT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 1000)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now, now .. ':' .. ARGV[2])
  redis.call('PEXPIRE', KEYS[1], 2000)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return tonumber(oldest[2]) + 1000 - now + 1
`;

const SENDS = new Set(["sendmessage", "sendphoto", "editmessagetext", "editmessagecaption"]);

export function createTelegramSender(opts: {
  token: string;
  apiRoot: string;
  /** Shares the overall limit across processes (a prefixed client). */
  redis?: Redis;
  perSecond?: number;
}): Api {
  const api = new Api(opts.token, { apiRoot: opts.apiRoot });
  // The transformer installed last runs first: auto-retry → local throttler → shared slot →
  // HTTP. A retry after a 429 is paced like any other send; the shared slot is taken right
  // before the request leaves. Starts 36 ms apart keep every rolling second of one process under
  // 30 even when requests arrive a little bunched (the default reservoir refills 30 at once,
  // which lets up to 60 through across a refill boundary).
  const { redis } = opts;
  if (redis) {
    const limit = String(opts.perSecond ?? GLOBAL_SENDS_PER_SECOND);
    api.config.use(async (prev, method, payload, signal) => {
      if (SENDS.has(method.toLowerCase())) {
        for (;;) {
          const wait = Number(
            await redis.eval(TAKE_SLOT, 1, "telegram:sends", limit, randomBytes(6).toString("hex")),
          );
          if (wait <= 0) break;
          await new Promise((r) => setTimeout(r, wait));
        }
      }
      return prev(method, payload, signal);
    });
  }
  api.config.use(apiThrottler({ global: { minTime: 36 } }));
  api.config.use(autoRetry({ maxRetryAttempts: 5, maxDelaySeconds: 60 }));
  return api;
}
