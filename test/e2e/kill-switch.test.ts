// The kill switch across processes: the service runs (api + bot roles) in one process, the
// signer (which re-checks the switch itself) in another, the
// operator's CLI in a third. The next trade action after `trading pause` returns — over HTTP and
// in Telegram — is refused; after `trading resume` returns, the next one works again.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHOOSE_VENUE } from "../../src/bot/features/keys";
import {
  createTestDatabase,
  createTestRedis,
  type TestDatabase,
  testEnv,
} from "../support/context";
import { baseEnv, freePort, type Spawned, spawnProcess, waitForHttp } from "../support/process";
import { startTelegramEmulator, type TelegramEmulator } from "../support/telegram";

const redis = createTestRedis();
let db: TestDatabase;
let tg: TelegramEmulator;
let service: Spawned;
let signer: Spawned | undefined;
let base: string;
let env: Record<string, string | undefined>;

beforeAll(async () => {
  db = await createTestDatabase();
  tg = await startTelegramEmulator();
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  env = testEnv({
    PORT: String(port),
    PUBLIC_URL: base,
    DATABASE_URL: db.url,
    REDIS_URL: redis.url,
    REDIS_PREFIX: redis.prefix,
    TELEGRAM_BOT_TOKEN: tg.token,
    TELEGRAM_API_ROOT: tg.apiRoot,
    BCRYPT_COST: "4",
    HIBP_FAIL_MODE: "open",
    HIBP_API_URL: "http://127.0.0.1:9",
    LOG_LEVEL: "info",
  });
  // api and bot without MASTER_KEYS: only the signer holds the exchange-key ring (issue 19).
  service = spawnProcess(
    "node",
    ["--import", "tsx", "src/main.ts", "--roles", "api,bot"],
    baseEnv({ ...env, MASTER_KEYS: undefined }),
  );
  // The signer in a process of its own: api and bot send their trades to it as intents.
  signer = spawnProcess(
    "node",
    ["--import", "tsx", "src/main.ts", "--roles", "signer"],
    baseEnv(env),
  );
  await waitForHttp(`${base}/readyz`, 200, 90_000);
  await service.waitForOutput(/Warden started/, 60_000);
  await signer.waitForOutput(/Warden started/, 60_000);
}, 180_000);

afterAll(async () => {
  service?.kill("SIGKILL");
  signer?.kill("SIGKILL");
  await service?.exited;
  await signer?.exited;
  await tg?.close();
  await redis.cleanup();
  await db?.drop();
});

async function cli(...args: string[]) {
  const p = spawnProcess("node", ["--import", "tsx", "src/cli.ts", ...args], baseEnv(env));
  const { code } = await p.exited;
  return { code, out: p.output() };
}

