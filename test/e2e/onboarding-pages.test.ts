// The onboarding pages in Chromium at a phone's width (390×844): the mailed confirmation link
// opens a page that confirms the address once, a page that does not exist is a small HTML page
// for a browser (JSON for API clients), and neither scrolls sideways.
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchBrowser, newContext, violations } from "../support/browser";
import { CONFIRM_LINK } from "../support/email-confirmation";
import { startTestWarden, type TestWarden } from "../support/warden-harness";

let w: TestWarden;
let browser: Browser;

beforeAll(async () => {
  w = await startTestWarden({ env: { TRUSTED_PROXIES: "127.0.0.1" } });
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await w?.stop();
});

async function phonePage(): Promise<{ page: Page; close: () => Promise<void> }> {
  const context = await newContext(browser);
  const page = await context.newPage();
  await page.setViewportSize({ width: 390, height: 844 });
  return { page, close: () => context.close() };
}

const overflow = (page: Page) =>
  page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);

async function post(path: string, body: unknown) {
  const res = await fetch(`${w.base}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe("onboarding pages at 390 px", () => {
  it("when the owner opens the mailed confirmation link and presses the button, then the address is confirmed and the link does not work twice", async () => {
    const email = `phone-${Date.now()}@example.com`;
    const password = "a long phone passphrase 42";
    expect((await post("/api/auth/register", { email, password })).status).toBe(202);
    expect((await post("/api/auth/login", { email, password })).status).toBe(403);
    const mail = await w.smtp.waitForMessage(
      (m) => m.to.includes(email) && CONFIRM_LINK.test(m.text),
    );
    const link = new RegExp(
      `(${w.origin.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}/confirm-email#token=\\S+)`,
    ).exec(mail.text)?.[1];
    expect(link).toBeDefined();

    const { page, close } = await phonePage();
    try {
      await page.goto(link!.replace(w.origin, w.base));
      // The token leaves the address bar at once.
      expect(page.url()).toBe(`${w.base}/confirm-email`);
      expect(await overflow(page)).toBeLessThanOrEqual(0);
      const button = page.getByRole("button", { name: "Confirm my address" });
      expect((await button.boundingBox())!.height).toBeGreaterThanOrEqual(44);
      await button.click();
      await page.getByText("Email address confirmed. You can sign in now.").waitFor();
      expect(await violations(page)).toEqual([]);
      expect((await post("/api/auth/login", { email, password })).status).toBe(200);

      // The same link again (a fresh load, not a fragment change): refused.
      await page.goto("about:blank");
      await page.goto(link!.replace(w.origin, w.base));
      await page.getByRole("button", { name: "Confirm my address" }).click();
      await page.getByText("This confirmation link is invalid, expired or already used").waitFor();
      expect(await overflow(page)).toBeLessThanOrEqual(0);
    } finally {
      await close();
    }
  });

  it("when a browser asks for a page that does not exist, then it gets a small HTML 404 page; an API client gets JSON", async () => {
    const { page, close } = await phonePage();
    try {
      const res = await page.goto(`${w.base}/no-such-page`);
      expect(res?.status()).toBe(404);
      expect(res?.headers()["content-type"]).toMatch(/^text\/html/);
      await page.getByRole("heading", { name: "Page not found" }).waitFor();
      expect(
        await page.getByRole("link", { name: "Go to your settings" }).getAttribute("href"),
      ).toBe("/settings");
      expect(await overflow(page)).toBeLessThanOrEqual(0);
      expect(await violations(page)).toEqual([]);
    } finally {
      await close();
    }
    const json = await fetch(`${w.base}/no-such-page`, { headers: { accept: "application/json" } });
    expect(json.status).toBe(404);
    expect(await json.json()).toEqual({ error: "not_found", message: "No such endpoint." });
  });
});
