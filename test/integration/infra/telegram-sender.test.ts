// Two worker processes' Telegram senders against one Bot API emulator that answers 429 beyond
// 30 messages/s overall: with the shared Redis slot they stay under the limit together; each
// alone would not.
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTelegramSender } from "../../../src/infra/telegram";
import { createTestRedis, type TestRedis } from "../../support/context";
import { startTelegramEmulator, type TelegramEmulator } from "../../support/telegram";

const CHATS = 40;
let tg: TelegramEmulator;
let redisCtx: TestRedis;
let redis: Redis;

beforeAll(async () => {
  tg = await startTelegramEmulator({ rateLimit: { globalPerSecond: 30, perChatPerSecond: 1 } });
  redisCtx = createTestRedis();
  redis = new Redis(redisCtx.url, { keyPrefix: redisCtx.prefix });
  for (let i = 0; i < 2 * CHATS; i++)
    tg.user({ id: 9_100 + i, first_name: "U" }).sendText("/start");
});

afterAll(async () => {
  redis?.disconnect();
  await redisCtx?.cleanup();
  await tg?.close();
});

/** Two senders ("processes") each send one message to CHATS chats of their own, at once. */
async function burst(shared: boolean, firstChat: number) {
  const senders = [0, 1].map(() =>
    createTelegramSender({
      token: tg.token,
      apiRoot: tg.apiRoot,
      ...(shared ? { redis } : {}),
    }),
  );
  const before = tg.tooManyRequestsSent;
  await Promise.all(
    senders.flatMap((api, s) =>
      Array.from({ length: CHATS / 2 }, (_, i) =>
        api.sendMessage(firstChat + s * (CHATS / 2) + i, `hello ${i}`),
      ),
    ),
  );
  return tg.tooManyRequestsSent - before;
}

describe("Telegram sender", () => {
  it("when two processes send at once with the shared slot, then Telegram never answers 429", async () => {
    expect(await burst(true, 9_100)).toBe(0);
  });

  it("when the same two send without it, then their sum exceeds 30/s and Telegram answers 429 (retried, all delivered)", async () => {
    expect(await burst(false, 9_100 + CHATS)).toBeGreaterThan(0);
    const delivered = tg.callsTo("sendMessage").filter((c) => c.ok).length;
    expect(delivered).toBe(2 * CHATS);
  });
});
