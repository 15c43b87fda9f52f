// The bot's update queue: handed out by long-polling getUpdates (confirmed through offset)
// or pushed to a webhook one at a time, in order, with retries like Telegram's.

import http from "node:http";
import https from "node:https";
import { type BotApiError, pollingConflict, webhookConflict } from "./api-error";
import type { TgUpdate, TgUpdatePayload } from "./types";

export interface WebhookOptions {
  /** Delivery attempts per update before it is dropped (counted in droppedWebhookUpdates). */
  maxAttempts?: number;
  /** Delay before the first retry; doubles on each further retry. */
  retryDelayMs?: number;
  /** How long to wait for the bot's webhook response. */
  timeoutMs?: number;
}

export interface WebhookConfig {
  url: string;
  secretToken?: string;
  maxConnections: number;
  allowedUpdates?: string[];
}

export interface WebhookInfo {
  url: string;
  has_custom_certificate: boolean;
  pending_update_count: number;
  max_connections?: number;
  allowed_updates?: string[];
  last_error_date?: number;
  last_error_message?: string;
}

interface Poller {
  limit: number;
  finish(outcome: TgUpdate[] | BotApiError): void;
}

export class UpdateQueue {
  private pending: TgUpdate[] = [];
  private nextUpdateId = 1;
  private poller: Poller | undefined;
  private webhook: WebhookConfig | undefined;
  private lastError: { date: number; message: string } | undefined;
  private delivering = false;
  private closed = false;
  private readonly shutdown = new AbortController();
  private readonly agents = {
    http: new http.Agent({ keepAlive: true }),
    https: new https.Agent({ keepAlive: true }),
  };
  droppedWebhookUpdates = 0;

  constructor(
    private readonly deps: {
      nowSeconds: () => number;
      webhook: Required<WebhookOptions>;
      /** A webhook response may carry a Bot API call (`{"method": …}`); Telegram executes it. */
      onWebhookReply: (call: Record<string, unknown>) => Promise<void>;
    },
  ) {}

  get pendingCount(): number {
    return this.pending.length;
  }

  get webhookUrl(): string | undefined {
    return this.webhook?.url;
  }

  push(update: TgUpdatePayload): TgUpdate {
    const full: TgUpdate = { update_id: this.nextUpdateId, ...update };
    this.nextUpdateId += 1;
    this.pending.push(full);
    const poller = this.poller;
    // Deferred so that updates produced in one synchronous burst arrive as one batch.
    if (poller) setImmediate(() => poller.finish(this.pending.slice(0, poller.limit)));
    if (this.webhook) void this.deliver();
    return full;
  }

  async getUpdates(
    request: { offset?: number; limit?: number; timeout?: number },
    signal: AbortSignal,
  ): Promise<TgUpdate[]> {
    if (this.webhook) throw webhookConflict();
    this.confirm(request.offset);
    this.poller?.finish(pollingConflict());
    const limit = Math.min(100, Math.max(1, request.limit ?? 100));
    const available = this.pending.slice(0, limit);
    const timeout = Math.max(0, request.timeout ?? 0);
    if (available.length > 0 || timeout === 0 || this.closed || signal.aborted) return available;

    return new Promise<TgUpdate[]>((resolve, reject) => {
      const poller: Poller = {
        limit,
        finish: (outcome) => {
          if (this.poller !== poller) return;
          this.poller = undefined;
          clearTimeout(timer);
          signal.removeEventListener("abort", onAbort);
          if (Array.isArray(outcome)) resolve(outcome);
          else reject(outcome);
        },
      };
      const timer = setTimeout(() => poller.finish([]), timeout * 1000);
      // The client went away: nobody will read the answer, updates stay unconfirmed.
      const onAbort = () => poller.finish([]);
      signal.addEventListener("abort", onAbort);
      this.poller = poller;
    });
  }

  setWebhook(config: WebhookConfig, dropPending: boolean): void {
    if (dropPending) this.pending = [];
    this.webhook = config;
    this.lastError = undefined;
    this.poller?.finish(webhookConflict());
    void this.deliver();
  }

  deleteWebhook(dropPending: boolean): boolean {
    const had = this.webhook !== undefined;
    if (dropPending) this.pending = [];
    this.webhook = undefined;
    return had;
  }

