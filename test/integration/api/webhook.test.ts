// The API role serving Telegram webhooks (S6.3): only requests with the secret token header
// reach the bot; the emulator delivers real updates through setWebhook.
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { webhookCallback } from "grammy";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApi } from "../../../src/api/app";
import { startBot, WEBHOOK_PATH } from "../../../src/bot/runner";
import { WELCOME } from "../../../src/bot/texts";
import { createLogger } from "../../../src/infra/logger";
import { createScrubber } from "../../../src/infra/scrub";
import { type BotHarness, startBotHarness } from "../../support/bot-harness";
import { randomSecret } from "../../support/context";

const secret = randomSecret();
let h: BotHarness;
let server: Server;
let base: string;

beforeAll(async () => {
  h = await startBotHarness({ polling: false });
  const logger = createLogger({
    level: "warn",
    pretty: false,
    scrubber: createScrubber([secret]),
    destination: h.logs.stream,
  });
  const app = createApi({
    logger,
    readiness: {},
    trustedProxies: [],
    telegramWebhook: {
      path: WEBHOOK_PATH,
      secret,
      handler: webhookCallback(h.bot, "express", { secretToken: secret }),
    },
  });
  server = await new Promise((res) => {
    const s = app.listen(0, "127.0.0.1", () => res(s));
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await startBot(h.bot, { logger, webhook: { url: `${base}${WEBHOOK_PATH}`, secret } });
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  await h.close();
});

const update = (chatId: number) => ({
  update_id: 900_001,
  message: {
    message_id: 1,
    date: Math.floor(Date.now() / 1000),
    chat: { id: chatId, type: "private", first_name: "Mallory" },
    from: { id: chatId, is_bot: false, first_name: "Mallory" },
    text: "/start",
    entities: [{ type: "bot_command", offset: 0, length: 6 }],
  },
});

describe("Telegram webhook (S6.3)", () => {
  it("when the bot starts in webhook mode, then it registers the URL with the secret token", () => {
    const info = h.tg.webhookInfo();
    expect(info.url).toBe(`${base}${WEBHOOK_PATH}`);
    const call = h.tg.callsTo("setWebhook").at(-1);
    const params = call?.params as { secret_token?: string } | undefined;
    expect(params?.secret_token).toBe(secret);
  });

  it("when Telegram delivers /start with the secret header, then the user gets the welcome", async () => {
    const alice = h.tg.user({ id: 2001, first_name: "Alice" });
    alice.sendText("/start");
    expect((await alice.waitForBotMessage()).text).toBe(WELCOME);
  });

  it("when a request has no secret header, then it is refused with 401 and never reaches the bot", async () => {
    const victim = h.tg.user({ id: 2002, first_name: "Victim" });
    const before = h.tg.callsTo("sendMessage").length;
    const res = await fetch(`${base}${WEBHOOK_PATH}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(update(victim.id)),
    });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({
      error: "unauthorized",
      message: "Missing or wrong secret token.",
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(h.tg.callsTo("sendMessage").length).toBe(before);
  });

  it("when a request carries a wrong secret header, then it is refused with 401", async () => {
    for (const wrong of [`${secret}x`, secret.slice(1), "", "a".repeat(64)]) {
      const res = await fetch(`${base}${WEBHOOK_PATH}`, {
        method: "POST",
        headers: { "content-type": "application/json", "X-Telegram-Bot-Api-Secret-Token": wrong },
        body: JSON.stringify(update(2003)),
      });
      expect(res.status).toBe(401);
    }
  });

  it("when an unknown path or bad JSON is sent, then the API answers a JSON error", async () => {
    const missing = await fetch(`${base}/nope`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: "not_found", message: "No such endpoint." });
    const bad = await fetch(`${base}/nope`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{",
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({
      error: "invalid_json",
      message: "The request body is not valid JSON.",
    });
  });

  it("when the secret was used, then it never appears in the log", () => {
    expect(h.logs.text()).not.toContain(secret);
  });
});
