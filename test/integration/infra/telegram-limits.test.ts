// Telegram's flood limits across processes, measured where Telegram would measure them: at the
// Bot API emulator, which answers 429 the moment a chat gets a second message within a second
// or the bot a 31st within a rolling second. Senders are separate processes sharing Redis.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestRedis, type TestRedis } from "../../support/context";
import { baseEnv, type Spawned, spawnProcess } from "../../support/process";
import { startTelegramEmulator, type TelegramEmulator } from "../../support/telegram";

let tg: TelegramEmulator;
let redis: TestRedis;
const children: Spawned[] = [];

beforeAll(async () => {
  tg = await startTelegramEmulator({ rateLimit: { globalPerSecond: 30, perChatPerSecond: 1 } });
  redis = createTestRedis();
});

afterAll(async () => {
  for (const c of children) c.kill();
  await redis?.cleanup();
  await tg?.close();
});

/** Starts one sender process per tag, releases them together and waits for all to finish. */
async function sendFromProcesses(tags: string[], chats: number[], count: number): Promise<void> {
  const procs = tags.map((tag) => {
    const p = spawnProcess(
      "node",
      ["--import", "tsx", "test/support/telegram/send-burst.ts"],
      baseEnv({
        REDIS_URL: redis.url,
        REDIS_PREFIX: redis.prefix,
        BOT_TOKEN: tg.token,
        API_ROOT: tg.apiRoot,
        SEND_CHATS: chats.join(","),
        SEND_COUNT: String(count),
        SENDER_TAG: tag,
      }),
    );
    children.push(p);
    return p;
  });
  await Promise.all(procs.map((p) => p.waitForOutput(/ready/)));
  for (const p of procs) p.child.stdin?.write("go\n");
  await Promise.all(procs.map((p) => p.waitForOutput(/sent \d+/, 400_000)));
}

/** The most sends the emulator saw within any window of `ms` (its own clock). */
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

describe("shared Telegram limits", () => {
  it("when two processes send 100 messages each to one chat at once, then that chat never gets two within a second and all 200 arrive in each sender's order", {
    timeout: 400_000,
  }, async () => {
    const chat = 7_001;
    tg.user({ id: chat, first_name: "Burst" }).sendText("/start");
    const refusedBefore = tg.tooManyRequestsSent;
    await sendFromProcesses(["A", "B"], [chat], 100);

    const calls = tg.callsTo("sendMessage").filter((c) => c.params.chat_id === chat);
    expect(tg.tooManyRequestsSent - refusedBefore).toBe(0);
    expect(calls.filter((c) => c.ok)).toHaveLength(200);
    const times = calls.map((c) => c.at).sort((a, b) => a - b);
    const gaps = times.slice(1).map((t, i) => t - (times[i] ?? 0));
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(1000);
    for (const tag of ["A", "B"]) {
      const order = calls
        .map((c) => String(c.params.text))
        .filter((t) => t.startsWith(`${tag} `))
        .map((t) => Number(t.slice(2)));
      expect(order).toEqual(Array.from({ length: 100 }, (_, i) => i));
    }
  });

  it("when two processes burst 120 messages each to 60 chats, then no rolling second at Telegram holds more than 30 and none is refused", async () => {
    const chats = Array.from({ length: 60 }, (_, i) => 7_100 + i);
    for (const id of chats) tg.user({ id, first_name: "U" }).sendText("/start");
    const refusedBefore = tg.tooManyRequestsSent;
    const since = Date.now();
    await sendFromProcesses(["C", "D"], chats, 2);

    const calls = tg
      .callsTo("sendMessage")
      .filter((c) => c.at >= since && chats.includes(Number(c.params.chat_id)));
    expect(tg.tooManyRequestsSent - refusedBefore).toBe(0);
    expect(calls.filter((c) => c.ok)).toHaveLength(240);
    expect(
      busiestWindow(
        calls.map((c) => c.at),
        1000,
      ),
    ).toBeLessThanOrEqual(30);
  });
});
