// Development: the paper venue is the default — /start gives a new user a paper account, and
// linking a web account later still works (the Telegram-only account holds nothing but paper).
import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { LINKED, PAPER_READY, WELCOME } from "../../../src/bot/texts";
import { type BotHarness, startBotHarness } from "../../support/bot-harness";

let h: BotHarness;
beforeAll(async () => {
  h = await startBotHarness({ paperByDefault: true });
});
afterAll(() => h.close());

it("when a new user starts the bot in development, then a paper account is ready, and a later web link still merges it", async () => {
  const u = h.tg.user({ id: 7101, first_name: "Dev" });
  u.sendText("/start");
  expect((await u.waitForBotMessage()).text).toBe(WELCOME);
  expect((await u.waitForBotMessage()).text).toBe(PAPER_READY);
  u.sendText("/keys");
  expect((await u.waitForBotMessage()).text).toMatch(
    /^Your keys:\n#\d+ Paper — Paper — paper-[0-9a-f]{16} — scopes: trade, read/,
  );

  await h.accounts.register(
    { email: "dev@example.com", password: "a long unique passphrase" },
    { ip: "127.0.0.1" },
  );
  // Stands in for the owner opening the mailed link (this harness delivers no mail).
  const confirm = new pg.Client({ connectionString: h.db.url });
  await confirm.connect();
  await confirm.query("update users set email_confirmed_at = now() where email = $1", [
    "dev@example.com",
  ]);
  await confirm.end();
  const signed = await h.accounts.login(
    { email: "dev@example.com", password: "a long unique passphrase" },
    { ip: "127.0.0.1" },
  );
  if (!("accessToken" in signed)) throw new Error("expected tokens");
  // A link code is a sensitive action: the session steps up with its password first.
  await h.accounts.stepUp(
    await h.accounts.authenticate(signed.accessToken),
    { password: "a long unique passphrase" },
    { ip: "127.0.0.1" },
  );
  const { code } = await h.accounts.issueTelegramLinkCode(
    await h.accounts.authenticate(signed.accessToken),
  );
  u.sendText(`/start ${code}`);
  const question = await u.waitForBotMessage();
  u.pressButton(question.message_id, "link:yes");
  expect((await u.waitForBotMessage()).text).toBe(LINKED);
  const db = new pg.Client({ connectionString: h.db.url });
  await db.connect();
  const { rows } = await db.query("select email from users where telegram_user_id = 7101");
  await db.end();
  expect(rows).toEqual([{ email: "dev@example.com" }]);
});
