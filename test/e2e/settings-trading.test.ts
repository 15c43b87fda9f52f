// The settings page's trading tab in Chromium at phone size (390×844): two open paper positions
// with ids, SL, TP and P&L; the cumulative P&L chart drawn as SVG with one point per day; the
// reports and history; a Close that asks for a step-up, then closes (card gone, close audited);
// no horizontal overflow, controls at least 44 px tall, no CSP violation.
import pg from "pg";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchBrowser, newContext, violations } from "../support/browser";
import { confirmationToken } from "../support/email-confirmation";
import { startTestWarden, type TestWarden } from "../support/warden-harness";

const poll = <T>(fn: () => T | Promise<T>) => expect.poll(fn, { timeout: 15_000, interval: 50 });

let w: TestWarden;
let browser: Browser;
let db: pg.Client;

// biome-ignore lint/suspicious/noExplicitAny: answers are JSON whose shape the assertions check
type Json = Record<string, any>;

async function api(method: string, path: string, token?: string, body?: unknown) {
  const res = await fetch(`${w.base}${path}`, {
    method,
    headers: {
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as Json };
}

const user = { email: "cockpit@example.com", password: "a long unique passphrase" };
let userId: string;
let keyId: string;
const open: Record<string, string> = {};

/** [days ago, symbol, realised P&L]: one before the chart's 30 days, a tiny one today. */
const SEEDED: Array<[number, string, number]> = [
  [40, "ETH/USDT:USDT", 1000],
  [5, "BTC/USDT:USDT", -250.5],
  [2, "SOL/USDT:USDT", 1234.567],
  [0, "BTC/USDT:USDT", 0.004],
];
const day = (ago: number) => new Date(Date.now() - ago * 86_400_000).toISOString().slice(0, 10);

beforeAll(async () => {
  // api and worker without MASTER_KEYS, the signer in a process of its own (issue 19).
  w = await startTestWarden();
  db = new pg.Client({ connectionString: w.db.url });
  await db.connect();
  browser = await launchBrowser();

  expect((await api("POST", "/api/auth/register", undefined, user)).status).toBe(202);
  const confirm = await confirmationToken(w.smtp, user.email);
  await api("POST", "/api/auth/email/confirm", undefined, { token: confirm });
  const token = (await api("POST", "/api/auth/login", undefined, user)).body.accessToken as string;
  await api("POST", "/api/auth/step-up", token, { password: user.password });
  keyId = (await api("POST", "/api/keys", token, { venue: "paper", label: "Paper main" })).body.key
    .id as string;
  for (const [coin, size, leverage, sl, tp] of [
    ["BTC", 0.01, 5, 1000, 1_000_000],
    ["ETH", 0.5, 1, 100, 100_000],
  ] as const) {
    const r = await api("POST", "/api/trades", token, {
      confirm: true,
      symbol: coin,
      side: "long",
      size,
      leverage,
      keyId,
    });
    expect(r.status).toBe(201);
    open[coin] = r.body.trade.id as string;
    const m = await api("PATCH", `/api/trades/${open[coin]}`, token, {
      stopLoss: sl,
      takeProfit: tp,
    });
    expect(m.status).toBe(200);
  }
  userId = (await db.query("select id::text as id from users where email = $1", [user.email]))
    .rows[0].id;
  for (const [ago, symbol, pnl] of SEEDED) {
    await db.query(
      `insert into trades (user_id, credential_id, venue, symbol, side, size, entry_price,
         exit_price, status, source, opened_at, closed_at, realized_pnl, fees, close_reason)
       values ($1, $2, 'paper', $3, 'long', 1, 100, 100, 'closed', 'api',
         date_trunc('day', now() at time zone 'utc') at time zone 'utc' - make_interval(days => $4) + interval '1 hour',
         date_trunc('day', now() at time zone 'utc') at time zone 'utc' - make_interval(days => $4) + interval '2 hours',
         $5, 0, 'manual')`,
      [userId, keyId, symbol, ago, pnl],
    );
  }
});

afterAll(async () => {
  await db?.end();
  await browser?.close();
  await w?.stop();
});

async function tradingTab(): Promise<Page> {
  const context = await newContext(browser);
  const page = await context.newPage();
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${w.base}/settings`);
  await page.locator("#signin-form").waitFor();
  await page.fill("#signin-form input[name=email]", user.email);
  await page.fill("#signin-form input[name=password]", user.password);
  await page.click("#signin-form button[type=submit]");
  await page.locator("#app-view").waitFor();
  await page.click("#tab-trading");
  await page.locator("#trading-panel").waitFor();
  await page.locator(".position").first().waitFor();
  await page.locator("#pnl-chart svg").waitFor();
  await page.locator("#history-rows tr").first().waitFor();
  return page;
}

describe("settings page trading tab in Chromium", () => {
  it("when the trading tab opens, then both positions show id, key, market, SL, TP, P&L and liquidation; the chart has one point per day with the cumulative P&L; reports and history match the ledger", async () => {
    const page = await tradingTab();
    const card = (coin: string) => page.locator(`.position[data-trade-id="${open[coin]}"]`);
    expect(await card("BTC").locator("h3").textContent()).toBe(`#${open.BTC} BTC-PERP long`);
    expect(await card("ETH").locator("h3").textContent()).toBe(`#${open.ETH} ETH-PERP long`);
    expect(await card("BTC").locator("p.muted").textContent()).toBe(
      `Paper · key "Paper main" (#${keyId})`,
    );
    const field = (coin: string, f: string) =>
      card(coin).locator(`dd[data-field=${f}]`).textContent();
    expect(await field("BTC", "sl")).toBe("1,000");
    expect(await field("BTC", "tp")).toBe("1,000,000");
    expect(await field("ETH", "sl")).toBe("100");
    expect(await field("ETH", "tp")).toBe("100,000");
    expect(await field("BTC", "size")).toBe("0.01");
    expect(await field("BTC", "leverage")).toBe("5x");
    for (const coin of ["BTC", "ETH"]) {
      expect(await field(coin, "pnl")).toMatch(
        /^[+−][\d,]+\.\d{2,} USDT \([+−][\d,]+\.\d{2,} %\)$/,
      );
      expect(await field(coin, "age")).toMatch(/^\d+m$/);
    }
    // 5x long: liquidation estimated below the entry; 1x: none.
    expect(await field("BTC", "liq")).toMatch(/^[\d,]+(\.\d+)?$/);
    expect(await field("ETH", "liq")).toBe("—");

    // The chart: 30 days, oldest first, each the total realised up to and including that day.
    const points = await page
      .locator("#pnl-chart svg circle")
      .evaluateAll((els) =>
        els.map((e) => [e.getAttribute("data-day"), Number(e.getAttribute("data-cumulative"))]),
      );
    const expected: Array<[string, number]> = [];
    for (let ago = 29; ago >= 0; ago--) {
      const total = SEEDED.filter(([a]) => a >= ago).reduce((n, [, , p]) => n + p, 0);
      expected.push([day(ago), Math.round(total * 1e8) / 1e8]);
    }
    expect(points).toEqual(expected);
    expect(await page.locator("#pnl-chart svg polyline").count()).toBe(1);

    const summary = await page
      .locator("#profit-summary div")
      .evaluateAll((els) =>
        els.map((e) => [e.querySelector("dt")?.textContent, e.querySelector("dd")?.textContent]),
      );
    expect(summary).toContainEqual(["Realised P&L", "+1,984.07"]);
    expect(summary).toContainEqual(["Closed trades", "4"]);
    expect(summary).toContainEqual(["Win rate", "75.0 %"]);
    expect(summary).toContainEqual(["Worst", expect.stringMatching(/^#\d+ BTC-PERP −250\.50$/)]);
    const rows = (sel: string) =>
      page
        .locator(`${sel} tr`)
        .evaluateAll((trs) =>
          trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent)),
        );
    expect((await rows("#daily-rows")).slice(0, 3)).toEqual([
      [day(0), "+0.004", "1"],
      [day(1), "+0.00", "0"],
      [day(2), "+1,234.57", "1"],
    ]);
    expect(await rows("#performance-rows")).toEqual([
      ["SOL-PERP", "+1,234.57", "1", "100 %"],
      ["ETH-PERP", "+1,000.00", "1", "100 %"],
      ["BTC-PERP", "−250.50", "2", "50 %"],
    ]);
    const history = await rows("#history-rows");
    // Newest first: the seeded closes (inserted last), then the two open trades.
    expect(history[0]).toEqual([
      expect.stringMatching(new RegExp(`^#\\d+ · ${day(0)}$`)),
      "BTC-PERP long 1",
      "100 → 100",
      "+0.004",
    ]);
    expect(history.map((r) => r[0])).toContainEqual(`#${open.BTC} · open`);
    expect(await violations(page)).toEqual([]);
    await page.context().close();
  });

  it("when Close is pressed without a recent step-up, then the step-up dialog asks for the password and the trade is closed: card gone, close audited", async () => {
    const page = await tradingTab();
    await db.query("update sessions set step_up_at = null where user_id = $1", [userId]);
    page.on("dialog", (d) => void d.accept());
    await page.click(`.position[data-trade-id="${open.ETH}"] button[data-action=close]`);
    await page.locator("#step-up").waitFor();
    // Nothing is closed before the step-up is answered.
    const before = await db.query("select status from trades where id = $1", [open.ETH]);
    expect(before.rows).toEqual([{ status: "open" }]);
    await page.fill("#step-up-form input[name=password]", user.password);
    await page.click("#step-up-form button[type=submit]");
    await poll(() => page.locator(`.position[data-trade-id="${open.ETH}"]`).count()).toBe(0);
    expect(await page.locator(`.position[data-trade-id="${open.BTC}"]`).count()).toBe(1);
    expect(await page.textContent("#notice")).toBe(`Closed #${open.ETH}.`);
    const audit = await db.query(
      "select action, source, outcome from trade_audit_log where trade_id = $1 order by id",
      [open.ETH],
    );
    expect(audit.rows.map((r) => r.action)).toEqual(["open", "modify", "close"]);
    expect(audit.rows.at(-1)).toEqual({ action: "close", source: "api", outcome: "ok" });
    expect(
      (await db.query("select status from trades where id = $1", [open.ETH])).rows[0].status,
    ).toBe("closed");
    expect(await violations(page)).toEqual([]);
    await page.context().close();
  });

  it("when the tab is shown at 390×844, then nothing scrolls sideways and every control is at least 44 px tall", async () => {
    const page = await tradingTab();
    const overflow = await page.evaluate(() => ({
      scroll: document.documentElement.scrollWidth,
      client: document.documentElement.clientWidth,
    }));
    expect(overflow.scroll).toBeLessThanOrEqual(overflow.client);
    await page.locator("#notification-rows fieldset").first().waitFor();
    const small = await page
      .locator(
        "#trading-panel button:visible, #trading-panel select:visible, #notification-rows label:visible, .tabs button",
      )
      .evaluateAll((els) =>
        els
          .map((e) => [e.textContent?.trim() ?? e.tagName, e.getBoundingClientRect().height])
          .filter(([, h]) => (h as number) < 44),
      );
    expect(small).toEqual([]);
    await page.context().close();
  });

  it("when a notification event is switched off on the tab, then the setting is saved for that event only", async () => {
    const page = await tradingTab();
    await page.locator('#notification-rows fieldset[data-event="entry"]').waitFor();
    await page.uncheck('#notification-rows input[name="entry.enabled"]');
    await page.selectOption("#notifications-form select[name=dailySummaryHour]", "7");
    await page.click("#notifications-form button[type=submit]");
    await poll(() => page.textContent("#notice")).toBe("Notification settings saved.");
    const token = (await api("POST", "/api/auth/login", undefined, user)).body.accessToken;
    const r = await api("GET", "/api/notifications", token);
    expect(r.body.settings.entry.enabled).toBe(false);
    expect(r.body.settings.exit.enabled).toBe(true);
    expect(r.body.dailySummaryHour).toBe(7);
    expect(await violations(page)).toEqual([]);
    await page.context().close();
  });
});
