// The kill switch in Telegram: /pause and /resume work only for an admin with 2FA who unlocked
// admin commands with a code (S4.4); anyone else sees an unknown command. A pause refuses the
// next /open of the users it covers and is recorded as a security event naming the admin.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHOOSE_VENUE } from "../../../src/bot/features/keys";
import * as t from "../../../src/bot/texts";
import { type BotHarness, startBotHarness } from "../../support/bot-harness";
import { totpCode } from "../../support/totp";

const ADMIN_ID = 7107;
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

type User = ReturnType<BotHarness["tg"]["user"]>;

async function enrolAndUnlock(admin: User) {
  admin.sendText("/2fa");
  const secretMsg = await admin.waitForBotMessage((m) =>
    (m.text ?? "").startsWith("Or enter this key"),
  );
  const secret = /([A-Z2-7]{32})/.exec(secretMsg.text ?? "")?.[1] ?? "";
  admin.sendText(totpCode(secret));
  const codes = await admin.waitForBotMessage((m) => (m.text ?? "").includes("backup codes"));
  const backup = [...(codes.text ?? "").matchAll(/\b([0-9a-z]{5}-[0-9a-z]{5})\b/g)].map(
    (m) => m[1]!,
  );
  return {
    unlock: async () => {
      admin.sendText("/admin");
      expect((await admin.waitForBotMessage()).text).toBe(t.ADMIN_SEND_CODE);
      admin.sendText(backup[0]!);
      expect((await admin.waitForBotMessage()).text).toMatch(/^Admin commands unlocked until/);
    },
  };
}

async function trader(id: number): Promise<{ u: User; userId: string }> {
  const u = h.tg.user({ id, first_name: "Trader" });
  u.sendText("/connect");
  const menu = await u.waitForBotMessage((m) => m.text === CHOOSE_VENUE);
  u.pressButton(menu.message_id, "connect:paper");
  await u.waitForBotMessage((m) => (m.text ?? "").startsWith("✅ Stored"));
  const { rows } = await db.query("select id::text as id from users where telegram_user_id = $1", [
    id,
  ]);
  return { u, userId: rows[0].id as string };
}

const pauses = async () =>
  (await db.query("select count(*)::int as n from trading_pauses")).rows[0].n;

/** The Confirm button's data of an order confirmation (issue 17). */
function confirmData(m: { reply_markup?: unknown }): string {
  const kb = m.reply_markup as { inline_keyboard: Array<Array<{ callback_data: string }>> };
  return kb.inline_keyboard[0]![0]!.callback_data;
}

describe("/pause and /resume (kill switch in the bot)", () => {
  it("when a user who is not an admin sends /pause, then it looks like an unknown command and nothing is paused", async () => {
    const u = h.tg.user({ id: 7201, first_name: "Mallory" });
    u.sendText("/pause");
    expect((await u.waitForBotMessage()).text).toBe(t.unknownCommand("/pause"));
    u.sendText("/resume");
    expect((await u.waitForBotMessage()).text).toBe(t.unknownCommand("/resume"));
    expect(await pauses()).toBe(0);
  });

  it("when an admin pauses one user and then everyone, then the next /open of those users is refused, each pull is a security event, and /resume lifts it", async () => {
    const admin = h.tg.user({ id: ADMIN_ID, first_name: "Admin" });
    admin.sendText("/pause");
    expect((await admin.waitForBotMessage()).text).toBe(t.ADMIN_NEEDS_2FA);
    const gate = await enrolAndUnlock(admin);
    admin.sendText("/pause");
    expect((await admin.waitForBotMessage()).text).toBe(
      "Admin commands are locked: send /admin and your code first.",
    );
    expect(await pauses()).toBe(0);
    await gate.unlock();

    const a = await trader(7301);
    const b = await trader(7302);
    admin.sendText(`/pause ${a.userId} suspicious logins`);
    expect((await admin.waitForBotMessage()).text).toBe(
      `⏸ Trading paused for user #${a.userId}: opens and changes are refused; closes still work. /resume lifts it.`,
    );
    a.u.sendText("/open BTC long 0.01");
    expect((await a.u.waitForBotMessage()).text).toBe(
      "⏸ Trading on your account is paused by an administrator: opening and changing trades is refused for now. You can still close positions.",
    );
    b.u.sendText("/open BTC long 0.01");
    const quoted = await b.u.waitForBotMessage();
    b.u.pressButton(quoted.message_id, confirmData(quoted));
    expect((await b.u.waitForBotMessage()).text).toMatch(/^✅ Opened #\d+/);

    admin.sendText("/pause block-close");
    expect((await admin.waitForBotMessage()).text).toBe(
      "⏸ Trading paused for everyone: every trade action is refused, closes too. /resume lifts it.",
    );
    b.u.sendText("/open ETH long 0.01");
    expect((await b.u.waitForBotMessage()).text).toBe(
      "⏸ Trading is paused by Warden's operators: no trade action is accepted for now.",
    );

    admin.sendText("/resume");
    expect((await admin.waitForBotMessage()).text).toBe("▶️ Trading resumed for everyone.");
    admin.sendText(`/resume ${a.userId}`);
    expect((await admin.waitForBotMessage()).text).toBe(`▶️ Trading resumed for user #${a.userId}.`);
    admin.sendText(`/resume ${a.userId}`);
    expect((await admin.waitForBotMessage()).text).toBe(
      `Trading was not paused for user #${a.userId}.`,
    );
    a.u.sendText("/open ETH long 0.01");
    const quotedA = await a.u.waitForBotMessage();
    a.u.pressButton(quotedA.message_id, confirmData(quotedA));
    expect((await a.u.waitForBotMessage()).text).toMatch(/^✅ Opened #\d+/);

    const adminId = (
      await db.query("select id::text as id from users where telegram_user_id = $1", [ADMIN_ID])
    ).rows[0].id as string;
    const { rows } = await db.query(
      "select kind, outcome, user_id::text as user_id, details from security_events where kind like 'trading_%' order by id",
    );
    expect(rows.map((r) => [r.kind, r.outcome, r.user_id])).toEqual([
      ["trading_paused", "ok", a.userId],
      ["trading_paused", "ok", null],
      ["trading_resumed", "ok", null],
      ["trading_resumed", "ok", a.userId],
      ["trading_resumed", "refused", a.userId],
    ]);
    expect(rows[0].details).toMatchObject({
      by: { via: "telegram", adminUserId: adminId },
      reason: "suspicious logins",
      blocksClose: false,
    });
    expect(rows[1].details).toMatchObject({ target: "global", blocksClose: true });
  }, 60_000);

  it("when an admin pauses an unknown user, then the bot says so and nothing is paused", async () => {
    const admin = h.tg.user({ id: ADMIN_ID, first_name: "Admin" });
    admin.sendText("/pause 987654321");
    expect((await admin.waitForBotMessage()).text).toBe("No user #987654321.");
    expect(await pauses()).toBe(0);
  });
});
