// The bot's account flows through the Telegram emulator (S4, S6): Telegram-only accounts, linking
// in both directions with one-time codes, /2fa enrolment with backup codes that disappear from
// the chat, /2fa off, and the admin gate.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as t from "../../../src/bot/texts";
import type { AuthContext } from "../../../src/domain/accounts/shared";
import { type BotHarness, startBotHarness } from "../../support/bot-harness";
import { totpCode } from "../../support/totp";

const ADMIN_ID = 7007;
let h: BotHarness;
let db: pg.Client;
beforeAll(async () => {
  h = await startBotHarness({ env: { ADMIN_TELEGRAM_IDS: String(ADMIN_ID) } });
  db = new pg.Client({ connectionString: h.db.url });
  await db.connect();
});
afterAll(async () => {
  await db.end();
  await h.close();
});

async function webUser(email: string): Promise<AuthContext> {
  await h.accounts.register({ email, password: "a long unique passphrase" }, { ip: "127.0.0.1" });
  // Stands in for the owner opening the mailed link (this harness delivers no mail; the link is
  // tested in auth-email-confirmation.test.ts).
  await db.query("update users set email_confirmed_at = now() where email = $1", [email]);
  const signed = await h.accounts.login(
    { email, password: "a long unique passphrase" },
    { ip: "127.0.0.1" },
  );
  if (!("accessToken" in signed)) throw new Error("expected tokens");
  const auth = await h.accounts.authenticate(signed.accessToken);
  await h.accounts.stepUp(auth, { password: "a long unique passphrase" }, { ip: "127.0.0.1" });
  return h.accounts.authenticate(signed.accessToken);
}

const secretFrom = (text: string | undefined) => /([A-Z2-7]{32})/.exec(text ?? "")?.[1] ?? "";

async function enrol(user: ReturnType<BotHarness["tg"]["user"]>) {
  user.sendText("/2fa");
  const photo = await user.waitForBotMessage((m) => m.photo !== undefined);
  const secretMsg = await user.waitForBotMessage((m) =>
    (m.text ?? "").startsWith("Or enter this key"),
  );
  const secret = secretFrom(secretMsg.text);
  expect(secret).toHaveLength(32);
  const codeMsg = user.sendText(totpCode(secret));
  const codes = await user.waitForBotMessage((m) => (m.text ?? "").includes("backup codes"));
  const backup = [...(codes.text ?? "").matchAll(/\b([0-9a-z]{5}-[0-9a-z]{5})\b/g)].map(
    (m) => m[1]!,
  );
  return { photo, secretMsg, secret, codeMsg, codes, backup };
}

