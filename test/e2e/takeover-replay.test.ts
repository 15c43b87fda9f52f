// The takeover replay (issue 15): an intruder who holds the password links their Telegram
// account; the owner resets the password. The intruder's Telegram is no longer linked, no session
// it had reaches /api/keys, and the owner was told of the link by mail when it happened.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as t from "../../src/bot/texts";
import { signInitData } from "../../src/domain/accounts/telegram-init-data";
import { confirmationToken } from "../support/email-confirmation";
import type { ReceivedMail } from "../support/smtp/server";
import { startTelegramEmulator, type TelegramEmulator } from "../support/telegram";
import { startTestWarden, type TestWarden } from "../support/warden-harness";

let tg: TelegramEmulator;
let w: TestWarden;
let db: pg.Client;

beforeAll(async () => {
  tg = await startTelegramEmulator();
  // api, worker and bot without MASTER_KEYS; the signer in a process of its own (issue 19).
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
}, 60_000);
afterAll(async () => {
  await db?.end();
  await w?.stop();
  await tg?.close();
});

type Json = Record<string, unknown>;
async function api(
  method: string,
  path: string,
  opts: { body?: unknown; token?: string; cookie?: string; ip?: string } = {},
) {
  const res = await fetch(`${w.base}${path}`, {
    method,
    headers: {
      "content-type": "application/json",
      origin: w.origin,
      "x-forwarded-for": opts.ip ?? "203.0.113.50",
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
      ...(opts.cookie ? { cookie: `__Secure-warden_refresh=${opts.cookie}` } : {}),
    },
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await res.text();
  const cookie = /__Secure-warden_refresh=([^;]+)/.exec(res.headers.get("set-cookie") ?? "")?.[1];
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as Json, cookie };
}

async function waitForMail(predicate: (m: ReceivedMail) => boolean): Promise<ReceivedMail> {
  return w.smtp.waitForMessage(predicate, 15_000);
}

/** The owner opens the confirmation link mailed at registration (sign-in needs it). */
async function confirmAddress(email: string): Promise<void> {
  const token = await confirmationToken(w.smtp, email);
  expect((await api("POST", "/api/auth/email/confirm", { body: { token } })).status).toBe(200);
}

describe("takeover replay", () => {
  it("when an intruder holding the password links their Telegram and the owner resets the password, then the intruder's Telegram is not linked, none of its sessions reaches /api/keys, and the owner got the link notice", async () => {
    const email = `owner-${randomBytes(3).toString("hex")}@example.com`;
    const password = "the owner's old passphrase";
    expect((await api("POST", "/api/auth/register", { body: { email, password } })).status).toBe(
      202,
    );
    await confirmAddress(email);

    // The intruder signs in with the stolen password from their own IP and steps up.
    const intruderIp = "198.51.100.7";
    const login = await api("POST", "/api/auth/login", {
      body: { email, password },
      ip: intruderIp,
    });
    const intruderToken = login.body.accessToken as string;
    const intruderCookie = login.cookie!;
    expect(
      (
        await api("POST", "/api/auth/step-up", {
          body: { password },
          token: intruderToken,
          ip: intruderIp,
        })
      ).status,
    ).toBe(200);
    const { code } = (
      await api("POST", "/api/auth/telegram/link-code", { token: intruderToken, ip: intruderIp })
    ).body as { code: string };

    // … and links their Telegram account through the bot.
    const intruderTg = tg.user({ id: 4_440_001, first_name: "Mallory", username: "mallory" });
    intruderTg.sendText(`/start ${code}`);
    const question = await intruderTg.waitForBotMessage();
    intruderTg.pressButton(question.message_id, "link:yes");
    expect((await intruderTg.waitForBotMessage()).text).toBe(t.LINKED);

    // The owner is told, with the Telegram account's name and id and an unlink link.
    const notice = await waitForMail(
      (m) =>
        m.to.includes(email) &&
        m.subject === "A Telegram account was linked to your Warden account",
    );
    expect(notice.text).toContain("Telegram account @mallory (id 4440001) was linked");
    expect(notice.text).toContain(`${w.origin}/settings#telegram`);

    // The intruder's Mini App session on the owner's account works before the reset.
    const initData = signInitData(
      {
        auth_date: Math.floor(Date.now() / 1000),
        query_id: "AAH",
        user: { id: 4_440_001, first_name: "Mallory" },
      },
      tg.token,
    );
    const mini = await api("POST", "/api/auth/telegram", { body: { initData }, ip: intruderIp });
    expect(mini.status).toBe(200);
    const miniToken = mini.body.accessToken as string;
    expect((await api("GET", "/api/keys", { token: miniToken })).status).toBe(200);

    // The owner resets the password.
    expect(
      (await api("POST", "/api/auth/password/reset/request", { body: { email } })).status,
    ).toBe(202);
    const resetMail = await waitForMail(
      (m) => m.to.includes(email) && m.text.includes("/reset-password#token="),
    );
    const token = decodeURIComponent(/reset-password#token=([^\s"<>]+)/.exec(resetMail.text)![1]!);
    expect(
      (
        await api("POST", "/api/auth/password/reset/confirm", {
          body: { token, password: "the owner's brand new passphrase" },
        })
      ).status,
    ).toBe(200);

    // The intruder's Telegram is not linked any more …
    intruderTg.sendText("/unlink");
    expect((await intruderTg.waitForBotMessage()).text).toBe(t.NOT_LINKED);
    const { rows } = await db.query("select telegram_user_id from users where email = $1", [email]);
    expect(rows).toEqual([{ telegram_user_id: null }]);
    // … and nothing the intruder held reaches the owner's keys.
    for (const held of [intruderToken, miniToken]) {
      expect((await api("GET", "/api/keys", { token: held })).status).toBe(401);
    }
    expect(
      (await api("POST", "/api/auth/refresh", { cookie: intruderCookie, ip: intruderIp })).status,
    ).toBe(401);
    // A new Mini App sign-in lands in a Telegram-only account of its own, not the owner's.
    const again = await api("POST", "/api/auth/telegram", {
      body: {
        initData: signInitData(
          {
            auth_date: Math.floor(Date.now() / 1000),
            query_id: "AAI",
            user: { id: 4_440_001, first_name: "Mallory" },
          },
          tg.token,
        ),
      },
      ip: intruderIp,
    });
    expect(again.status).toBe(200);
    const me = await api("GET", "/api/auth/me", { token: again.body.accessToken as string });
    expect((me.body.user as Json).email).toBeNull();

    // Both the link and its end are security events on the owner's account.
    const events = await db.query(
      `select kind, details->>'reason' as reason from security_events
       where user_id = (select id from users where email = $1)
         and kind in ('telegram_linked', 'telegram_unlinked') order by id`,
      [email],
    );
    expect(events.rows).toEqual([
      { kind: "telegram_linked", reason: null },
      { kind: "telegram_unlinked", reason: "password_reset" },
    ]);
  }, 90_000);

  it("when the owner signs out everywhere, unlinks on the web, or the Telegram user unlinks with /unlink and confirms, then each ends the link as a security event; the web unlink needs a step-up", async () => {
    const email = `unlink-${randomBytes(3).toString("hex")}@example.com`;
    const password = "an unlinking passphrase";
    await api("POST", "/api/auth/register", { body: { email, password } });
    await confirmAddress(email);
    const token = (await api("POST", "/api/auth/login", { body: { email, password } })).body
      .accessToken as string;
    await api("POST", "/api/auth/step-up", { body: { password }, token });
    const user = tg.user({ id: 4_440_002, first_name: "Owner" });
    const link = async (bearer: string) => {
      const { code } = (await api("POST", "/api/auth/telegram/link-code", { token: bearer }))
        .body as { code: string };
      user.sendText(`/start ${code}`);
      const q = await user.waitForBotMessage();
      user.pressButton(q.message_id, "link:yes");
      expect((await user.waitForBotMessage()).text).toBe(t.LINKED);
    };
    const linked = async () =>
      (await db.query("select telegram_user_id::int as tg from users where email = $1", [email]))
        .rows[0].tg as number | null;

    // /unlink in the bot asks first; Cancel keeps the link, "Yes, unlink" ends it.
    await link(token);
    user.sendText("/unlink");
    const ask = await user.waitForBotMessage();
    expect(ask.text).toBe(t.unlinkQuestion("u***@example.com"));
    user.pressButton(ask.message_id, "unlink:no");
    await user.waitForBotMessage();
    expect(await linked()).toBe(4_440_002);
    user.sendText("/unlink");
    const ask2 = await user.waitForBotMessage();
    user.pressButton(ask2.message_id, "unlink:yes");
    expect((await user.waitForBotMessage()).text).toBe(t.UNLINKED);
    expect(await linked()).toBeNull();

    // DELETE /api/auth/telegram/link: refused without a step-up, then 204, then 404.
    await link(token);
    const fresh = (await api("POST", "/api/auth/login", { body: { email, password } })).body
      .accessToken as string;
    const refused = await api("DELETE", "/api/auth/telegram/link", { token: fresh });
    expect(refused.status).toBe(403);
    expect(refused.body.error).toBe("step_up_required");
    expect(await linked()).toBe(4_440_002);
    expect((await api("DELETE", "/api/auth/telegram/link", { token })).status).toBe(204);
    expect(await linked()).toBeNull();
    const gone = await api("DELETE", "/api/auth/telegram/link", { token });
    expect(gone.status).toBe(404);
    expect(gone.body.error).toBe("telegram_not_linked");

    // Sign out everywhere ends the link too.
    await link(token);
    expect((await api("DELETE", "/api/auth/sessions", { token })).status).toBeLessThan(300);
    expect(await linked()).toBeNull();

    const events = await db.query(
      `select details->>'reason' as reason from security_events
       where user_id = (select id from users where email = $1) and kind = 'telegram_unlinked'
       order by id`,
      [email],
    );
    expect(events.rows.map((r) => r.reason)).toEqual([
      "unlinked_in_bot",
      "unlinked_on_web",
      "sign_out_everywhere",
    ]);
  }, 90_000);
});
