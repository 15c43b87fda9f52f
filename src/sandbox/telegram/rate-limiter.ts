// Rolling one-second windows per chat and globally, on the emulator clock, so tests can
// provoke Telegram's 429 "retry after" flood control deliberately and deterministically.

import type { RateLimitOptions } from "./types";

const WINDOW_MS = 1000;

export class RateLimiter {
  private readonly perChat = new Map<number, number[]>();
  private readonly global: number[] = [];

  constructor(
    private readonly options: RateLimitOptions,
    private readonly now: () => number,
  ) {}

  /** Records the call and returns undefined, or returns retry_after seconds and records nothing. */
  take(chatId: number | undefined): number | undefined {
    const now = this.now();
    const { perChatPerSecond, globalPerSecond } = this.options;
    prune(this.global, now);
    let waitMs = 0;
    if (globalPerSecond !== undefined && this.global.length >= globalPerSecond) {
      waitMs = Math.max(waitMs, (this.global[0] ?? now) + WINDOW_MS - now);
    }
    let chatWindow: number[] | undefined;
    if (chatId !== undefined) {
      chatWindow = this.perChat.get(chatId) ?? [];
      prune(chatWindow, now);
      this.perChat.set(chatId, chatWindow);
      if (perChatPerSecond !== undefined && chatWindow.length >= perChatPerSecond) {
        waitMs = Math.max(waitMs, (chatWindow[0] ?? now) + WINDOW_MS - now);
      }
    }
    if (waitMs > 0) {
      return this.options.retryAfter ?? Math.max(1, Math.ceil(waitMs / 1000));
    }
    this.global.push(now);
    chatWindow?.push(now);
    return undefined;
  }
}

function prune(window: number[], now: number): void {
  while (window.length > 0 && (window[0] ?? 0) <= now - WINDOW_MS) window.shift();
}