describe("Telegram accounts (S6.1)", () => {
  it("when a new user sends /start, then a Telegram-only account is created and welcomed", async () => {
    const u = h.tg.user({ id: 5001, first_name: "New" });
    u.sendText("/start");
    expect((await u.waitForBotMessage()).text).toBe(t.WELCOME);
    const { rows } = await db.query("select email, role from users where telegram_user_id = 5001");
    expect(rows).toEqual([{ email: null, role: "user" }]);
  });

  it("when /start carries a link code from the web settings, then the Telegram account is linked to that web account", async () => {
    const auth = await webUser("linker@example.com");
    const { code } = await h.accounts.issueTelegramLinkCode(auth);
    const u = h.tg.user({ id: 5002, first_name: "Linker" });
    u.sendText(`/start ${code}`);
    const question = await u.waitForBotMessage();
    expect(question.text).toBe(t.linkQuestion("l***@example.com"));
    // Nothing is linked until the user confirms.
    const { rows: before } = await db.query(
      "select telegram_user_id from users where email = 'linker@example.com'",
    );
    expect(before[0].telegram_user_id).toBeNull();
    u.pressButton(question.message_id, "link:yes");
    expect((await u.waitForBotMessage()).text).toBe(t.LINKED);
    const { rows } = await db.query(
      "select telegram_user_id::int as tg from users where email = 'linker@example.com'",
    );
    expect(rows[0].tg).toBe(5002);
    // The code worked once, and the bot never echoed it.
    const again = h.tg.user({ id: 5003, first_name: "Thief" });
    again.sendText(`/start ${code}`);
    expect((await again.waitForBotMessage()).text).toBe(
      "This link code is invalid, expired or already used. Create a new one.",
    );
    for (const m of h.tg.transcript(5002))
      if (m.from === "bot") expect(m.text ?? "").not.toContain(code);
  });

  it("when the user cancels a link, then nothing is linked and the code is spent", async () => {
    const auth = await webUser("cancel@example.com");
    const { code } = await h.accounts.issueTelegramLinkCode(auth);
    const u = h.tg.user({ id: 5007, first_name: "Careful" });
    u.sendText(`/start ${code}`);
    const question = await u.waitForBotMessage();
    u.pressButton(question.message_id, "link:no");
    expect((await u.waitForBotMessage()).text).toBe("Not linked.");
    const { rows } = await db.query(
      "select telegram_user_id from users where email = 'cancel@example.com'",
    );
    expect(rows[0].telegram_user_id).toBeNull();
    u.sendText(`/start ${code}`);
    expect((await u.waitForBotMessage()).text).toBe(
      "This link code is invalid, expired or already used. Create a new one.",
    );
  });

  it("when a link code is sent from a group, then nothing is linked and the code still works in private", async () => {
    const auth = await webUser("grouped@example.com");
    const { code } = await h.accounts.issueTelegramLinkCode(auth);
    const u = h.tg.user({ id: 5004, first_name: "Grouper" });
    u.sendText(`/start ${code}`, { chat: { id: -5004, type: "group", title: "chat" } });
    u.sendText("/help");
    await u.waitForBotMessage();
    expect(h.tg.history(-5004).filter((m) => m.from === "bot")).toEqual([]);
    const { rows } = await db.query(
      "select telegram_user_id from users where email = 'grouped@example.com'",
    );
    expect(rows[0].telegram_user_id).toBeNull();
    u.sendText(`/start ${code}`);
    const question = await u.waitForBotMessage();
    u.pressButton(question.message_id, "link:yes");
    expect((await u.waitForBotMessage()).text).toBe(t.LINKED);
  });

  it("when /link gives a code and the web account enters it, then the accounts are linked", async () => {
    const u = h.tg.user({ id: 5005, first_name: "Reverse" });
    u.sendText("/link");
    const msg = await u.waitForBotMessage();
    const code = (msg.text ?? "").split("\n").at(-1) ?? "";
    expect(code).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const auth = await webUser("reverse@example.com");
    const r = await h.accounts.linkTelegramWithBotCode(auth, code, { ip: "127.0.0.1" });
    // A second Telegram account cannot take over a linked web account (needs a new code anyway).
    const other = h.tg.user({ id: 5006, first_name: "Other" });
    other.sendText("/link");
    const otherCode = ((await other.waitForBotMessage()).text ?? "").split("\n").at(-1) ?? "";
    await expect(
      h.accounts.linkTelegramWithBotCode(auth, otherCode, { ip: "127.0.0.1" }),
    ).rejects.toThrow("already linked to a Telegram account");
    expect(r.user.telegramUserId).toBe(5005);
    await expect(
      h.accounts.linkTelegramWithBotCode(auth, code, { ip: "127.0.0.1" }),
    ).rejects.toThrow("invalid, expired or already used");
  });
});

