// The foundation bot through the Telegram emulator: private chats only, /start, /help, unknown
// commands, the command menu, and the per-user rate limit.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BOT_COMMANDS } from "../../../src/bot/commands";
import {
  DELETED_SECRET,
  helpText,
  NOT_A_COMMAND,
  slowDown,
  unknownCommand,
  WELCOME,
} from "../../../src/bot/texts";
import { type BotHarness, startBotHarness } from "../../support/bot-harness";

let h: BotHarness;
beforeAll(async () => {
  h = await startBotHarness({ rateLimit: { limit: 5, windowMs: 60_000 } });
});
afterAll(() => h.close());

describe("bot basics (S6.1, S6.3)", () => {
  it("when a user sends /start in a private chat, then the bot answers with the welcome", async () => {
    const alice = h.tg.user({ id: 1001, first_name: "Alice" });
    alice.sendText("/start");
    const reply = await alice.waitForBotMessage();
    expect(reply.text).toBe(WELCOME);
  });

  it("when /start comes from a group, supergroup or channel, then the bot answers nothing there", async () => {
    const bob = h.tg.user({ id: 1002, first_name: "Bob" });
    bob.sendText("/start", { chat: { id: -100200, type: "group", title: "Traders" } });
    bob.sendText("/start@warden_emulator_bot", {
      chat: { id: -100300, type: "supergroup", title: "Super" },
    });
    bob.sendText("/help", { chat: { id: -100400, type: "channel", title: "News" } });
    // A later private message is answered, so the group updates were processed (and ignored).
    bob.sendText("/help");
    expect((await bob.waitForBotMessage()).text).toBe(helpText());
    for (const chatId of [-100200, -100300, -100400]) {
      expect(h.tg.history(chatId).filter((m) => m.from === "bot")).toEqual([]);
    }
    const toGroups = h.tg.calls.filter(
      (c) => Number((c.params as { chat_id?: unknown }).chat_id) < 0,
    );
    expect(toGroups).toEqual([]);
  });

  it("when a user sends an unknown command, then a short help is the answer", async () => {
    const carol = h.tg.user({ id: 1003, first_name: "Carol" });
    carol.sendText("/frobnicate now");
    const reply = await carol.waitForBotMessage();
    expect(reply.text).toBe(unknownCommand("/frobnicate"));
    expect(reply.text).toContain("/help — What Warden can do and how");
  });

  it("when a user sends plain text, then the bot points to /help", async () => {
    const dan = h.tg.user({ id: 1004, first_name: "Dan" });
    dan.sendText("hello there");
    expect((await dan.waitForBotMessage()).text).toBe(NOT_A_COMMAND);
  });

  it("when a key-shaped message arrives outside /connect, then it is deleted at once and the user told", async () => {
    const gus = h.tg.user({ id: 1007, first_name: "Gus" });
    const pasted = gus.sendText(
      "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A secret",
    );
    expect((await gus.waitForBotMessage()).text).toBe(DELETED_SECRET);
    expect(h.tg.history(1007).map((m) => m.message_id)).not.toContain(pasted.message_id);
  });

  it("when the bot starts, then its commands are registered for private chats", () => {
    expect(h.tg.commands({ scope: { type: "all_private_chats" } })).toEqual(
      BOT_COMMANDS.map((c) => ({ command: c.command, description: c.description })),
    );
  });

  it("when a user exceeds the per-user limit, then they are told once and the rest is dropped", async () => {
    const eve = h.tg.user({ id: 1005, first_name: "Eve" });
    for (let i = 0; i < 8; i++) eve.sendText("/help");
    for (let i = 0; i < 5; i++) expect((await eve.waitForBotMessage()).text).toBe(helpText());
    const warning = await eve.waitForBotMessage();
    expect(warning.text).toMatch(/^Too many requests\. Please wait \d+ s and try again\.$/);
    expect(warning.text).toBe(slowDown(Number(/wait (\d+) s/.exec(warning.text ?? "")?.[1])));
    // Nothing more arrives for the remaining two.
    await expect(eve.waitForBotMessage(undefined, 1_500)).rejects.toThrow();
    // Another user is unaffected.
    const fay = h.tg.user({ id: 1006, first_name: "Fay" });
    fay.sendText("/help");
    expect((await fay.waitForBotMessage()).text).toBe(helpText());
  });
});
