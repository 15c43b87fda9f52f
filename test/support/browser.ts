// Headless Debian chromium driven by playwright-core (one browser per test file), with every
// page recording Content-Security-Policy violations the way a page script would see them.
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

export function launchBrowser(extraArgs: string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      ...extraArgs,
    ],
  });
}

export interface Violation {
  directive: string;
  blockedURI: string;
  documentURI: string;
}

/**
 * A fresh context whose pages push every `securitypolicyviolation` into a list the test reads
 * with `violations(page)`. The listener is added through the DevTools protocol before any page
 * script runs, so the page's own CSP does not apply to it.
 */
export async function newContext(
  browser: Browser,
  opts: { extraHTTPHeaders?: Record<string, string> } = {},
): Promise<BrowserContext> {
  const context = await browser.newContext(opts);
  await context.addInitScript(() => {
    const seen: unknown[] = [];
    Object.defineProperty(window, "__cspViolations", { value: seen });
    document.addEventListener("securitypolicyviolation", (e) => {
      seen.push({
        directive: e.effectiveDirective,
        blockedURI: e.blockedURI,
        documentURI: e.documentURI,
      });
    });
  });
  return context;
}

export function violations(page: Page): Promise<Violation[]> {
  return page.evaluate(
    () => (window as unknown as { __cspViolations: Violation[] }).__cspViolations,
  );
}
