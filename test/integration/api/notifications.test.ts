// GET/PUT /api/notifications (issue 17): the caller's trade notification settings per event,
// the defaults until changed, partial updates, a clear 400 for a bad body, and only their own.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { confirmationToken } from "../../support/email-confirmation";
import { startTestWarden, type TestWarden } from "../../support/warden-harness";

let w: TestWarden;
let db: pg.Client;

beforeAll(async () => {
  w = await startTestWarden();
  db = new pg.Client({ connectionString: w.db.url });
  await db.connect();
});
afterAll(async () => {
  await db.end();
  await w.stop();
});

// biome-ignore lint/suspicious/noExplicitAny: answers are JSON whose shape the assertions check
type Json = Record<string, any>;

async function api(method: string, path: string, opts: { body?: unknown; token?: string } = {}) {
  const res = await fetch(`${w.base}${path}`, {
    method,
    headers: {
      "content-type": "application/json",
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
    },
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await res.text();
  return {
    status: res.status,
    cache: res.headers.get("cache-control"),
    body: (text ? JSON.parse(text) : {}) as Json,
  };
}

async function user(email: string) {
  const creds = { email, password: "a long unique passphrase" };
  await api("POST", "/api/auth/register", { body: creds });
  // Sign-in needs the confirmed address (the mailed link).
  const token = await confirmationToken(w.smtp, email);
  await api("POST", "/api/auth/email/confirm", { body: { token } });
  return (await api("POST", "/api/auth/login", { body: creds })).body.accessToken as string;
}

const on = { enabled: true, telegram: true, email: false, web: true };

describe("GET/PUT /api/notifications", () => {
  it("when a new user asks, then every event is on by Telegram and web, not email", async () => {
    const token = await user("notify-a@example.com");
    const r = await api("GET", "/api/notifications", { token });
    expect(r.status).toBe(200);
    expect(r.cache).toContain("no-store");
    expect(r.body).toEqual({
      settings: {
        entry: on,
        partial_fill: on,
        sl_tp_moved: on,
        exit: on,
        stop_loss: on,
        take_profit: on,
        liquidation: on,
        liquidation_warning: on,
        daily_summary: { ...on, enabled: false },
      },
      dailySummaryHour: 20,
      liquidationWarningPct: 5,
    });
  });

  it("when the user sets liquidation warnings at 2.5 % by email too, then both are saved and shown", async () => {
    const token = await user("notify-g@example.com");
    const r = await api("PUT", "/api/notifications", {
      token,
      body: { liquidation_warning: { email: true }, liquidationWarningPct: 2.5 },
    });
    expect(r.status).toBe(200);
    expect(r.body.settings.liquidation_warning).toEqual({ ...on, email: true });
    expect(r.body.liquidationWarningPct).toBe(2.5);
    expect((await api("GET", "/api/notifications", { token })).body).toEqual(r.body);
    const rows = await db.query(
      `select distance_pct::float8 as pct from liquidation_warning_settings
       where user_id = (select id from users where email = 'notify-g@example.com')`,
    );
    expect(rows.rows).toEqual([{ pct: 2.5 }]);
  });

  it("when the user switches stop-loss notices to email only, then that is saved and the rest stays", async () => {
    const token = await user("notify-b@example.com");
    const r = await api("PUT", "/api/notifications", {
      token,
      body: { stop_loss: { telegram: false, email: true }, entry: { enabled: false } },
    });
    expect(r.status).toBe(200);
    expect(r.body.settings.stop_loss).toEqual({
      enabled: true,
      telegram: false,
      email: true,
      web: true,
    });
    expect(r.body.settings.entry).toEqual({ ...on, enabled: false });
    expect(r.body.settings.exit).toEqual(on);
    expect((await api("GET", "/api/notifications", { token })).body).toEqual(r.body);
    const rows = await db.query(
      `select event, enabled, telegram, email, web from notification_settings
       where user_id = (select id from users where email = 'notify-b@example.com') order by event`,
    );
    expect(rows.rows).toEqual([
      { event: "entry", enabled: false, telegram: true, email: false, web: true },
      { event: "stop_loss", enabled: true, telegram: false, email: true, web: true },
    ]);
    // Another user still has the defaults.
    const other = await user("notify-c@example.com");
    expect(
      (await api("GET", "/api/notifications", { token: other })).body.settings.stop_loss,
    ).toEqual(on);
  });

  it("when the user turns the daily summary on at 07:00 UTC, then both are saved", async () => {
    const token = await user("notify-f@example.com");
    const r = await api("PUT", "/api/notifications", {
      token,
      body: { daily_summary: { enabled: true }, dailySummaryHour: 7 },
    });
    expect(r.status).toBe(200);
    expect(r.body.dailySummaryHour).toBe(7);
    expect(r.body.settings.daily_summary).toEqual(on);
    const rows = await db.query(
      `select hour_utc, last_sent_on from daily_summary_settings
       where user_id = (select id from users where email = 'notify-f@example.com')`,
    );
    expect(rows.rows).toEqual([{ hour_utc: 7, last_sent_on: null }]);
    expect((await api("GET", "/api/notifications", { token })).body.dailySummaryHour).toBe(7);
  });

  it("when a web-only account asks for Telegram notices, then it is refused with 409 and nothing is saved", async () => {
    const token = await user("notify-d@example.com");
    await api("PUT", "/api/notifications", { token, body: { exit: { telegram: false } } });
    const r = await api("PUT", "/api/notifications", { token, body: { exit: { telegram: true } } });
    expect(r.status).toBe(409);
    expect(r.body).toEqual({
      error: "no_telegram",
      message: "Your account is not linked to Telegram: link it first.",
    });
    expect((await api("GET", "/api/notifications", { token })).body.settings.exit.telegram).toBe(
      false,
    );
  });

  it("when the body is malformed, then 400 names the field and nothing is saved", async () => {
    const token = await user("notify-e@example.com");
    for (const [body, field] of [
      [{ margin_call: { enabled: true } }, "body"],
      [{ exit: { sms: true } }, "exit"],
      [{ exit: { enabled: "yes" } }, "exit"],
      [{ exit: {} }, "exit"],
      [{ dailySummaryHour: 24 }, "dailySummaryHour"],
      [{ dailySummaryHour: 7.5 }, "dailySummaryHour"],
      [{ liquidationWarningPct: 0 }, "liquidationWarningPct"],
      [{ liquidationWarningPct: 51 }, "liquidationWarningPct"],
      [{ liquidationWarningPct: 1.234 }, "liquidationWarningPct"],
      [{ liquidationWarningPct: "5" }, "liquidationWarningPct"],
      [{}, "body"],
    ] as const) {
      const r = await api("PUT", "/api/notifications", { token, body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body).toEqual({
        error: "invalid_request",
        message: `Missing or invalid field: ${field}.`,
      });
    }
    const rows = await db.query(
      "select count(*)::int as n from notification_settings where user_id = (select id from users where email = 'notify-e@example.com')",
    );
    expect(rows.rows[0].n).toBe(0);
    expect(
      (
        await db.query(
          "select count(*)::int as n from liquidation_warning_settings where user_id = (select id from users where email = 'notify-e@example.com')",
        )
      ).rows[0].n,
    ).toBe(0);
  });

  it("when there is no access token, then 401 and nothing is shown", async () => {
    expect((await api("GET", "/api/notifications")).status).toBe(401);
    expect(
      (await api("PUT", "/api/notifications", { body: { exit: { enabled: false } } })).status,
    ).toBe(401);
  });
});
