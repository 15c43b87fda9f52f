// The memory scan of issue 19: the api and the bot run in a process without MASTER_KEYS, the
// signer in a process of its own. After a key is connected through the API and another through
// the bot (a pasted message), and a trade is opened and closed through each, a heap snapshot of
// the api+bot process holds neither key's secret nor its api key, no MASTER_KEYS entry and not
// the signer's intake private key. The signer's own memory is not scanned: it is the process
// that decrypts.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHECKING, CHOOSE_VENUE } from "../../src/bot/features/keys";
import { generateIntakeKey } from "../../src/domain/vault";
import {
  createTestDatabase,
  createTestRedis,
  fernetKey,
  type TestDatabase,
  testEnv,
} from "../support/context";
import { heapSnapshotArgs, takeHeapSnapshot } from "../support/heap-snapshot";
import { baseEnv, freePort, type Spawned, spawnProcess, waitForHttp } from "../support/process";
import { startTelegramEmulator, type TelegramEmulator } from "../support/telegram";
import {
  BINANCE_DEFAULT_RESTRICTIONS,
  type FakeBinance,
  startFakeBinance,
} from "../support/venues/binance";

const hex = (n: number) => randomBytes(n).toString("hex");
const apiKey = { apiKey: `HA${hex(30)}`, secret: `HS${hex(30)}` };
const botKey = { apiKey: `HB${hex(30)}`, secret: `HT${hex(30)}` };
const masterKeys = [fernetKey(), fernetKey()];
const intakeKey = generateIntakeKey();

const redis = createTestRedis();
let db: TestDatabase;
let tg: TelegramEmulator;
let binance: FakeBinance;
let service: Spawned | undefined;
let signer: Spawned | undefined;
let base: string;
let snapshots: string;

beforeAll(async () => {
  snapshots = mkdtempSync(join(tmpdir(), "warden-heap-"));
  db = await createTestDatabase();
  tg = await startTelegramEmulator();
  binance = await startFakeBinance({
    keys: {
      [apiKey.apiKey]: { secret: apiKey.secret, restrictions: BINANCE_DEFAULT_RESTRICTIONS },
      [botKey.apiKey]: { secret: botKey.secret, restrictions: BINANCE_DEFAULT_RESTRICTIONS },
    },
  });
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const env = testEnv({
    PORT: String(port),
    PUBLIC_URL: base,
    DATABASE_URL: db.url,
    REDIS_URL: redis.url,
    REDIS_PREFIX: redis.prefix,
    TELEGRAM_BOT_TOKEN: tg.token,
    TELEGRAM_API_ROOT: tg.apiRoot,
    VENUE_URL_BINANCEUSDM: binance.url,
    BCRYPT_COST: "4",
    HIBP_FAIL_MODE: "open",
    HIBP_API_URL: "http://127.0.0.1:9",
    LOG_LEVEL: "info",
    MASTER_KEYS: undefined,
    SIGNER_INTAKE_KEY: undefined,
  });
  // The signer alone holds MASTER_KEYS and the intake private key; it starts first so that its
  // intake public key is published before a key is pasted.
  signer = spawnProcess(
    "node",
    ["--import", "tsx", "src/main.ts", "--roles", "signer"],
    baseEnv({
      ...env,
      MASTER_KEYS: masterKeys.map((k, i) => `${i + 1}:${k}`).join(","),
      SIGNER_INTAKE_KEY: `1:${intakeKey}`,
    }),
  );
  await signer.waitForOutput(/Warden started/, 90_000);
  service = spawnProcess(
    "node",
    [...heapSnapshotArgs(snapshots), "--import", "tsx", "src/main.ts", "--roles", "api,bot"],
    baseEnv(env),
  );
  await waitForHttp(`${base}/readyz`, 200, 90_000);
  await service.waitForOutput(/Warden started/, 60_000);
}, 240_000);

afterAll(async () => {
  service?.kill("SIGKILL");
  signer?.kill("SIGKILL");
  await service?.exited;
  await signer?.exited;
  await tg?.close();
  await binance?.close();
  await redis.cleanup();
  await db?.drop();
  if (snapshots) rmSync(snapshots, { recursive: true, force: true });
});

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

/** The Confirm button's data of an order confirmation. */
function confirmData(m: { reply_markup?: unknown }): string {
  const kb = m.reply_markup as { inline_keyboard: Array<Array<{ callback_data: string }>> };
  return kb.inline_keyboard[0]![0]!.callback_data;
}

