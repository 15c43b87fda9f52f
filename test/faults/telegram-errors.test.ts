// Fault: the Bot API answers 429 with retry_after and bursts of 5xx while Warden sends (the
// workers' sender, with the shared limits). Every message still arrives exactly once, and a
// message refused with retry_after is not tried again before that many seconds have passed.
// https://core.telegram.org/bots/api#responseparameters (retry_after)
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTelegramSender } from "../../src/infra/telegram";
import { createTestRedis, type TestRedis } from "../support/context";
import { startTelegramEmulator, type TelegramEmulator } from "../support/telegram";

let tg: TelegramEmulator;
let redisCtx: TestRedis;
let redis: Redis;

beforeAll(async () => {
  tg = await startTelegramEmulator({ rateLimit: { globalPerSecond: 30, perChatPerSecond: 1 } });
  redisCtx = createTestRedis();
  redis = new Redis(redisCtx.url, { keyPrefix: redisCtx.prefix });
});

afterAll(async () => {
  redis?.disconnect();
  await redisCtx?.cleanup();
  await tg?.close();
});

describe("fault: Telegram 429 and 5xx", () => {
  it("when Telegram answers 429 retry_after 2 and then three 502s, then all 12 messages arrive once each and the refused one waits 2 s", async () => {
    const chats = Array.from({ length: 12 }, (_, i) => 8_800 + i);
    for (const id of chats) tg.user({ id, first_name: "U" }).sendText("/start");
    const api = createTelegramSender({ token: tg.token, apiRoot: tg.apiRoot, redis });
    tg.failNext("sendMessage", {
      error_code: 429,
      description: "Too Many Requests: retry after 2",
      parameters: { retry_after: 2 },
    });
    tg.failNext("sendMessage", { error_code: 502, description: "Bad Gateway" }, 3);

    await Promise.all(chats.map((chat) => api.sendMessage(chat, `alert for ${chat}`)));

    const calls = tg.callsTo("sendMessage");
    const delivered = calls.filter((c) => c.ok).map((c) => String(c.params.text));
    expect(delivered.sort()).toEqual(chats.map((c) => `alert for ${c}`).sort());
    expect(calls.filter((c) => c.error_code === 502)).toHaveLength(3);
    const refused = calls.find((c) => c.error_code === 429);
    expect(refused).toBeDefined();
    const retried = calls.find(
      (c) => c.ok && c.params.chat_id === refused?.params.chat_id && c.at > (refused?.at ?? 0),
    );
    expect((retried?.at ?? 0) - (refused?.at ?? 0)).toBeGreaterThanOrEqual(1_950);
  });
});
