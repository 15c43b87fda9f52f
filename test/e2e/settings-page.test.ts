// The settings page in headless Chromium against the running service (api + worker) and a fake
// Bybit: password + TOTP sign-in, 2FA enrolment from scratch, a key added masked and revoked, a
// live alert over the WebSocket ticket flow, no CSP violation on any page, an HttpOnly refresh
// cookie, and a cross-site refresh that fails.
import { createHmac, randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Redis } from "ioredis";
import pg from "pg";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchBrowser, newContext, violations } from "../support/browser";
import { confirmationToken } from "../support/email-confirmation";
import { roomInStep, stepNow, totpAt } from "../support/totp";
import {
  BYBIT_TRADE_ONLY_QUERY_API,
  type FakeBybit,
  startFakeBybit,
} from "../support/venues/bybit";
import { startTestWarden, type TestWarden } from "../support/warden-harness";

const isReset = (m: { text: string }) => m.text.includes("/reset-password#token=");

/** Waits for a page or service state (bounded, never asserting how long it took). */
const poll = <T>(fn: () => T | Promise<T>) => expect.poll(fn, { timeout: 15_000, interval: 50 });

const hex = (n: number) => randomBytes(n).toString("hex");
const bybitKey = { apiKey: `BG${hex(9)}`, secret: `BS${hex(18)}` };
const rotateFrom = { apiKey: `BR${hex(9)}`, secret: `BQ${hex(18)}` };
const rotateTo = { apiKey: `BN${hex(9)}`, secret: `BM${hex(18)}` };
const COOKIE = "__Secure-warden_refresh";
const BOT_TOKEN = `7000000001:AA${hex(16)}`;

let w: TestWarden;
let bybit: FakeBybit;
let browser: Browser;
let evil: Server;
let evilOrigin: string;

interface LogEntry {
  msg?: string;
  csp?: Record<string, unknown>;
}
const cspReports = () =>
  w.logs.lines
    .map((l) => JSON.parse(l) as LogEntry)
    .filter((e) => e.msg === "csp violation reported");

let ipCounter = 0;
/**
 * A client address of its own (TEST-NET-3) through the trusted loopback proxy, so the per-IP
 * limits on registration and login are not all spent on 127.0.0.1.
 */
function freshIp(): string {
  ipCounter += 1;
  return `203.0.113.${ipCounter % 250}`;
}

/** Waits until the TOTP step after `step` has begun, so codes up to step + 2 are accepted. */
async function nextStepBegun(step: number): Promise<void> {
  while (stepNow() <= step) await new Promise((r) => setTimeout(r, 250));
}

/** Answers the page's step-up dialog (a sign-in with 2FA is not a step-up by itself). */
async function answerStepUp(page: Page, password: string, code: string): Promise<void> {
  await page.locator("#step-up-form").waitFor();
  await page.fill("#step-up-form input[name=password]", password);
  await page.fill("#step-up-form input[name=code]", code);
  await page.click("#step-up-form button[type=submit]");
}

