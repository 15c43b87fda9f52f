// The bot role's replies under a burst, measured at the Bot API emulator with Telegram's limits
// switched on: no rolling second holds more than 30 of them (grammY's default throttler refilled
// 30 at once and let up to 59 through across a refill) and no chat gets two within a second.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WELCOME } from "../../../src/bot/texts";
import { type BotHarness, startBotHarness } from "../../support/bot-harness";

let h: BotHarness;
beforeAll(async () => {
  h = await startBotHarness();
  h.tg.setRateLimit({ globalPerSecond: 30, perChatPerSecond: 1 });
});
afterAll(() => h.close());

function busiestWindow(times: number[], ms: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  let start = 0;
  for (let end = 0; end < sorted.length; end++) {
    while ((sorted[end] ?? 0) - (sorted[start] ?? 0) >= ms) start++;
    most = Math.max(most, end - start + 1);
  }
  return most;
}

describe("bot flood limits", () => {
  it("when 90 users send /start and /help at the same moment, then every reply arrives, none is refused and no rolling second holds more than 30", async () => {
    const users = Array.from({ length: 90 }, (_, i) =>
      h.tg.user({ id: 50_000 + i, first_name: `U${i}` }),
    );
    for (const u of users) {
      u.sendText("/start");
      u.sendText("/help");
    }
    for (const u of users) {
      expect((await u.waitForBotMessage(undefined, 30_000)).text).toBe(WELCOME);
      await u.waitForBotMessage(undefined, 30_000);
    }
    const sends = h.tg.callsTo("sendMessage");
    expect(sends.filter((c) => c.ok)).toHaveLength(180);
    expect(h.tg.tooManyRequestsSent).toBe(0);
    expect(
      busiestWindow(
        sends.map((c) => c.at),
        1000,
      ),
    ).toBeLessThanOrEqual(30);
    for (const u of users) {
      const mine = sends.filter((c) => c.params.chat_id === u.id).map((c) => c.at);
      expect(busiestWindow(mine, 1000)).toBe(1);
    }
  });
});
