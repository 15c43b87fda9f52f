// The settings page's linked Telegram account in headless Chromium (issue 15): after a real link
// through the bot (Telegram emulator), the page names the account, its id and when it was
// linked; "Unlink Telegram" asks for a step-up, does nothing when that is cancelled, and unlinks
// once the password is given.
import { randomBytes } from "node:crypto";
import pg from "pg";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as t from "../../src/bot/texts";
import { launchBrowser, newContext, violations } from "../support/browser";
import { confirmationToken } from "../support/email-confirmation";
import { startTelegramEmulator, type TelegramEmulator } from "../support/telegram";
import { startTestWarden, type TestWarden } from "../support/warden-harness";

let tg: TelegramEmulator;
let w: TestWarden;
let db: pg.Client;
let browser: Browser;

beforeAll(async () => {
  tg = await startTelegramEmulator();
  w = await startTestWarden({
    roles: ["api", "worker", "bot", "signer"],
    env: {
      TELEGRAM_BOT_TOKEN: tg.token,
      TELEGRAM_API_ROOT: tg.apiRoot,
      TRUSTED_PROXIES: "127.0.0.1",
    },
  });
  db = new pg.Client({ connectionString: w.db.url });
  await db.connect();
  browser = await launchBrowser();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await db?.end();
  await w?.stop();
  await tg?.close();
});

async function api(method: string, path: string, body?: unknown, token?: string) {
  const res = await fetch(`${w.base}${path}`, {
    method,
    headers: {
      "content-type": "application/json",
      "x-forwarded-for": "203.0.113.61",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
}

const linkedTelegramId = async (email: string) =>
  (await db.query("select telegram_user_id from users where email = $1", [email])).rows[0]
    .telegram_user_id as string | null;

describe("settings page: the linked Telegram account", () => {
  it("when a Telegram account is linked, then the page shows its name, id and link time; Unlink asks for a step-up, a cancel keeps the link, the password unlinks it", async () => {
    const email = `linked-${randomBytes(3).toString("hex")}@example.com`;
    const password = "a long and unbreached passphrase 15";
    expect((await api("POST", "/api/auth/register", { email, password })).status).toBe(202);
    const confirm = await confirmationToken(w.smtp, email);
    expect((await api("POST", "/api/auth/email/confirm", { token: confirm })).status).toBe(200);
    const token = (await api("POST", "/api/auth/login", { email, password })).body
      .accessToken as string;
    expect((await api("POST", "/api/auth/step-up", { password }, token)).status).toBe(200);
    const { code } = (await api("POST", "/api/auth/telegram/link-code", {}, token)).body as {
      code: string;
    };
    const before = Date.now();
    const user = tg.user({ id: 4_550_001, first_name: "Tess", username: "tess_tg" });
    user.sendText(`/start ${code}`);
    const question = await user.waitForBotMessage();
    user.pressButton(question.message_id, "link:yes");
    expect((await user.waitForBotMessage()).text).toBe(t.LINKED);
    expect(await linkedTelegramId(email)).toBe("4550001");

    const context = await newContext(browser, {
      extraHTTPHeaders: { "x-forwarded-for": "203.0.113.62" },
    });
    const page = await context.newPage();
    await page.goto(`${w.base}/settings`);
    await page.locator("#signin-form").waitFor();
    await page.fill("#signin-form input[name=email]", email);
    await page.fill("#signin-form input[name=password]", password);
    await page.click("#signin-form button[type=submit]");
    await page.locator("#app-view").waitFor();

    await page.locator("#telegram-linked").waitFor();
    expect(await page.textContent("#telegram-linked-name")).toBe("@tess_tg");
    expect(await page.textContent("#telegram-linked-id")).toBe("4550001");
    const at = (await page.textContent("#telegram-linked-at")) ?? "";
    expect(at).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d UTC$/);
    const shown = Date.parse(`${at.replace(" UTC", "").replace(" ", "T")}:00Z`);
    expect(shown).toBeGreaterThanOrEqual(Math.floor(before / 60_000) * 60_000);
    expect(shown).toBeLessThanOrEqual(Date.now());
    expect(await page.isVisible("#telegram-link")).toBe(false);

    // The sign-in's password check is a step-up for 5 minutes: aged past them, Unlink asks for
    // the password again; cancelled, nothing changes.
    await db.query(
      `update sessions set step_up_at = now() - interval '10 minutes'
       where user_id = (select id from users where email = $1)`,
      [email],
    );
    await page.click("#telegram-unlink");
    await page.locator("#step-up").waitFor();
    await page.click("#step-up-cancel");
    await page.locator("#step-up").waitFor({ state: "hidden" });
    expect(await linkedTelegramId(email)).toBe("4550001");
    expect(await page.isVisible("#telegram-linked")).toBe(true);

    // With the password: unlinked, and the page offers a fresh link instead.
    await page.click("#telegram-unlink");
    await page.locator("#step-up").waitFor();
    await page.fill("#step-up-form input[name=password]", password);
    await page.click("#step-up-form button[type=submit]");
    await page.locator("#telegram-link").waitFor();
    expect(await page.textContent("#telegram-status")).toBe("Telegram is not linked yet.");
    expect(await page.isVisible("#telegram-linked")).toBe(false);
    expect(await linkedTelegramId(email)).toBeNull();
    const { rows } = await db.query(
      `select e.details ->> 'reason' as reason from security_events e join users u on u.id = e.user_id
       where u.email = $1 and e.kind = 'telegram_unlinked'`,
      [email],
    );
    expect(rows).toEqual([{ reason: "unlinked_on_web" }]);
    expect(await violations(page)).toEqual([]);
    await context.close();
  }, 90_000);
});
