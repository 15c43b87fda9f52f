// The Bot API client for messages Warden sends on its own (alerts, notices): Telegram's flood
// limits respected up front (about 30 messages/s overall, 1/s per chat) and a 429's
// `retry_after` honoured when the server asks anyway.
import { autoRetry } from "@grammyjs/auto-retry";
import { apiThrottler } from "@grammyjs/transformer-throttler";
import { Api } from "grammy";

export function createTelegramSender(opts: { token: string; apiRoot: string }): Api {
  const api = new Api(opts.token, { apiRoot: opts.apiRoot });
  // Order matters: the throttler paces every attempt, retries included.
  api.config.use(autoRetry({ maxRetryAttempts: 5, maxDelaySeconds: 60 }));
  // Spacing sends 34 ms apart keeps any rolling second under 30 (the default reservoir refills
  // 30 at a time, which lets 60 through across a refill boundary).
  api.config.use(apiThrottler({ global: { minTime: 34 } }));
  return api;
}
