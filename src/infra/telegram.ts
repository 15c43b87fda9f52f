// The Bot API client for messages Warden sends on its own (alerts, notices): Telegram's flood
// limits respected up front (under 30 messages/s overall, 1/s per chat) and a 429's
// `retry_after` honoured when the server asks anyway.
import { autoRetry } from "@grammyjs/auto-retry";
import { apiThrottler } from "@grammyjs/transformer-throttler";
import { Api } from "grammy";

export function createTelegramSender(opts: { token: string; apiRoot: string }): Api {
  const api = new Api(opts.token, { apiRoot: opts.apiRoot });
  // The transformer installed last runs first: auto-retry wraps the throttler, so a retry after
  // a 429 is paced like any other send. Starts 36 ms apart keep every rolling second under 30
  // even when requests arrive a little bunched (the default reservoir refills 30 at once, which
  // lets up to 60 through across a refill boundary).
  api.config.use(apiThrottler({ global: { minTime: 36 } }));
  api.config.use(autoRetry({ maxRetryAttempts: 5, maxDelaySeconds: 60 }));
  return api;
}