// biome-ignore lint/suspicious/noExplicitAny: answers are JSON whose shape the assertions check
type Json = Record<string, any>;
async function api(method: string, path: string, body?: unknown, token?: string) {
  const res = await fetch(`${base}${path}`, {
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

/**
 * Stands in for the owner opening the mailed confirmation link (no worker delivers mail in
 * this file; the link itself is tested in auth-email-confirmation.test.ts).
 */
async function confirmedByOwner(email: string): Promise<void> {
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  await c.query("update users set email_confirmed_at = now() where email = $1", [email]);
  await c.end();
}

/** The Confirm button's data of an order confirmation (issue 17). */
function confirmData(m: { reply_markup?: unknown }): string {
  const kb = m.reply_markup as { inline_keyboard: Array<Array<{ callback_data: string }>> };
  return kb.inline_keyboard[0]![0]!.callback_data;
}

describe("kill switch across processes", () => {
  it("when the CLI pauses trading, then the next API and bot trade actions are refused; closes only when the pause blocks them; after resume they work", async () => {
    // An API user and a Telegram user, each with a paper key and an open trade.
    const creds = { email: "halt@example.com", password: "a long unique passphrase" };
    expect((await api("POST", "/api/auth/register", creds)).status).toBe(202);
    await confirmedByOwner(creds.email);
    const token = (await api("POST", "/api/auth/login", creds)).body.accessToken as string;
    expect(
      (await api("POST", "/api/auth/step-up", { password: creds.password }, token)).status,
    ).toBe(200);
    const keyId = (await api("POST", "/api/keys", { venue: "paper" }, token)).body.key.id as string;
    const open = (symbol: string) =>
      api("POST", "/api/trades", { confirm: true, symbol, side: "long", size: 0.01, keyId }, token);
    const first = await open("BTC");
    expect(first.status).toBe(201);

    const u = tg.user({ id: 8_801, first_name: "Halt" });
    u.sendText("/connect");
    const menu = await u.waitForBotMessage((m) => m.text === CHOOSE_VENUE);
    u.pressButton(menu.message_id, "connect:paper");
    await u.waitForBotMessage((m) => (m.text ?? "").startsWith("✅ Stored"));
    u.sendText("/open BTC long 0.01");
    const quoted = await u.waitForBotMessage();
    u.pressButton(quoted.message_id, confirmData(quoted));
    const botTrade = /^✅ Opened #(\d+)/.exec((await u.waitForBotMessage()).text ?? "")?.[1];
    expect(botTrade).toBeDefined();

    // The pause, from another process.
    const paused = await cli("trading", "pause", "--reason", "incident drill");
    expect(paused.out).toMatch(/trading paused for everyone: opens and changes are refused/);
    expect(paused.code).toBe(0);

    const refused = await open("ETH");
    expect(refused.status).toBe(503);
    expect(refused.body).toMatchObject({ error: "trading_paused", scope: "global" });
    expect(refused.body.message).toMatch(/paused/);
    const modify = await api("PATCH", `/api/trades/${first.body.trade.id}`, { stopLoss: 1 }, token);
    expect(modify.status).toBe(503);
    expect(modify.body.error).toBe("trading_paused");
    u.sendText("/open ETH long 0.01");
    expect((await u.waitForBotMessage()).text).toBe(
      "⏸ Trading is paused by Warden's operators: opening and changing trades is refused for now. You can still close positions.",
    );
    // Closing reduces risk: still allowed by a plain pause.
    const closed = await api("POST", `/api/trades/${first.body.trade.id}/close`, undefined, token);
    expect(closed.status).toBe(200);
    expect((await cli("trading", "status")).out).toMatch(
      /^everyone: paused since \S+ by the CLI — incident drill$/m,
    );

    // A pause that blocks closes too.
    expect((await cli("trading", "pause", "--block-close")).code).toBe(0);
    u.sendText(`/close ${botTrade}`);
    const confirm = await u.waitForBotMessage((m) => (m.text ?? "").startsWith("Close #"));
    u.pressButton(confirm.message_id, `close:${botTrade}`);
    expect((await u.waitForBotMessage((m) => (m.text ?? "").startsWith("⏸"))).text).toBe(
      "⏸ Trading is paused by Warden's operators: no trade action is accepted for now.",
    );
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    const status = await c.query("select status from trades where id = $1", [botTrade]);
    expect(status.rows).toEqual([{ status: "open" }]);

    // Resumed from the CLI: the very next actions work.
    const resumed = await cli("trading", "resume");
    expect(resumed.out).toMatch(/trading resumed for everyone/);
    expect((await open("ETH")).status).toBe(201);
    u.sendText(`/close ${botTrade}`);
    const again = await u.waitForBotMessage((m) => (m.text ?? "").startsWith("Close #"));
    u.pressButton(again.message_id, `close:${botTrade}`);
    expect((await u.waitForBotMessage((m) => (m.text ?? "").startsWith("✅"))).text).toMatch(
      new RegExp(`^✅ Closed #${botTrade} closed`),
    );

    const events = await c.query(
      "select kind, details->'by'->>'via' as via from security_events where kind like 'trading_%' order by id",
    );
    await c.end();
    expect(events.rows).toEqual([
      { kind: "trading_paused", via: "cli" },
      { kind: "trading_paused", via: "cli" },
      { kind: "trading_resumed", via: "cli" },
    ]);
  }, 180_000);

  it("when the CLI pauses one user, then that user's API opens are refused with scope account", async () => {
    const creds = { email: "one@example.com", password: "a long unique passphrase" };
    await api("POST", "/api/auth/register", creds);
    await confirmedByOwner(creds.email);
    const token = (await api("POST", "/api/auth/login", creds)).body.accessToken as string;
    expect(
      (await api("POST", "/api/auth/step-up", { password: creds.password }, token)).status,
    ).toBe(200);
    const keyId = (await api("POST", "/api/keys", { venue: "paper" }, token)).body.key.id as string;
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    const id = (await c.query("select id::text as id from users where email = $1", [creds.email]))
      .rows[0].id as string;
    await c.end();
    expect((await cli("trading", "pause", "--user", id)).code).toBe(0);
    const refused = await api(
      "POST",
      "/api/trades",
      { confirm: true, symbol: "SOL", side: "long", size: 1, keyId },
      token,
    );
    expect(refused.status).toBe(503);
    expect(refused.body).toMatchObject({ error: "trading_paused", scope: "account" });
    const unknown = await cli("trading", "pause", "--user", "99999999");
    expect(unknown.out).toMatch(/No user #99999999/);
    expect(unknown.code).toBe(1);
    expect((await cli("trading", "resume", "--user", id)).code).toBe(0);
  }, 120_000);
});
