// S6.3: a per-user limit on updates, held in Redis so it holds across bot processes. The user
// is told once per window; further updates in that window are dropped silently.
import type { MiddlewareFn } from "grammy";
import type { RateLimiter } from "../../infra/rate-limit";
import type { BotContext } from "../context";
import { slowDown } from "../texts";

export interface UserRateLimit {
  limit: number;
  windowMs: number;
}

export function userRateLimit(
  limiter: RateLimiter,
  { limit, windowMs }: UserRateLimit,
): MiddlewareFn<BotContext> {
  return async (ctx, next) => {
    const userId = ctx.from?.id;
    if (userId === undefined) return;
    const r = await limiter.hit(`tg:${userId}`, limit, windowMs);
    if (r.allowed) return next();
    if (r.count === limit + 1) {
      await ctx.reply(slowDown(Math.ceil(r.retryAfterMs / 1000)));
    }
  };
}
