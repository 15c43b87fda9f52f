// The Bot API client for messages Warden sends on its own (alerts, notices): Telegram's flood
// limits respected up front (under 30 messages/s overall, 1/s per chat) and a 429's
// `retry_after` honoured when the server asks anyway. With Redis, both limits hold for every
// process sending for the bot together (the bot role's replies included), not for each one.
import { autoRetry } from "@grammyjs/auto-retry";
import { apiThrottler } from "@grammyjs/transformer-throttler";
import { Api } from "grammy";
import type { Redis } from "ioredis";
import { sharedTelegramLimits } from "./telegram-limits";

export function createTelegramSender(opts: {
  token: string;
  apiRoot: string;
  /** Shares the limits across processes (a prefixed client). */
  redis?: Redis;
  perSecond?: number;
  onLimiterFallback?: (err: unknown) => void;
}): Api {
  const api = new Api(opts.token, { apiRoot: opts.apiRoot });
  // The transformer installed last runs first: auto-retry → limits → HTTP, so a retry after a
  // 429 is paced like any other send and the slot is taken right before the request leaves.
  if (opts.redis) {
    api.config.use(
      sharedTelegramLimits({
        redis: opts.redis,
        perSecond: opts.perSecond,
        onFallback: opts.onLimiterFallback,
      }),
    );
  } else {
    // Starts 36 ms apart keep every rolling second under 30 even when requests arrive bunched
    // (the default reservoir refills 30 at once, which lets up to 60 through across a refill).
    api.config.use(apiThrottler({ global: { minTime: 36 } }));
  }
  api.config.use(autoRetry({ maxRetryAttempts: 5, maxDelaySeconds: 60 }));
  return api;
}
