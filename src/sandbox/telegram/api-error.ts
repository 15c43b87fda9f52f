// Bot API failures as thrown values, carrying the exact descriptions Telegram uses so the
// bot under test sees the same GrammyError text it would in production.

export class BotApiError extends Error {
  constructor(
    readonly errorCode: number,
    readonly description: string,
    readonly parameters?: { retry_after?: number; migrate_to_chat_id?: number },
  ) {
    super(description);
    this.name = "BotApiError";
  }

  toEnvelope(): Record<string, unknown> {
    return {
      ok: false,
      error_code: this.errorCode,
      description: this.description,
      ...(this.parameters ? { parameters: this.parameters } : {}),
    };
  }
}

export const badRequest = (detail: string): BotApiError =>
  new BotApiError(400, `Bad Request: ${detail}`);

export const forbidden = (detail: string): BotApiError =>
  new BotApiError(403, `Forbidden: ${detail}`);

export const unauthorized = (): BotApiError => new BotApiError(401, "Unauthorized");

export const notFound = (): BotApiError => new BotApiError(404, "Not Found");

export const tooManyRequests = (retryAfter: number): BotApiError =>
  new BotApiError(429, `Too Many Requests: retry after ${retryAfter}`, {
    retry_after: retryAfter,
  });

export const webhookConflict = (): BotApiError =>
  new BotApiError(
    409,
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
  );

export const pollingConflict = (): BotApiError =>
  new BotApiError(
    409,
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
  );

export const messageNotModified = (): BotApiError =>
  badRequest(
    "message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
  );
