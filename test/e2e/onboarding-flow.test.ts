// A new user's first visit to /settings in Chromium at a phone's size (390×844), against the
// running service (api + worker + bot) and the Telegram emulator: create an account (refused
// passwords show why), confirm the address from the development mailbox, turn on 2FA, link
// Telegram with the code the bot's /link gives, change the password (step-up with password and
// code), reset a forgotten password from the mailbox link, sign out everywhere. No screen scrolls
// sideways, every control of the new forms is at least 44 px tall, no CSP violation.
// This Warden runs in development without SMTP_URL, so its mail goes to the development mailbox
// (/sandbox/mail), read in the browser as a user would; its outbox directory is its own.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LINK_YES } from "../../src/bot/features/account";
import { launchBrowser, newContext, violations } from "../support/browser";
import { startTelegramEmulator, type TelegramEmulator } from "../support/telegram";
import { totpAt } from "../support/totp";
import { startTestWarden, type TestWarden } from "../support/warden-harness";

let tg: TelegramEmulator;
let w: TestWarden;
let browser: Browser;
let outbox: string;

beforeAll(async () => {
  tg = await startTelegramEmulator();
  outbox = await mkdtemp(join(tmpdir(), "warden-outbox-"));
  // api, worker and bot without MASTER_KEYS; the signer in a process of its own (issue 19).
  w = await startTestWarden({
    roles: ["api", "worker", "bot", "signer"],
    env: {
      NODE_ENV: "development",
      SMTP_URL: undefined,
      MAIL_OUTBOX_DIR: outbox,
      TELEGRAM_BOT_TOKEN: tg.token,
      TELEGRAM_API_ROOT: tg.apiRoot,
      TRUSTED_PROXIES: "127.0.0.1",
    },
  });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await w?.stop();
  await tg?.close();
  if (outbox) await rm(outbox, { recursive: true, force: true });
});

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

/** The screen fits a phone 360, 390 or 414 px wide: nothing wider than the window. */
async function expectNoSidewaysScroll(page: Page) {
  for (const width of [360, 414, 390]) {
    await page.setViewportSize({ width, height: 844 });
    const { scrollWidth, innerWidth } = await page.evaluate(() => ({
      scrollWidth: document.documentElement.scrollWidth,
      innerWidth: window.innerWidth,
    }));
    expect(innerWidth).toBe(width);
    expect(scrollWidth).toBeLessThanOrEqual(innerWidth);
  }
}

/** Every visible button and text field inside `selector` is at least 44 px tall. */
async function expectTouchTargets(page: Page, selector: string) {
  const heights = await page.$$eval(
    `${selector} button, ${selector} input:not([type=hidden]):not([hidden])`,
    (els) =>
      els
        .filter((el) => (el as HTMLElement).offsetParent !== null)
        .map((el) => el.getBoundingClientRect().height),
  );
  expect(heights.length).toBeGreaterThan(0);
  for (const h of heights) expect(h).toBeGreaterThanOrEqual(44);
}

/**
 * Opens the development mailbox until `count` mails to `email` carry a link to `path`, checks
 * the mailbox fits the phone, and follows the newest such link by clicking it.
 */
async function followMailboxLink(page: Page, email: string, path: string, count = 1) {
  const mails = page
    .locator("article.mail")
    .filter({ hasText: `To ${email}` })
    .filter({ has: page.locator(`a[href*="${path}#token="]`) });
  await expect
    .poll(
      async () => {
        await page.goto(`${w.base}/sandbox/mail`);
        return mails.count();
      },
      { timeout: 15_000, interval: 250 },
    )
    .toBe(count);
  await expectNoSidewaysScroll(page);
  // Newest first: the first such mail holds the link that works.
  const link = mails.first().locator(`a[href*="${path}#token="]`);
  expect(await link.getAttribute("href")).toMatch(
    new RegExp(`^${escapeRegExp(w.origin)}${escapeRegExp(path)}#token=`),
  );
  await link.click();
  await page.waitForURL(`**${path}*`);
}

