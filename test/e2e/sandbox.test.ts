// The local sandbox: in development without TELEGRAM_BOT_TOKEN the service runs the Telegram
// emulator and serves /sandbox, a web chat with the real bot and the paper venue. Driven in
// headless Chromium: /start → /connect (paper) → /open → /positions, and a pasted secret
// vanishes from the page. Outside development /sandbox does not exist.
import { mkdtempSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHOOSE_VENUE } from "../../src/bot/features/keys";
import { DELETED_SECRET, PAPER_READY } from "../../src/bot/texts";
import { launchBrowser, newContext, violations } from "../support/browser";
import { startTestWarden, type TestWarden } from "../support/warden-harness";

/** Waits for a page or service state (bounded, never asserting how long it took). */
const poll = <T>(fn: () => T | Promise<T>) => expect.poll(fn, { timeout: 15_000, interval: 50 });

let browser: Browser;
let dev: TestWarden;

beforeAll(async () => {
  dev = await startTestWarden({
    roles: ["api", "bot", "worker", "signer"],
    env: {
      NODE_ENV: "development",
      TELEGRAM_BOT_TOKEN: undefined,
      DEV_SECRETS_FILE: join(mkdtempSync(join(tmpdir(), "warden-sandbox-")), "dev.env"),
    },
  });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await dev?.stop();
});

const bubbles = (page: Page) => page.locator("#messages .msg");
const botBubble = (page: Page, text: string | RegExp) =>
  page.locator("#messages .msg.bot", { hasText: text });

async function send(page: Page, text: string) {
  await page.fill("#composer input[name=text]", text);
  await page.click("#composer button[type=submit]");
}