  info(): WebhookInfo {
    const hook = this.webhook;
    return {
      url: hook?.url ?? "",
      has_custom_certificate: false,
      pending_update_count: this.pending.length,
      ...(hook ? { max_connections: hook.maxConnections } : {}),
      ...(hook?.allowedUpdates ? { allowed_updates: hook.allowedUpdates } : {}),
      ...(this.lastError
        ? { last_error_date: this.lastError.date, last_error_message: this.lastError.message }
        : {}),
    };
  }

  close(): void {
    this.closed = true;
    this.poller?.finish([]);
    this.shutdown.abort();
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  /** offset confirms everything before it; a negative offset keeps only the last -offset. */
  private confirm(offset: number | undefined): void {
    if (offset === undefined || offset === 0) return;
    if (offset < 0) this.pending = this.pending.slice(offset);
    else this.pending = this.pending.filter((u) => u.update_id >= offset);
  }

  private async deliver(): Promise<void> {
    if (this.delivering) return;
    this.delivering = true;
    try {
      while (this.webhook && !this.closed && this.pending.length > 0) {
        const hook = this.webhook;
        const update = this.pending[0] as TgUpdate;
        const outcome = await this.deliverWithRetries(hook, update);
        if (outcome === "interrupted") break;
        if (outcome === "gave-up") this.droppedWebhookUpdates += 1;
        this.pending = this.pending.filter((u) => u !== update);
      }
    } finally {
      this.delivering = false;
    }
    // An update may have arrived after the loop checked the queue for the last time.
    if (this.webhook && !this.closed && this.pending.length > 0) void this.deliver();
  }

  private async deliverWithRetries(
    hook: WebhookConfig,
    update: TgUpdate,
  ): Promise<"delivered" | "gave-up" | "interrupted"> {
    const { maxAttempts, retryDelayMs } = this.deps.webhook;
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      if (attempt > 0) await delay(retryDelayMs * 2 ** (attempt - 1), this.shutdown.signal);
      if (this.webhook !== hook || this.closed) return "interrupted";
      const error = await this.post(hook, update);
      if (error === undefined) return "delivered";
      this.lastError = { date: this.deps.nowSeconds(), message: error };
    }
    return "gave-up";
  }

  /** POSTs one update; returns Telegram's last_error_message text on failure. */
  private post(hook: WebhookConfig, update: TgUpdate): Promise<string | undefined> {
    const url = new URL(hook.url);
    const body = Buffer.from(JSON.stringify(update));
    const transport = url.protocol === "https:" ? https : http;
    const agent = url.protocol === "https:" ? this.agents.https : this.agents.http;
    return new Promise((resolve) => {
      const req = transport.request(
        url,
        {
          method: "POST",
          agent,
          signal: this.shutdown.signal,
          timeout: this.deps.webhook.timeoutMs,
          headers: {
            "content-type": "application/json",
            "content-length": body.length,
            ...(hook.secretToken ? { "x-telegram-bot-api-secret-token": hook.secretToken } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("error", () => resolve("Connection reset by peer"));
          res.on("end", () => {
            const status = res.statusCode ?? 0;
            if (status < 200 || status > 299) {
              resolve(
                `Wrong response from the webhook: ${status} ${res.statusMessage ?? ""}`.trim(),
              );
              return;
            }
            void this.runWebhookReply(res.headers["content-type"], Buffer.concat(chunks));
            resolve(undefined);
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", (error: NodeJS.ErrnoException) => {
        if (error.code === "ECONNREFUSED") resolve("Connection refused");
        else if (error.message === "timeout") resolve("Read timeout expired");
        else resolve(error.message || "Connection error");
      });
      req.end(body);
    });
  }

  private async runWebhookReply(contentType: string | undefined, body: Buffer): Promise<void> {
    if (!contentType?.includes("application/json") || body.length === 0) return;
    try {
      const call: unknown = JSON.parse(body.toString("utf8"));
      if (typeof call === "object" && call !== null && "method" in call) {
        await this.deps.onWebhookReply(call as Record<string, unknown>);
      }
    } catch {
      // Telegram ignores unusable webhook replies as well.
    }
  }
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done);
  });
}