async function api(path: string, body?: unknown, token?: string, method = "POST") {
  const res = await fetch(`${w.base}${path}`, {
    method,
    headers: {
      "content-type": "application/json",
      "x-forwarded-for": freshIp(),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return {
    status: res.status,
    // biome-ignore lint/suspicious/noExplicitAny: response bodies are asserted field by field
    body: (text ? JSON.parse(text) : {}) as Record<string, any>,
  };
}

async function register(tag: string) {
  const user = { email: `${tag}-${hex(4)}@example.com`, password: `pw-${hex(12)}` };
  expect((await api("/api/auth/register", user)).status).toBe(202);
  const token = await confirmationToken(w.smtp, user.email);
  expect((await api("/api/auth/email/confirm", { token })).status).toBe(200);
  return user;
}

/** A user with TOTP enrolled through the API; the confirmation used the previous step's code. */
async function registerWithTotp(tag: string) {
  const user = await register(tag);
  const token = (await api("/api/auth/login", user)).body.accessToken as string;
  expect((await api("/api/auth/step-up", { password: user.password }, token)).status).toBe(200);
  const secret = (await api("/api/auth/2fa/enroll", {}, token)).body.secret as string;
  // The previous step's code is accepted only while the server is still in this step.
  const step = await roomInStep(10_000);
  const confirm = await api("/api/auth/2fa/confirm", { code: totpAt(secret, step - 1) }, token);
  expect(confirm.status).toBe(200);
  return { ...user, secret, step, backupCodes: confirm.body.backupCodes as string[] };
}

/** Telegram's initData signature, written out independently of the service (S6.2). */
function signedInitData(user: object, botToken = BOT_TOKEN): string {
  const pairs: Array<[string, string]> = [
    ["auth_date", String(Math.floor(Date.now() / 1000))],
    ["query_id", `AAH${hex(8)}`],
    ["user", JSON.stringify(user)],
  ];
  const secret = createHmac("sha256", "WebAppData").update(botToken).digest();
  const check = pairs
    .map(([k, v]) => `${k}=${v}`)
    .sort()
    .join("\n");
  const hash = createHmac("sha256", secret).update(check).digest("hex");
  return new URLSearchParams([...pairs, ["hash", hash]]).toString();
}

async function signIn(page: Page, user: { email: string; password: string }) {
  await page.goto(`${w.base}/settings`);
  await page.locator("#signin-form").waitFor();
  await page.fill("#signin-form input[name=email]", user.email);
  await page.fill("#signin-form input[name=password]", user.password);
  await page.click("#signin-form button[type=submit]");
}

/** Signs in in a fresh context; `proxied` sends its requests from a fresh IP of its own. */
async function signedInPage(user: { email: string; password: string }, proxied = true) {
  const context = await newContext(
    browser,
    proxied ? { extraHTTPHeaders: { "x-forwarded-for": freshIp() } } : {},
  );
  const page = await context.newPage();
  await signIn(page, user);
  await page.locator("#app-view").waitFor();
  return { context, page };
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

async function expectNoViolations(page: Page) {
  expect(await violations(page)).toEqual([]);
}

/** A query as the test database's owner (seeding and reading what the page changed). */
async function ownerQuery(text: string, params: unknown[] = []) {
  const client = new pg.Client({ connectionString: w.db.url });
  await client.connect();
  try {
    return (await client.query(text, params)).rows;
  } finally {
    await client.end();
  }
}

async function userIdOf(email: string): Promise<string> {
  const [row] = await ownerQuery("select id::text as id from users where email = $1", [email]);
  return row!.id as string;
}

/** A finding as the scan records it, already delivered (so no dispatch picks it up). */
async function seedFinding(
  userId: string,
  rule: "rapid_fire" | "new_ip" | "new_symbol",
  evidence: object,
  at: string,
): Promise<string> {
  const [row] = await ownerQuery(
    `insert into anomalies (user_id, rule, window_start, window_end, evidence, created_at, alert, delivery)
     values ($1, $2, $3::timestamptz - interval '2 minutes', $3::timestamptz - interval '1 minute',
       $4::jsonb, $3::timestamptz, true, 'delivered')
     returning id::text as id`,
    [userId, rule, at, JSON.stringify(evidence)],
  );
  return row!.id as string;
}

const RAPID_FIRE = { opens: 12, threshold: 10, windowMinutes: 5 };
const NEW_IP = { lookbackDays: 30, count: 1, ips: [{ ip: "198.51.100.9" }] };
const NEW_COIN = { count: 1, coins: [{ coin: "PEPE", symbol: "PEPE/USDT:USDT" }] };

beforeAll(async () => {
  bybit = await startFakeBybit({
    keys: Object.fromEntries(
      [bybitKey, rotateFrom, rotateTo].map((k) => [
        k.apiKey,
        { secret: k.secret, queryApi: BYBIT_TRADE_ONLY_QUERY_API },
      ]),
    ),
  });
  // The bot token signs Mini App initData; this file runs no bot (api and worker roles).
  w = await startTestWarden({
    env: {
      VENUE_URL_BYBIT: bybit.url,
      TELEGRAM_BOT_TOKEN: BOT_TOKEN,
      TRUSTED_PROXIES: "127.0.0.1",
    },
  });
  browser = await launchBrowser();
  // Another site (localhost is not 127.0.0.1's site) whose page posts to Warden's refresh URL.
  evil = createServer((req, res) => {
    res.setHeader("content-type", "text/html");
    const frame = /^\/frame\?path=(.+)$/.exec(req.url ?? "");
    if (frame)
      return void res.end(`<iframe src="${w.base}${decodeURIComponent(frame[1]!)}"></iframe>`);
    if (req.url !== "/") return void res.end("<p>another site</p>");
    res.end(
      `<form id="f" method="POST" action="${w.base}/api/auth/refresh"></form>` +
        `<script>document.getElementById("f").submit()</script>`,
    );
  });
  await new Promise<void>((r) => evil.listen(0, "127.0.0.1", () => r()));
  evilOrigin = `http://localhost:${(evil.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await browser?.close();
  await new Promise((r) => evil?.close(r));
  await w?.stop();
  await bybit?.close();
});

describe("settings page in Chromium", () => {
  it("when a user signs in with password and then a TOTP code, then the settings are shown and no CSP violation occurs", async () => {
    const user = await registerWithTotp("totp-login");
    const context = await newContext(browser);
    const page = await context.newPage();
    await signIn(page, user);
    await page.locator("#second-factor-form").waitFor();
    await page.fill("#second-factor-form input[name=code]", totpAt(user.secret, user.step));
    await page.click("#second-factor-form button[type=submit]");
    await page.locator("#app-view").waitFor();
    await poll(() => page.textContent("#whoami")).toBe(user.email);
    expect(await page.textContent("#totp-status")).toBe("Two-factor authentication is on.");
    await expectNoViolations(page);
    await context.close();
  });

  it("when the second factor is wrong, then the page says so and stays signed out", async () => {
    const user = await registerWithTotp("totp-wrong");
    const context = await newContext(browser);
    const page = await context.newPage();
    await signIn(page, user);
    await page.locator("#second-factor-form").waitFor();
    const wrong = totpAt(user.secret, user.step + 5);
    await page.fill("#second-factor-form input[name=code]", wrong);
    await page.click("#second-factor-form button[type=submit]");
    await page.locator("#error").waitFor();
    expect(await page.isVisible("#app-view")).toBe(false);
    expect((await context.cookies()).find((c) => c.name === COOKIE)).toBeUndefined();
    await context.close();
  });

  it("when a user enrols 2FA from scratch, then the QR secret read from the page confirms it and 10 backup codes are shown once", async () => {
    const user = await register("enrol");
    const { context, page } = await signedInPage(user);
    // A fresh sign-in counts as the step-up enrolment needs.
    await page.locator("#totp-enrol").click();
    await page.locator("#totp-enrolment").waitFor();
    expect(await page.getAttribute("#totp-qr", "src")).toMatch(/^data:image\/png;base64,/);
    const secret = (await page.textContent("#totp-secret"))?.trim() ?? "";
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    await page.fill("#totp-confirm-form input[name=code]", totpAt(secret, stepNow()));
    await page.click("#totp-confirm-form button[type=submit]");
    await page.locator("#backup-codes").waitFor();
    const codes = await page.locator("#backup-code-list li").allTextContents();
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    await poll(() => page.textContent("#totp-status")).toBe("Two-factor authentication is on.");
    expect(await page.textContent("#totp-secret")).toBe("");
    await page.click("#backup-codes-done");
    expect(await page.locator("#backup-code-list li").count()).toBe(0);

    // The account now asks for a second factor, and a backup code works once.
    const login = await api("/api/auth/login", user);
    expect(login.body.challenge).toEqual(expect.any(String));
    const second = await api("/api/auth/login/2fa", {
      challenge: login.body.challenge,
      code: codes[0],
    });
    expect(second.status).toBe(200);
    await expectNoViolations(page);
    await context.close();
  });

  it("when a key is added through the form against the fake venue, then it is listed masked with its scopes and can be revoked", async () => {
    const user = await register("keys");
    const { context, page } = await signedInPage(user);
    await staleStepUp(user.email);
    await page.selectOption("#key-form select[name=venue]", "bybit");
    await page.fill("#key-form input[name=label]", "main");
    await page.fill("#key-form input[name=apiKey]", bybitKey.apiKey);
    await page.fill("#key-form input[name=secret]", bybitKey.secret);
    await page.click("#key-submit");
    await page.locator("#step-up").waitFor();
    await page.fill("#step-up-form input[name=password]", user.password);
    await page.click("#step-up-form button[type=submit]");
    const row = page.locator("#key-rows tr");
    await row.first().waitFor();
    const masked = `${bybitKey.apiKey.slice(0, 4)}…${bybitKey.apiKey.slice(-4)}`;
    expect(await row.locator(".key-hint").textContent()).toBe(masked);
    const text = (await row.textContent()) ?? "";
    expect(text).toContain("bybit");
    expect(text).toContain("main");
    expect(text).toContain("active");
    expect(text).toMatch(/trade/i);
    // The page never shows (or keeps) the secret or the whole key.
    const html = await page.content();
    expect(html).not.toContain(bybitKey.secret);
    expect(html).not.toContain(bybitKey.apiKey);
    expect(await page.inputValue("#key-form input[name=secret]")).toBe("");
    if (process.env.WARDEN_SCREENSHOTS) {
      await page.setViewportSize({ width: 1100, height: 900 });
      await page.screenshot({ path: "docs/settings.png", fullPage: true });
    }

    page.once("dialog", (d) => void d.accept());
    await row.locator("button", { hasText: "Revoke" }).click();
    await page.locator("#keys-empty").waitFor();
    expect(await page.locator("#key-rows tr").count()).toBe(0);
    const token = (await api("/api/auth/login", user)).body.accessToken as string;
    const keys = (await api("/api/keys", undefined, token, "GET")).body.keys as Array<{
      status: string;
    }>;
    expect(keys.map((k) => k.status)).toEqual(["revoked"]);
    await expectNoViolations(page);
    await context.close();
  });

  it("when a key that can withdraw is refused by the venue check, then the page shows the refusal and lists nothing", async () => {
    const user = await register("keys-bad");
    const { context, page } = await signedInPage(user);
    await staleStepUp(user.email);
    await page.selectOption("#key-form select[name=venue]", "bybit");
    await page.fill("#key-form input[name=apiKey]", `BZ${hex(9)}`);
    await page.fill("#key-form input[name=secret]", `BY${hex(18)}`);
    await page.click("#key-submit");
    await page.locator("#step-up").waitFor();
    await page.fill("#step-up-form input[name=password]", user.password);
    await page.click("#step-up-form button[type=submit]");
    await page.locator("#error").waitFor();
    expect(await page.textContent("#error")).not.toBe("");
    expect(await page.locator("#key-rows tr").count()).toBe(0);
    await context.close();
  });

  it("when an alert is published to the user through the hub, then it appears live on the page", async () => {
    const user = await register("alerts");
    const { context, page } = await signedInPage(user);
    await poll(() => page.textContent("#live-status")).toBe("live");
    const token = (await api("/api/auth/login", user)).body.accessToken as string;
    const me = (await api("/api/auth/me", undefined, token, "GET")).body.user as { id: string };
    const publisher = new Redis(w.redis.url);
    try {
      await publisher.publish(
        `${w.redis.prefix}ws:events`,
        JSON.stringify({
          userId: Number(me.id),
          event: {
            type: "alert",
            rule: "new_ip",
            message: "A trade came from 203.0.113.9, an address not seen in 30 days.",
            createdAt: "2026-01-02T03:04:05.000Z",
          },
        }),
      );
    } finally {
      publisher.disconnect();
    }
    const item = page.locator("#live-alerts li");
    await item.first().waitFor();
    expect(await item.textContent()).toBe(
      "New IP address A trade came from 203.0.113.9, an address not seen in 30 days.2026-01-02 03:04:05Z",
    );
    expect(await page.isVisible("#live-alerts-empty")).toBe(false);
    await expectNoViolations(page);
    await context.close();
  });

  it("when a signed-in page runs, then the refresh cookie is HttpOnly, Secure, SameSite=Strict and invisible to document.cookie, and a reload stays signed in", async () => {
    const user = await register("cookie");
    const { context, page } = await signedInPage(user);
    const cookie = (await context.cookies()).find((c) => c.name === COOKIE);
    // http://127.0.0.1 is a secure context for Chromium, so the Secure cookie is kept.
    expect(await page.evaluate(() => window.isSecureContext)).toBe(true);
    expect(cookie).toMatchObject({ httpOnly: true, secure: true, sameSite: "Strict" });
    expect(cookie?.path).toBe("/api/auth");
    expect(await page.evaluate(() => document.cookie)).not.toContain(COOKIE);
    // A script-visible cookie proves document.cookie works here, so the check above can fail.
    await page.evaluate(() => {
      // biome-ignore lint/suspicious/noDocumentCookie: the test is about document.cookie itself
      document.cookie = "probe=1; path=/";
    });
    expect(await page.evaluate(() => document.cookie)).toBe("probe=1");
    // Chromium treats http://127.0.0.1 as a secure context and sends the Secure cookie back.
    await page.reload();
    await page.locator("#app-view").waitFor();
    await poll(() => page.textContent("#whoami")).toBe(user.email);
    await context.close();
  });

  it("when another site posts to /api/auth/refresh, then it is refused and the user's session survives", async () => {
    const user = await register("csrf");
    // No extra headers here: the attack's requests must be exactly what the other site sends.
    const { context, page } = await signedInPage(user, false);
    const attack = await context.newPage();
    await attack.goto(`${evilOrigin}/`);
    await attack.waitForURL(`${w.base}/api/auth/refresh`);
    const body = JSON.parse((await attack.textContent("body")) ?? "{}") as { error?: string };
    expect(body.error).toBe("origin_not_allowed");
    expect(body).not.toHaveProperty("accessToken");
    await attack.close();
    // The cookie was not rotated or revoked: the real page still refreshes.
    await page.reload();
    await page.locator("#app-view").waitFor();
    await poll(() => page.textContent("#whoami")).toBe(user.email);
    await context.close();
  });

  it("when a fetch from another origin posts to /api/auth/refresh with credentials, then no token comes back", async () => {
    const user = await register("csrf-fetch");
    const { context, page } = await signedInPage(user, false);
    const attack = await context.newPage();
    await attack.goto(`${evilOrigin}/blank`);
    // Stop the auto-submitting form; run a credentialed cross-origin fetch instead.
    const outcome = await attack.evaluate(async (url) => {
      try {
        const res = await fetch(url, { method: "POST", credentials: "include" });
        return `status ${res.status}`;
      } catch {
        return "blocked";
      }
    }, `${w.base}/api/auth/refresh`);
    expect(outcome).toBe("blocked");
    await attack.close();
    await page.reload();
    await page.locator("#app-view").waitFor();
    await context.close();
  });

  it("when every page is visited after signing in, then no CSP violation is seen by the page or reported to the endpoint", async () => {
    const user = await register("csp");
    const { context, page } = await signedInPage(user);
    await expectNoViolations(page);
    for (const path of ["/security", "/reset-password#token=abc", "/settings/telegram"]) {
      await page.goto(`${w.base}${path}`);
      await page.waitForLoadState("load");
      await expectNoViolations(page);
    }
    expect(cspReports()).toEqual([]);
    await context.close();
  });

  it("when a page breaks its CSP, then the listener sees it and the endpoint logs the report (the checks above can fail)", async () => {
    const context = await newContext(browser);
    const page = await context.newPage();
    await page.goto(`${w.base}/security`);
    await page.evaluate(() => {
      const s = document.createElement("script");
      s.textContent = "window.__injected = true";
      document.body.append(s);
    });
    await poll(async () => (await violations(page)).map((v) => v.directive)).toContain(
      "script-src-elem",
    );
    expect(await page.evaluate(() => "__injected" in window)).toBe(false);
    await expect
      .poll(() => cspReports().map((r) => r.csp?.effectiveDirective), { timeout: 10_000 })
      .toContain("script-src-elem");
    await context.close();
  });

  it("when the Mini App opens with initData signed for the bot, then the page signs in as that Telegram user and drops the fragment", async () => {
    const context = await newContext(browser);
    const page = await context.newPage();
    const initData = signedInitData({ id: 555_000_111, first_name: "Mini", username: "mini_app" });
    await page.goto(
      `${w.base}/settings/telegram#tgWebAppData=${encodeURIComponent(initData)}&tgWebAppVersion=8.0`,
    );
    await page.locator("#app-view").waitFor();
    await poll(() => page.textContent("#whoami")).toBe("Telegram account");
    expect(page.url()).toBe(`${w.base}/settings/telegram`);
    expect(await page.textContent("#totp-status")).toContain("off");
    await poll(() => page.textContent("#live-status")).toBe("live");
    await expectNoViolations(page);
    await context.close();
  });

  it("when the Mini App's initData is signed with another bot's token, then the page stays signed out and says so", async () => {
    const context = await newContext(browser);
    const page = await context.newPage();
    const forged = signedInitData(
      { id: 555_000_222, first_name: "Eve" },
      `7000000002:AA${hex(16)}`,
    );
    await page.goto(`${w.base}/settings/telegram#tgWebAppData=${encodeURIComponent(forged)}`);
    await page.locator("#signin-form").waitFor();
    await page.locator("#error").waitFor();
    expect(await page.isVisible("#app-view")).toBe(false);
    expect((await context.cookies()).find((c) => c.name === COOKIE)).toBeUndefined();
    await context.close();
  });

  it("when another site frames the settings page or the Mini App route, then Chromium refuses to render it", async () => {
    const context = await newContext(browser);
    const page = await context.newPage();
    for (const path of ["/settings", "/settings/telegram", "/security"]) {
      await page.goto(`${evilOrigin}/frame?path=${encodeURIComponent(path)}`);
      const frame = page.frames().find((f) => f !== page.mainFrame());
      expect(frame).toBeDefined();
      // A refused frame shows Chromium's error page instead of ours.
      await poll(() => frame?.url()).toBe("chrome-error://chromewebdata/");
    }
    await context.close();
  });

  it("when the user revokes another session on the page, then it disappears and its token stops working", async () => {
    const user = await register("sessions");
    const other = (await api("/api/auth/login", user)).body.accessToken as string;
    const { context, page } = await signedInPage(user);
    const rows = page.locator("#session-rows tr");
    await poll(() => rows.count()).toBe(2);
    expect(await rows.filter({ hasText: "this browser" }).count()).toBe(1);
    await rows
      .filter({ has: page.locator("button", { hasText: "Revoke" }) })
      .locator("button")
      .click();
    await poll(() => rows.count()).toBe(1);
    expect((await api("/api/auth/sessions", undefined, other, "GET")).status).toBe(401);
    // This browser's own session is untouched.
    await page.reload();
    await page.locator("#app-view").waitFor();
    await context.close();
  });

  it("when the user signs out everywhere, then the page shows the sign-in form and a reload does not sign back in", async () => {
    const user = await register("everywhere");
    const other = (await api("/api/auth/login", user)).body.accessToken as string;
    const { context, page } = await signedInPage(user);
    page.once("dialog", (d) => void d.accept());
    await page.click("#revoke-all");
    await page.locator("#signin-form").waitFor();
    expect((await api("/api/auth/sessions", undefined, other, "GET")).status).toBe(401);
    await page.reload();
    await page.locator("#signin-form").waitFor();
    expect(await page.isVisible("#app-view")).toBe(false);
    await context.close();
  });

  it("when the user signs out, then the refresh cookie is cleared and a reload shows the sign-in form", async () => {
    const user = await register("signout");
    const { context, page } = await signedInPage(user);
    await page.click("#sign-out");
    await page.locator("#signin-form").waitFor();
    expect((await context.cookies()).find((c) => c.name === COOKIE)).toBeUndefined();
    await page.reload();
    await page.locator("#signin-form").waitFor();
    await context.close();
  });

  it("when the user has traded through the API, then the page's audit log lists the entry", async () => {
    const user = await register("audit");
    const token = (await api("/api/auth/login", user)).body.accessToken as string;
    // Step-up is earned in the session, never born with it: connecting a key needs one.
    expect((await api("/api/auth/step-up", { password: user.password }, token)).status).toBe(200);
    expect((await api("/api/keys", { venue: "paper" }, token)).status).toBe(201);
    const opened = await api(
      "/api/trades",
      { confirm: true, symbol: "BTC", side: "long", size: 0.01 },
      token,
    );
    expect(opened.status).toBe(201);
    const { context, page } = await signedInPage(user);
    const row = page.locator("#audit-rows tr");
    await row.first().waitFor();
    expect(await row.count()).toBe(1);
    expect(await row.locator("td").allTextContents()).toEqual([
      expect.stringMatching(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/),
      "open",
      "paper",
      "BTC/USDT:USDT",
      "ok",
      "api",
    ]);
    expect(await page.isVisible("#audit-empty")).toBe(false);
    await context.close();
  });

  it("when the user follows the reset link, then the page takes the token from the fragment, sends no Referer and sets the new password", async () => {
    const user = await register("reset");
    expect((await api("/api/auth/password/reset/request", { email: user.email })).status).toBe(202);
    await expect
      .poll(() => w.smtp.messages.some((m) => m.to.includes(user.email) && isReset(m)), {
        timeout: 15_000,
      })
      .toBe(true);
    const mail = w.smtp.messages.find((m) => m.to.includes(user.email) && isReset(m))!;
    const link = /(http:\/\/\S+\/reset-password#token=[^\s"<>]+)/.exec(mail.text)?.[1];
    expect(link).toBeDefined();
    const context = await newContext(browser);
    const page = await context.newPage();
    const referers: Array<string | undefined> = [];
    page.on("request", (r) => referers.push(r.headers().referer));
    await page.goto(link!);
    await page.locator("#reset-form").waitFor();
    // The token leaves the address bar at once.
    expect(page.url()).toBe(`${w.base}/reset-password`);
    const fresh = `pw-${hex(12)}`;
    await page.fill("#reset-form input[name=password]", fresh);
    await page.click("#reset-form button[type=submit]");
    await page.locator("#notice").waitFor();
    expect(await page.textContent("#notice")).toBe(
      "Password changed. Sign in with your new password.",
    );
    expect(referers.filter((r) => r !== undefined && r !== "")).toEqual([]);
    expect((await api("/api/auth/login", { ...user, password: fresh })).status).toBe(200);
    expect((await api("/api/auth/login", user)).status).toBe(401);
    await expectNoViolations(page);
    await context.close();
  });

  it("when a key is rotated through the form, then the row shows the new masked key and the old one is gone", async () => {
    const user = await register("rotate");
    const { context, page } = await signedInPage(user);
    await page.selectOption("#key-form select[name=venue]", "bybit");
    await page.fill("#key-form input[name=apiKey]", rotateFrom.apiKey);
    await page.fill("#key-form input[name=secret]", rotateFrom.secret);
    await page.click("#key-submit");
    const row = page.locator("#key-rows tr");
    await row.first().waitFor();
    const mask = (k: string) => `${k.slice(0, 4)}…${k.slice(-4)}`;
    expect(await row.locator(".key-hint").textContent()).toBe(mask(rotateFrom.apiKey));

    await staleStepUp(user.email);
    await row.locator("button", { hasText: "Rotate" }).click();
    expect(await page.textContent("#key-form-title")).toBe(`Rotate ${mask(rotateFrom.apiKey)}`);
    expect(await page.isDisabled("#key-form select[name=venue]")).toBe(true);
    await page.fill("#key-form input[name=apiKey]", rotateTo.apiKey);
    await page.fill("#key-form input[name=secret]", rotateTo.secret);
    await page.click("#key-submit");
    await page.locator("#step-up").waitFor();
    await page.fill("#step-up-form input[name=password]", user.password);
    await page.click("#step-up-form button[type=submit]");
    await poll(() => row.locator(".key-hint").allTextContents()).toEqual([mask(rotateTo.apiKey)]);
    expect(await page.textContent("#key-form-title")).toBe("Add a key");
    const html = await page.content();
    for (const secret of [rotateFrom.secret, rotateTo.secret]) expect(html).not.toContain(secret);
    await expectNoViolations(page);
    await context.close();
  });

  it("when the step-up password is wrong, then the dialog says so and nothing changes", async () => {
    const user = await register("stepup-wrong");
    const { context, page } = await signedInPage(user);
    await staleStepUp(user.email);
    await page.selectOption("#key-form select[name=venue]", "bybit");
    await page.fill("#key-form input[name=apiKey]", bybitKey.apiKey);
    await page.fill("#key-form input[name=secret]", bybitKey.secret);
    await page.click("#key-submit");
    await page.locator("#step-up").waitFor();
    await page.fill("#step-up-form input[name=password]", "not the password");
    await page.click("#step-up-form button[type=submit]");
    await page.locator("#step-up-error").waitFor();
    await page.click("#step-up-cancel");
    await page.locator("#error").waitFor();
    expect(await page.locator("#key-rows tr").count()).toBe(0);
    const token = (await api("/api/auth/login", user)).body.accessToken as string;
    expect((await api("/api/keys", undefined, token, "GET")).body.keys).toEqual([]);
    await context.close();
  });

  it("when a user with 2FA regenerates backup codes on the page, then 10 new codes are shown and an old one stops working", async () => {
    const user = await registerWithTotp("regen");
    expect(user.backupCodes).toHaveLength(10);
    const context = await newContext(browser, {
      extraHTTPHeaders: { "x-forwarded-for": freshIp() },
    });
    const page = await context.newPage();
    await signIn(page, user);
    await page.locator("#second-factor-form").waitFor();
    await page.fill("#second-factor-form input[name=code]", totpAt(user.secret, user.step));
    await page.click("#second-factor-form button[type=submit]");
    await page.locator("#totp-manage").waitFor();
    // Two more codes are needed (the step-up's and the regeneration's), each newer than the last.
    await nextStepBegun(user.step);
    await page.fill("#backup-regenerate-form input[name=code]", totpAt(user.secret, user.step + 2));
    await page.click("#backup-regenerate-form button[type=submit]");
    await answerStepUp(page, user.password, totpAt(user.secret, user.step + 1));
    await page.locator("#backup-codes").waitFor();
    const codes = await page.locator("#backup-code-list li").allTextContents();
    expect(codes).toHaveLength(10);
    const old = await api("/api/auth/login", user);
    const refused = await api("/api/auth/login/2fa", {
      challenge: old.body.challenge,
      code: user.backupCodes[0],
    });
    expect(refused.status).toBe(401);
    const login = await api("/api/auth/login", user);
    const used = await api("/api/auth/login/2fa", {
      challenge: login.body.challenge,
      code: codes[3],
    });
    expect(used.status).toBe(200);
    await expectNoViolations(page);
    await context.close();
  });

  it("when a user turns 2FA off on the page with a current code, then the page and the account say it is off", async () => {
    const user = await registerWithTotp("disable");
    const context = await newContext(browser, {
      extraHTTPHeaders: { "x-forwarded-for": freshIp() },
    });
    const page = await context.newPage();
    await signIn(page, user);
    await page.locator("#second-factor-form").waitFor();
    await page.fill("#second-factor-form input[name=code]", totpAt(user.secret, user.step));
    await page.click("#second-factor-form button[type=submit]");
    await page.locator("#totp-manage").waitFor();
    await nextStepBegun(user.step);
    // A wrong code first (after the step-up the page asks for): refused, still on.
    await page.fill("#totp-disable-form input[name=code]", totpAt(user.secret, user.step + 7));
    await page.click("#totp-disable-form button[type=submit]");
    await answerStepUp(page, user.password, totpAt(user.secret, user.step + 1));
    await page.locator("#error").waitFor();
    expect(await page.isVisible("#totp-manage")).toBe(true);
    await page.fill("#totp-disable-form input[name=code]", totpAt(user.secret, user.step + 2));
    await page.click("#totp-disable-form button[type=submit]");
    await page.locator("#totp-enrol").waitFor();
    expect(await page.textContent("#totp-status")).toContain("off");
    const login = await api("/api/auth/login", user);
    expect(login.body.accessToken).toEqual(expect.any(String));
    await context.close();
  });

  it("when the alerts branch's event shape arrives, then the page describes the finding from its evidence and offers the answers", async () => {
    const user = await register("alerts-shape");
    const { context, page } = await signedInPage(user);
    await poll(() => page.textContent("#live-status")).toBe("live");
    const token = (await api("/api/auth/login", user)).body.accessToken as string;
    const me = (await api("/api/auth/me", undefined, token, "GET")).body.user as { id: string };
    const publisher = new Redis(w.redis.url);
    try {
      for (const alert of [
        {
          id: "41",
          rule: "rapid_fire",
          detectedAt: "2026-01-02T03:04:05.000Z",
          evidence: { opens: 12, threshold: 10, windowMinutes: 5 },
        },
        {
          id: "42",
          rule: "new_ip",
          detectedAt: "2026-01-02T03:09:05.000Z",
          evidence: { lookbackDays: 30, ips: [{ ip: "198.51.100.7" }, { ip: "198.51.100.8" }] },
        },
      ]) {
        await publisher.publish(
          `${w.redis.prefix}ws:events`,
          JSON.stringify({ userId: Number(me.id), event: { type: "alert", alert } }),
        );
      }
    } finally {
      publisher.disconnect();
    }
    const items = page.locator("#live-alerts li");
    await poll(() => items.count()).toBe(2);
    // Newest first.
    expect(await items.nth(0).locator("strong").textContent()).toBe("New IP address");
    expect(await items.nth(0).textContent()).toContain(
      "Trade actions from 198.51.100.7, 198.51.100.8, not seen on your account in 30 days.",
    );
    expect(await items.nth(1).textContent()).toContain(
      "Rapid-fire opens 12 open attempts (12 filled, 0 failed) within 5 minutes (more than 10).",
    );
    expect(await items.nth(1).locator("button").allTextContents()).toEqual([
      "This was me",
      "Not me: revoke my keys",
    ]);
    await expectNoViolations(page);
    await context.close();
  });

  it("when a user with 2FA adds a key after the step-up window, then the dialog asks for password and code and the key is added", async () => {
    const user = await registerWithTotp("stepup-2fa");
    const context = await newContext(browser, {
      extraHTTPHeaders: { "x-forwarded-for": freshIp() },
    });
    const page = await context.newPage();
    await signIn(page, user);
    await page.locator("#second-factor-form").waitFor();
    await page.fill("#second-factor-form input[name=code]", totpAt(user.secret, user.step));
    await page.click("#second-factor-form button[type=submit]");
    await page.locator("#app-view").waitFor();
    await staleStepUp(user.email);
    await page.selectOption("#key-form select[name=venue]", "bybit");
    await page.fill("#key-form input[name=apiKey]", bybitKey.apiKey);
    await page.fill("#key-form input[name=secret]", bybitKey.secret);
    await page.click("#key-submit");
    await page.locator("#step-up").waitFor();
    expect(await page.isVisible("#step-up-code")).toBe(true);
    await page.fill("#step-up-form input[name=password]", user.password);
    await page.fill("#step-up-form input[name=code]", totpAt(user.secret, user.step + 1));
    await page.click("#step-up-form button[type=submit]");
    await page.locator("#key-rows tr").first().waitFor();
    expect(await page.isVisible("#step-up")).toBe(false);
    await expectNoViolations(page);
    await context.close();
  });
  it("when a signed-in user opens the alerts section, then their channel preferences and their own findings are shown, and nobody else's", async () => {
    const user = await register("alerts-history");
    const other = await register("alerts-other");
    const [mine, theirs] = [await userIdOf(user.email), await userIdOf(other.email)];
    await ownerQuery(
      "insert into alert_preferences (user_id, telegram, email, websocket) values ($1, true, false, true)",
      [mine],
    );
    await seedFinding(mine, "rapid_fire", RAPID_FIRE, "2026-11-20T10:00:00Z");
    await seedFinding(mine, "new_symbol", NEW_COIN, "2026-11-21T10:00:00Z");
    await seedFinding(theirs, "new_ip", NEW_IP, "2026-11-22T10:00:00Z");

    const token = (await api("/api/auth/login", user)).body.accessToken as string;
    const served = (await api("/api/alerts", undefined, token, "GET")).body;
    expect(served.preferences).toEqual({ telegram: true, email: false, websocket: true });
    expect((served.recent as Array<{ rule: string }>).map((a) => a.rule)).toEqual([
      "new_symbol",
      "rapid_fire",
    ]);

    const { context, page } = await signedInPage(user);
    await page.locator("#alert-prefs-form").waitFor();
    const boxes = page.locator("#alert-prefs input[type=checkbox]");
    await poll(() => boxes.count()).toBe(3);
    for (const [channel, on] of Object.entries(served.preferences as Record<string, boolean>)) {
      expect(await page.isChecked(`#alert-prefs input[name=${channel}]`)).toBe(on);
    }
    const items = page.locator("#alert-history li");
    await poll(() => items.count()).toBe(2);
    // Newest first, described from their evidence; the other user's new IP is not there.
    expect(await items.locator("strong").allTextContents()).toEqual([
      "New coin",
      "Rapid-fire opens",
    ]);
    expect(await items.nth(0).textContent()).toContain("First trade in PEPE.");
    expect(await items.nth(1).textContent()).toContain(
      "12 open attempts (12 filled, 0 failed) within 5 minutes (more than 10).",
    );
    const section = (await page.textContent("#alerts")) ?? "";
    expect(section).not.toContain("New IP address");
    expect(section).not.toContain("198.51.100.9");
    expect(await page.isVisible("#alert-history-empty")).toBe(false);
    await expectNoViolations(page);
    await context.close();
  });

  it("when the user switches a channel off, then the page asks for a step-up and the change is saved", async () => {
    const user = await register("alerts-off");
    const id = await userIdOf(user.email);
    const { context, page } = await signedInPage(user);
    const email = page.locator("#alert-prefs input[name=email]");
    await email.waitFor();
    expect(await email.isChecked()).toBe(true);
    await staleStepUp(user.email);
    await email.uncheck();
    await page.click("#alert-prefs-form button[type=submit]");
    await page.locator("#step-up").waitFor();
    await page.fill("#step-up-form input[name=password]", user.password);
    await page.click("#step-up-form button[type=submit]");
    await poll(() => page.textContent("#notice")).toBe("Alert preferences saved.");
    expect(await page.isVisible("#step-up")).toBe(false);
    expect(
      await ownerQuery(
        "select telegram, email, websocket from alert_preferences where user_id = $1",
        [id],
      ),
    ).toEqual([{ telegram: true, email: false, websocket: true }]);
    // A reload shows the saved state.
    await page.reload();
    await page.locator("#alert-prefs input[name=email]").waitFor();
    expect(await page.isChecked("#alert-prefs input[name=email]")).toBe(false);
    expect(await page.isChecked("#alert-prefs input[name=telegram]")).toBe(true);
    await expectNoViolations(page);
    await context.close();
  });

  it("when the user presses “This was me” on a listed finding, then the verdict is recorded", async () => {
    const user = await register("alerts-me");
    const id = await userIdOf(user.email);
    const older = await seedFinding(id, "rapid_fire", RAPID_FIRE, "2026-11-20T10:00:00Z");
    const finding = await seedFinding(id, "new_ip", NEW_IP, "2026-11-21T10:00:00Z");
    const { context, page } = await signedInPage(user);
    const item = page.locator("#alert-history li", { hasText: "New IP address" });
    await item.waitFor();
    await item.locator("button", { hasText: "This was me" }).click();
    await item.getByText("Marked as you.").waitFor();
    const verdicts = await ownerQuery(
      "select id::text as id, verdict from anomalies where user_id = $1 order by id",
      [id],
    );
    expect(verdicts).toEqual([
      { id: older, verdict: null },
      { id: finding, verdict: "me" },
    ]);
    await expectNoViolations(page);
    await context.close();
  });
});