describe("/2fa in the bot (S4)", () => {
  it("when a user enrols, then QR, key and their code disappear, the backup codes show once and vanish after 'I saved them'", async () => {
    const u = h.tg.user({ id: 5101, first_name: "Secure" });
    u.sendText("/start");
    await u.waitForBotMessage();
    const e = await enrol(u);
    expect(e.backup).toHaveLength(10);
    expect(new Set(e.backup).size).toBe(10);
    const visible = () => h.tg.history(5101).map((m) => m.message_id);
    expect(visible()).not.toContain(e.photo.message_id);
    expect(visible()).not.toContain(e.secretMsg.message_id);
    expect(visible()).not.toContain(e.codeMsg.message_id);
    expect(visible()).toContain(e.codes.message_id);

    u.pressButton(e.codes.message_id, "2fa:saved");
    expect((await u.waitForBotMessage()).text).toBe(t.CODES_REMOVED);
    expect(visible()).not.toContain(e.codes.message_id);
    const shown = h.tg
      .history(5101)
      .map((m) => m.text ?? m.caption ?? "")
      .join("\n");
    expect(shown).not.toContain(e.secret);
    for (const c of e.backup) expect(shown).not.toContain(c);

    // Stored encrypted, never in plaintext (S1.1).
    const { rows } = await db.query(
      "select totp_secret, totp_enabled_at from users where telegram_user_id = 5101",
    );
    expect(rows[0].totp_secret).toMatch(/^gAAAAA/);
    expect(rows[0].totp_enabled_at).not.toBeNull();
  });

  it("when sending the backup codes fails, then the log names the failed call and holds neither the codes nor the secret", async () => {
    const u = h.tg.user({ id: 5104, first_name: "Blocked" });
    u.sendText("/2fa");
    const secretMsg = await u.waitForBotMessage((m) =>
      (m.text ?? "").startsWith("Or enter this key"),
    );
    const secret = /([A-Z2-7]{32})/.exec(secretMsg.text ?? "")?.[1] ?? "";
    h.tg.failNext("sendMessage", {
      error_code: 403,
      description: "Forbidden: bot was blocked by the user",
    });
    u.sendText(totpCode(secret));
    await h.tg.waitForCall("sendMessage", (c) => c.ok === false);
    const deadline = Date.now() + 5_000;
    while (!h.logs.text().includes("bot update failed") && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    const failure = h.logs.lines.find((l) => l.includes("bot update failed")) ?? "";
    expect(JSON.parse(failure)).toMatchObject({
      method: "sendMessage",
      errorCode: 403,
      description: "Forbidden: bot was blocked by the user",
    });
    expect(h.logs.text()).not.toContain(secret);
    expect(h.logs.text()).not.toMatch(/[0-9a-z]{5}-[0-9a-z]{5}/);
  });

  it("when /2fa off gets a wrong code, then it stays on; with a backup code, then it is off and that code is spent", async () => {
    const u = h.tg.user({ id: 5102, first_name: "Leaver" });
    const e = await enrol(u);
    u.sendText("/2fa off");
    expect((await u.waitForBotMessage()).text).toBe(t.SEND_CODE);
    u.sendText("000000");
    expect((await u.waitForBotMessage()).text).toContain("That code is not valid.");
    u.sendText(e.backup[0]!);
    expect((await u.waitForBotMessage()).text).toBe(t.TOTP_OFF);
    const { rows } = await db.query("select totp_secret from users where telegram_user_id = 5102");
    expect(rows[0].totp_secret).toBeNull();
  });

  it("when an admin without 2FA asks for /admin, then it refuses; after enrolment and a code, then it unlocks and 2FA cannot be turned off", async () => {
    const admin = h.tg.user({ id: ADMIN_ID, first_name: "Admin" });
    admin.sendText("/admin");
    expect((await admin.waitForBotMessage()).text).toBe(t.ADMIN_NEEDS_2FA);
    const e = await enrol(admin);
    admin.sendText("/admin");
    expect((await admin.waitForBotMessage()).text).toBe(t.ADMIN_SEND_CODE);
    admin.sendText(e.backup[1]!);
    expect((await admin.waitForBotMessage()).text).toMatch(
      /^Admin commands unlocked until \d{4}-\d\d-\d\d \d\d:\d\d UTC\.$/,
    );
    admin.sendText("/2fa off");
    expect((await admin.waitForBotMessage()).text).toBe(t.ADMIN_CANNOT_DISABLE);
  });

  it("when a non-admin sends /admin, then it looks like an unknown command", async () => {
    const u = h.tg.user({ id: 5103, first_name: "Curious" });
    u.sendText("/admin");
    expect((await u.waitForBotMessage()).text).toBe(t.unknownCommand("/admin"));
  });
});