describe("heap snapshot of the api and bot process (issue 19)", () => {
  it("when a key is connected and a trade opened and closed through the API and through the bot, then a heap snapshot of the api+bot process holds no key secret, no api key, no master key and not the intake private key", async () => {
    // Through the API: register, confirm (the owner's link, stood in by SQL), step up, connect.
    const creds = { email: "heap@example.com", password: "a long unique passphrase" };
    expect((await api("POST", "/api/auth/register", creds)).status).toBe(202);
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    await c.query("update users set email_confirmed_at = now() where email = $1", [creds.email]);
    const token = (await api("POST", "/api/auth/login", creds)).body.accessToken as string;
    expect(
      (await api("POST", "/api/auth/step-up", { password: creds.password }, token)).status,
    ).toBe(200);
    const connected = await api(
      "POST",
      "/api/keys",
      { venue: "binanceusdm", label: "heap", ...apiKey },
      token,
    );
    expect(connected.status).toBe(201);
    expect(connected.body.key.keyHint).toBe(
      `${apiKey.apiKey.slice(0, 4)}…${apiKey.apiKey.slice(-4)}`,
    );
    const paperId = (await api("POST", "/api/keys", { venue: "paper" }, token)).body.key
      .id as string;
    const opened = await api(
      "POST",
      "/api/trades",
      { confirm: true, symbol: "BTC", side: "long", size: 0.01, keyId: paperId },
      token,
    );
    expect(opened.status).toBe(201);
    const closed = await api("POST", `/api/trades/${opened.body.trade.id}/close`, undefined, token);
    expect(closed.status).toBe(200);

    // Through the bot: the key pasted in one message (deleted at once), then a paper trade.
    const u = tg.user({ id: 8_901, first_name: "Heap" });
    u.sendText("/connect");
    const menu = await u.waitForBotMessage((m) => m.text === CHOOSE_VENUE, 30_000);
    u.pressButton(menu.message_id, "connect:binanceusdm");
    await u.waitForBotMessage((m) => (m.text ?? "").includes("paste in ONE message"), 30_000);
    const pasted = u.sendText(`${botKey.apiKey}\n${botKey.secret}`);
    const stored = await u.waitForBotMessage(
      (m) => m.text !== CHECKING && !(m.text ?? "").includes("paste in ONE message"),
      60_000,
    );
    expect(stored.text).toContain("✅ Stored, encrypted.");
    expect(tg.transcript(8_901).find((m) => m.message_id === pasted.message_id)?.deleted).toBe(
      true,
    );
    u.sendText("/connect");
    const menu2 = await u.waitForBotMessage((m) => m.text === CHOOSE_VENUE, 30_000);
    u.pressButton(menu2.message_id, "connect:paper");
    await u.waitForBotMessage((m) => (m.text ?? "").startsWith("✅ Stored"), 30_000);
    u.sendText("/open BTC long 0.01");
    const quoted = await u.waitForBotMessage((m) => Boolean(m.reply_markup), 30_000);
    u.pressButton(quoted.message_id, confirmData(quoted));
    const botTrade = /^✅ Opened #(\d+)/.exec(
      (await u.waitForBotMessage((m) => (m.text ?? "").startsWith("✅ Opened"), 30_000)).text ?? "",
    )?.[1];
    expect(botTrade).toBeDefined();
    u.sendText(`/close ${botTrade}`);
    const confirm = await u.waitForBotMessage((m) => (m.text ?? "").startsWith("Close #"), 30_000);
    u.pressButton(confirm.message_id, `close:${botTrade}`);
    expect(
      (await u.waitForBotMessage((m) => (m.text ?? "").startsWith("✅ Closed"), 30_000)).text,
    ).toMatch(new RegExp(`^✅ Closed #${botTrade}`));

    // Both keys are stored, by the signer, under its master key ring.
    const rows = await c.query(
      "select encryption_key_version as v from exchange_credentials where venue = 'binanceusdm'",
    );
    await c.end();
    expect(rows.rows).toEqual([{ v: 2 }, { v: 2 }]);

    const heap = await takeHeapSnapshot(service as Spawned, snapshots);
    const needles: Record<string, string> = {
      "API key's secret": apiKey.secret,
      "API key's api key": apiKey.apiKey,
      "bot key's secret": botKey.secret,
      "bot key's api key": botKey.apiKey,
      "SIGNER_INTAKE_KEY private key": intakeKey,
      ...Object.fromEntries(masterKeys.map((k, i) => [`MASTER_KEYS version ${i + 1}`, k])),
    };
    const found = Object.entries(needles)
      .filter(([, value]) => heap.includes(value))
      .map(([name]) => name);
    expect(found, "secrets in the api+bot process's heap").toEqual([]);
    // The scan does see configuration strings: the bot token, which this process holds, is there.
    expect(heap.includes(tg.token), "the bot token in the heap (the scan's control)").toBe(true);
  }, 300_000);
});
