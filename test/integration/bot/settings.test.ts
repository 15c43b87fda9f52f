// /settings in the bot: over https a Mini App (web_app) button to /settings/telegram, which
// Telegram opens with signed initData; the http case (development) is covered by the sandbox test.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BotHarness, startBotHarness } from "../../support/bot-harness";

let h: BotHarness;
beforeAll(async () => {
  h = await startBotHarness({
    settings: {
      page: "https://warden.example/settings",
      miniApp: "https://warden.example/settings/telegram",
    },
  });
});
afterAll(() => h.close());

describe("/settings", () => {
  it("when a user sends /settings and the page is on https, then the bot answers with one Mini App button to the Mini App route", async () => {
    const u = h.tg.user({ id: 9101, first_name: "Settings" });
    u.sendText("/settings");
    const reply = await u.waitForBotMessage();
    expect(reply.text).toBe(
      "Keys, two-factor, sessions, alerts and your audit log — all on the settings page:",
    );
    expect(reply.reply_markup).toEqual({
      inline_keyboard: [
        [{ text: "Open settings", web_app: { url: "https://warden.example/settings/telegram" } }],
      ],
    });
  });
});