/** Waits until the page's notice (or error) line shows `text`. */
async function shows(page: Page, which: "notice" | "error", text: string) {
  await page.locator(`#${which}`, { hasText: text }).waitFor();
}

/** Ages the user's sessions past the 5-minute step-up window, so a change asks again. */
async function staleStepUp(email: string) {
  const client = new pg.Client({ connectionString: w.db.url });
  await client.connect();
  try {
    await client.query(
      `update sessions set step_up_at = now() - interval '10 minutes'
        where user_id = (select id from users where email = $1)`,
      [email],
    );
  } finally {
    await client.end();
  }
}

async function login(email: string, password: string) {
  const res = await fetch(`${w.base}/api/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-forwarded-for": "203.0.113.77" },
    body: JSON.stringify({ email, password }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe("onboarding on the settings page at 390×844", () => {
  it("when a new user creates an account, confirms it from the development mailbox, turns on 2FA, links Telegram, changes the password, resets it from the mailbox link and signs out everywhere, then each step works, no screen scrolls sideways and a missing page is an HTML 404", async () => {
    const email = `new-${randomBytes(4).toString("hex")}@example.com`;
    const first = `first pass ${randomBytes(6).toString("hex")}`;
    const second = `second pass ${randomBytes(6).toString("hex")}`;
    const third = `third pass ${randomBytes(6).toString("hex")}`;
    const context = await newContext(browser);
    const page = await context.newPage();
    await page.setViewportSize({ width: 390, height: 844 });
    try {
      // ---- create an account ----
      await page.goto(`${w.base}/settings`);
      await page.locator("#signin-form").waitFor();
      await expectNoSidewaysScroll(page);
      await page.getByRole("button", { name: "Create an account" }).click();
      await page.locator("#register-form").waitFor();
      await expectTouchTargets(page, "#register-form");
      const register = async (password: string) => {
        await page.fill("#register-form input[name=email]", email);
        await page.fill("#register-form input[name=password]", password);
        await page.click("#register-form button[type=submit]");
      };
      await register("short");
      await shows(page, "error", "Password must be at least 8 characters.");
      await register("password123");
      await shows(page, "error", "known data breaches (breached 1,000 times)");
      await expectNoSidewaysScroll(page);
      await register(first);
      await shows(page, "notice", "Check your mail");
      expect(await page.isVisible("#signin-form")).toBe(true);
      await expectNoSidewaysScroll(page);

      // Not confirmed yet: sign-in is refused and offers a new link.
      await page.fill("#signin-form input[name=password]", first);
      await page.click("#signin-form button[type=submit]");
      await page.locator("#resend-form").waitFor();
      await expectTouchTargets(page, "#resend-form");
      await page.click("#resend-form button[type=submit]");
      await shows(page, "notice", "a new link is on its way");

      // ---- confirm the address from the development mailbox ----
      // The resent link replaces the first one: the newest mail is the one that works.
      await followMailboxLink(page, email, "/confirm-email", 2);
      await page.getByRole("button", { name: "Confirm my address" }).click();
      await page.getByText("Email address confirmed. You can sign in now.").waitFor();
      await expectNoSidewaysScroll(page);

      // ---- sign in: the account section shows the confirmed address ----
      await page.goto(`${w.base}/settings`);
      await page.fill("#signin-form input[name=email]", email);
      await page.fill("#signin-form input[name=password]", first);
      await page.click("#signin-form button[type=submit]");
      await page.locator("#app-view").waitFor();
      await page.getByText(`${email} is confirmed.`).waitFor();
      expect(await page.isVisible("#email-resend")).toBe(false);
      await expectNoSidewaysScroll(page);
      await expectTouchTargets(page, "#account");

      // ---- turn on 2FA ----
      await page.click("#totp-enrol");
      await page.locator("#totp-enrolment").waitFor();
      const secret = (await page.textContent("#totp-secret"))?.trim() ?? "";
      expect(secret).toMatch(/^[A-Z2-7]{16,}$/);
      await expectNoSidewaysScroll(page);
      const step = Math.floor(Date.now() / 30_000);
      await page.fill("#totp-confirm-form input[name=code]", totpAt(secret, step));
      await page.click("#totp-confirm-form button[type=submit]");
      await page.locator("#backup-codes").waitFor();
      await expectNoSidewaysScroll(page);
      const backupCodes = await page.$$eval("#backup-code-list li", (lis) =>
        lis.map((li) => li.textContent ?? ""),
      );
      expect(backupCodes.length).toBeGreaterThan(0);
      await page.click("#backup-codes-done");
      await page.locator("#totp-status", { hasText: "Two-factor authentication is on." }).waitFor();

      // ---- link Telegram ----
      await page.getByRole("button", { name: "Get a link code" }).click();
      await page.locator("#telegram-code-box").waitFor();
      const startText = (await page.textContent("#telegram-start-text")) ?? "";
      const webCode = /^\/start (\S+)$/.exec(startText)?.[1];
      expect(webCode).toBeDefined();
      expect(await page.getAttribute("#telegram-deep-link", "href")).toBe(
        `https://t.me/warden_emulator_bot?start=${webCode}`,
      );
      await expectNoSidewaysScroll(page);
      const user = tg.user({ id: 5_550_001, first_name: "New" });
      user.sendText("/link");
      const reply = await user.waitForBotMessage(
        (m) => (m.text ?? "").includes("enter this code"),
        15_000,
      );
      const botCode = (reply.text ?? "").trim().split("\n").at(-1)!.trim();
      await page.fill("#telegram-link-form input[name=code]", botCode);
      await page.click("#telegram-link-form button[type=submit]");
      await shows(page, "notice", "Telegram is linked.");
      expect(await page.textContent("#telegram-status")).toContain("Telegram is linked");
      expect(await page.isVisible("#telegram-link")).toBe(false);
      const linked = new pg.Client({ connectionString: w.db.url });
      await linked.connect();
      try {
        const row = await linked.query("select telegram_user_id from users where email = $1", [
          email,
        ]);
        expect(String(row.rows[0]?.telegram_user_id)).toBe("5550001");
      } finally {
        await linked.end();
      }
      await expectNoSidewaysScroll(page);

      // ---- change the password: with 2FA on, the step-up asks for password and code ----
      await staleStepUp(email);
      await page.fill("#password-change-form input[name=currentPassword]", first);
      await page.fill("#password-change-form input[name=newPassword]", second);
      await page.click("#password-change-form button[type=submit]");
      await page.locator("#step-up").waitFor();
      expect(await page.isVisible("#step-up-code")).toBe(true);
      await expectNoSidewaysScroll(page);
      await page.fill("#step-up-form input[name=password]", first);
      await page.fill(
        "#step-up-form input[name=code]",
        totpAt(secret, Math.max(step + 1, Math.floor(Date.now() / 30_000))),
      );
      await page.click("#step-up-form button[type=submit]");
      await shows(page, "notice", "Password changed. Every other session is signed out.");
      expect((await login(email, first)).status).toBe(401);
      expect((await login(email, second)).body.challenge).toEqual(expect.any(String));
      // The page goes on in its fresh session.
      await page.reload();
      await page.locator("#app-view").waitFor();

      // ---- forgot password: request, mail, /reset-password ----
      await page.click("#sign-out");
      await page.locator("#signin-form").waitFor();
      await page.getByRole("button", { name: "Forgot password?" }).click();
      await page.locator("#forgot-form").waitFor();
      await expectTouchTargets(page, "#forgot-form");
      await expectNoSidewaysScroll(page);
      await page.fill("#forgot-form input[name=email]", email);
      await page.click("#forgot-form button[type=submit]");
      await shows(page, "notice", "If an account uses this email, a reset link is on its way.");
      await followMailboxLink(page, email, "/reset-password");
      await page.locator("#reset-form").waitFor();
      await expectNoSidewaysScroll(page);
      await page.fill("#reset-form input[name=password]", third);
      await page.click("#reset-form button[type=submit]");
      await shows(page, "notice", "Password changed. Sign in with your new password.");
      expect((await login(email, second)).status).toBe(401);

      // ---- sign in with the new password and the code, then sign out everywhere ----
      await page.goto(`${w.base}/settings`);
      await page.fill("#signin-form input[name=email]", email);
      await page.fill("#signin-form input[name=password]", third);
      await page.click("#signin-form button[type=submit]");
      await page.locator("#second-factor-form").waitFor();
      // A backup code: the authenticator's next code may not have come round yet.
      await page.fill("#second-factor-form input[name=code]", backupCodes[0]!);
      await page.click("#second-factor-form button[type=submit]");
      await page.locator("#app-view").waitFor();
      await expectNoSidewaysScroll(page);
      page.once("dialog", (d) => void d.accept());
      await page.click("#revoke-all");
      await shows(page, "notice", "Every session is signed out.");
      await page.locator("#signin-form").waitFor();
      await expectNoSidewaysScroll(page);
      // Nothing signs this browser back in.
      await page.reload();
      await page.locator("#signin-form").waitFor();
      expect(await page.isVisible("#app-view")).toBe(false);
      expect(await violations(page)).toEqual([]);

      // ---- a page that does not exist: a small HTML page, not JSON ----
      const missing = await page.goto(`${w.base}/no-such-page`);
      expect(missing?.status()).toBe(404);
      expect(missing?.headers()["content-type"]).toMatch(/^text\/html/);
      await page.getByRole("heading", { name: "Page not found" }).waitFor();
      await expectNoSidewaysScroll(page);
      expect(await violations(page)).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it("when the user sends the bot the /start text the page shows and says yes, then Telegram is linked and the page says so after a reload", async () => {
    const email = `deep-${randomBytes(4).toString("hex")}@example.com`;
    const password = `deep pass ${randomBytes(6).toString("hex")}`;
    const post = (path: string, body: unknown) =>
      fetch(`${w.base}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-forwarded-for": "203.0.113.78" },
        body: JSON.stringify(body),
      });
    expect((await post("/api/auth/register", { email, password })).status).toBe(202);

    const context = await newContext(browser);
    const page = await context.newPage();
    await page.setViewportSize({ width: 390, height: 844 });
    try {
      await followMailboxLink(page, email, "/confirm-email");
      await page.getByRole("button", { name: "Confirm my address" }).click();
      await page.getByText("Email address confirmed. You can sign in now.").waitFor();
      await page.goto(`${w.base}/settings`);
      await page.fill("#signin-form input[name=email]", email);
      await page.fill("#signin-form input[name=password]", password);
      await page.click("#signin-form button[type=submit]");
      await page.locator("#app-view").waitFor();
      await page.locator("#telegram-status", { hasText: "Telegram is not linked yet." }).waitFor();
      await page.getByRole("button", { name: "Get a link code" }).click();
      await page.locator("#telegram-code-box").waitFor();
      const startText = (await page.textContent("#telegram-start-text")) ?? "";
      expect(startText).toMatch(/^\/start \S+$/);
      await expectNoSidewaysScroll(page);

      const user = tg.user({ id: 5_550_002, first_name: "Deep" });
      user.sendText(startText);
      const question = await user.waitForBotMessage(
        (m) => (m.text ?? "").startsWith("Link this Telegram account"),
        15_000,
      );
      // The address is masked in the chat; the code is never echoed back.
      expect(question.text).not.toContain(email);
      expect(question.text).not.toContain(startText.slice(7));
      user.pressButton(question.message_id, LINK_YES);
      await user.waitForBotMessage((m) => (m.text ?? "").includes("is now linked"), 15_000);

      await page.reload();
      await page.locator("#telegram-status", { hasText: "Telegram is linked" }).waitFor();
      expect(await page.isVisible("#telegram-link")).toBe(false);
      expect(await violations(page)).toEqual([]);
    } finally {
      await context.close();
    }
  });
  it("when a signed-in user changes the address on the settings page, then a step-up is asked, the page shows the new address waiting while the old stays in use, the old address is told, and the mailbox link makes the new one the confirmed address and ends the sessions", async () => {
    const email = `old-${randomBytes(4).toString("hex")}@example.com`;
    const next = `new-${randomBytes(4).toString("hex")}@example.com`;
    const password = `change pass ${randomBytes(6).toString("hex")}`;
    const res = await fetch(`${w.base}/api/auth/register`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-forwarded-for": "203.0.113.79" },
      body: JSON.stringify({ email, password }),
    });
    expect(res.status).toBe(202);

    const context = await newContext(browser);
    const page = await context.newPage();
    await page.setViewportSize({ width: 390, height: 844 });
    try {
      await followMailboxLink(page, email, "/confirm-email");
      await page.getByRole("button", { name: "Confirm my address" }).click();
      await page.getByText("Email address confirmed. You can sign in now.").waitFor();
      await page.goto(`${w.base}/settings`);
      await page.fill("#signin-form input[name=email]", email);
      await page.fill("#signin-form input[name=password]", password);
      await page.click("#signin-form button[type=submit]");
      await page.getByText(`${email} is confirmed.`).waitFor();
      await expectTouchTargets(page, "#email-change-form");

      // ---- change: the step-up asks for the password first ----
      await staleStepUp(email);
      await page.fill("#email-change-form input[name=email]", next);
      await page.click("#email-change-form button[type=submit]");
      await page.locator("#step-up").waitFor();
      await page.fill("#step-up-form input[name=password]", password);
      await page.click("#step-up-form button[type=submit]");
      await shows(page, "notice", "Until then your current address stays in use.");
      await page
        .locator("#email-pending", {
          hasText: `${next} is waiting for confirmation: open the link we sent there. Until then ${email} stays in use.`,
        })
        .waitFor();
      expect(await page.textContent("#email-status")).toBe(`${email} is confirmed.`);
      expect(await page.isVisible("#email-resend")).toBe(true);
      await expectNoSidewaysScroll(page);
      expect((await login(next, password)).status).toBe(401);

      // ---- the old address is told (in the mailbox), the new one confirms from its link ----
      await page.goto(`${w.base}/sandbox/mail`);
      await page
        .locator("article.mail")
        .filter({ hasText: `To ${email}` })
        .filter({ hasText: "The email address of your Warden account is changing" })
        .first()
        .waitFor();
      await followMailboxLink(page, next, "/confirm-email");
      await page.getByRole("button", { name: "Confirm my address" }).click();
      await page.getByText("Email address confirmed. You can sign in now.").waitFor();
      expect((await login(email, password)).status).toBe(401);
      expect((await login(next, password)).status).toBe(200);

      // A completed change ends every session (a stolen one must not outlive it): the page
      // signs in again, with the new address, and the old address was told it changed.
      await page.goto(`${w.base}/sandbox/mail`);
      await page
        .locator("article.mail")
        .filter({ hasText: `To ${email}` })
        .filter({ hasText: "The email address of your Warden account was changed" })
        .first()
        .waitFor();
      await page.goto(`${w.base}/settings`);
      await page.locator("#signin-form").waitFor();
      await page.fill("#signin-form input[name=email]", next);
      await page.fill("#signin-form input[name=password]", password);
      await page.click("#signin-form button[type=submit]");
      await page.getByText(`${next} is confirmed.`).waitFor();
      expect(await page.isVisible("#email-pending")).toBe(false);
      expect(await page.isVisible("#email-resend")).toBe(false);
      await expectNoSidewaysScroll(page);
      expect(await violations(page)).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