describe("sandbox in development", () => {
  it("when a newcomer opens /sandbox and goes /start → /connect (paper) → /open → /positions, then every answer appears and a pasted secret vanishes", async () => {
    expect(dev.warden.sandbox).toBeDefined();
    const context = await newContext(browser);
    const page = await context.newPage();
    await page.goto(`${dev.base}/sandbox?user=424242`);
    await page.locator("body[data-ready=true]").waitFor();
    expect(await page.textContent("#bot-name")).toBe("talking to @warden_sandbox_bot");

    await send(page, "/start");
    await page.locator("#messages .msg.user", { hasText: "/start" }).waitFor();
    await botBubble(page, "Welcome to Warden").waitFor();
    await botBubble(page, PAPER_READY).waitFor();

    await send(page, "/connect");
    const menu = botBubble(page, CHOOSE_VENUE);
    await menu.waitFor();
    await menu.locator("button", { hasText: "Paper" }).click();
    await botBubble(page, /✅ Stored, encrypted\. #\d+ Paper/).waitFor();

    await send(page, "/open BTC long 0.01");
    const confirm = botBubble(page, /Send this order\?[\s\S]*LONG 0\.01 BTC-PERP/);
    await confirm.waitFor();
    await confirm.locator("button", { hasText: "Confirm" }).click();
    await botBubble(page, /✅ Opened #\d+: long 0\.01 BTC-PERP at /).waitFor();

    await send(page, "/positions");
    await botBubble(page, /#\d+ BTC-PERP long 0\.01 · Paper[\s\S]*Entry [\d,.]+ · mark /).waitFor();

    // Over http Telegram refuses Mini App buttons, so /settings sends the page's address.
    await send(page, "/settings");
    await botBubble(page, `${dev.origin}/settings`).waitFor();

    // A key pasted outside /connect is deleted by the bot: it vanishes from the page.
    const secret = `sk_${"Zq9".repeat(12)}`;
    await send(page, secret);
    await botBubble(page, DELETED_SECRET).waitFor();
    await page.locator("#messages .msg.user", { hasText: secret }).waitFor({ state: "detached" });
    expect(await page.content()).not.toContain(secret);
    // It was really sent, and the bot deleted it: the chat's transcript marks it deleted.
    const sent = dev.warden.sandbox?.transcript(424242).filter((m) => m.text === secret);
    expect(sent?.map((m) => ({ from: m.from, deleted: m.deleted }))).toEqual([
      { from: "user", deleted: true },
    ]);

    // A reload shows the same chat from the emulator's history, still without the secret.
    const count = await bubbles(page).count();
    await page.reload();
    await page.locator("body[data-ready=true]").waitFor();
    expect(await bubbles(page).count()).toBe(count);
    expect(await page.content()).not.toContain(secret);
    expect(dev.warden.sandbox?.history(424242).some((m) => m.text === secret)).toBe(false);

    // Photos: /2fa sends the QR code as a photo, which the page shows as an image.
    await send(page, "/2fa");
    const qr = page.locator("#messages .msg.bot img");
    await qr.waitFor();
    await poll(() => qr.evaluate((img) => (img as HTMLImageElement).naturalWidth)).toBeGreaterThan(
      0,
    );

    expect(await violations(page)).toEqual([]);
    expect(dev.logs.lines.filter((l) => l.includes('"msg":"csp violation reported"'))).toEqual([]);
    if (process.env.WARDEN_SCREENSHOTS) {
      await page.setViewportSize({ width: 900, height: 900 });
      await page.screenshot({ path: "docs/sandbox.png" });
    }
    await context.close();
  });

  it("when the sandbox API is given a bad user or an empty message, then it answers 400 and sends nothing", async () => {
    const before = dev.warden.sandbox?.calls.length;
    const bad = await fetch(`${dev.base}/sandbox/api/users/abc/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ text: "/start" }),
    });
    expect(bad.status).toBe(400);
    const empty = await fetch(`${dev.base}/sandbox/api/users/5/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ text: "" }),
    });
    expect(empty.status).toBe(400);
    expect(dev.warden.sandbox?.history(5)).toEqual([]);
    expect(dev.warden.sandbox?.calls.length).toBe(before);
  });

  it("when a request reaches the sandbox under a foreign Host name (DNS rebinding) or through a proxy, then it is refused", async () => {
    const port = new URL(dev.base).port;
    const status = (host: string, extra: Record<string, string> = {}) =>
      new Promise<number>((resolve, reject) => {
        const req = request(
          { host: "127.0.0.1", port, path: "/sandbox/api/bot", headers: { host, ...extra } },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on("error", reject);
        req.end();
      });
    expect(await status(`rebind.attacker.example:${port}`)).toBe(403);
    expect(await status(`localhost:${port}`)).toBe(200);
    expect(await status(`127.0.0.1:${port}`)).toBe(200);
    // A proxy or tunnel on this machine connects from loopback too; what it forwards is refused.
    expect(await status(`localhost:${port}`, { "x-forwarded-for": "203.0.113.7" })).toBe(403);
    expect(await status(`localhost:${port}`, { forwarded: "for=203.0.113.7" })).toBe(403);
  });

  it("when /sandbox is served, then it carries the same security headers and no inline script", async () => {
    const res = await fetch(`${dev.base}/sandbox`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    expect(await res.text()).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>|\sstyle=/i);
  });
});

describe("no sandbox outside development", () => {
  it("when the service runs with NODE_ENV=production, then /sandbox and its API do not exist", async () => {
    // The api without the signer: production refuses MASTER_KEYS for it (issue 19).
    const prod = await startTestWarden({
      env: {
        NODE_ENV: "production",
        PUBLIC_URL: "https://warden.example",
        BCRYPT_COST: "12",
        TELEGRAM_BOT_TOKEN: undefined,
        MASTER_KEYS: undefined,
      },
      // As production runs it: no MASTER_KEYS for the api; the signer runs elsewhere; the api
      // logs in as a warden_app member (production refuses a superuser's login).
      roles: ["api", "worker"],
      databaseLogins: true,
    });
    try {
      expect(prod.warden.sandbox).toBeUndefined();
      for (const path of [
        "/sandbox",
        "/sandbox/app.js",
        "/sandbox/api/bot",
        "/assets/sandbox.js",
      ]) {
        expect((await fetch(`${prod.base}${path}`)).status).toBe(404);
      }
      const post = await fetch(`${prod.base}/sandbox/api/users/1/messages`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ text: "/start" }),
      });
      expect(post.status).toBe(404);
      // The settings page itself is there: only the sandbox is missing.
      expect((await fetch(`${prod.base}/settings`)).status).toBe(200);
    } finally {
      await prod.stop();
    }
  });
});
