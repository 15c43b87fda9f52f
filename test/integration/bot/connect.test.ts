// Key onboarding through the Telegram emulator against fake venues (S1.5, S7): /connect for the
// paper venue, Binance and Hyperliquid; the pasted message disappears at once, the secret never
// appears in a bot message, PostgreSQL or Redis; /keys rotate and revoke; re-verification.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHECKING, CHOOSE_VENUE } from "../../../src/bot/features/keys";
import { evmAddressOf } from "../../../src/infra/venues/hyperliquid";
import { type BotHarness, runOnSigner, startBotHarness } from "../../support/bot-harness";
import { scanPostgres, scanRedis } from "../../support/secret-scan";
import { totpCode } from "../../support/totp";
import {
  BINANCE_DEFAULT_RESTRICTIONS,
  type FakeBinance,
  startFakeBinance,
} from "../../support/venues/binance";
import { type FakeHyperliquid, startFakeHyperliquid } from "../../support/venues/hyperliquid";

const hex = (n: number) => randomBytes(n).toString("hex");
const binanceKey = { apiKey: `AK${hex(30)}`, secret: `SK${hex(30)}` };
const refusedKey = { apiKey: `RK${hex(30)}`, secret: `RS${hex(30)}` };
const rotatedKey = { apiKey: `NK${hex(30)}`, secret: `NS${hex(30)}` };
const masterPk = randomBytes(32);
const agentPk = randomBytes(32);
const master = evmAddressOf(masterPk);
const agent = evmAddressOf(agentPk);
const allSecrets = [
  binanceKey.secret,
  refusedKey.secret,
  rotatedKey.secret,
  agentPk.toString("hex"),
  masterPk.toString("hex"),
];

let binance: FakeBinance;
let hl: FakeHyperliquid;
let h: BotHarness;
let db: pg.Client;

beforeAll(async () => {
  binance = await startFakeBinance({
    keys: {
      [binanceKey.apiKey]: {
        secret: binanceKey.secret,
        restrictions: BINANCE_DEFAULT_RESTRICTIONS,
      },
      [refusedKey.apiKey]: {
        secret: refusedKey.secret,
        restrictions: { ...BINANCE_DEFAULT_RESTRICTIONS, enableWithdrawals: true },
      },
      [rotatedKey.apiKey]: {
        secret: rotatedKey.secret,
        restrictions: BINANCE_DEFAULT_RESTRICTIONS,
      },
    },
  });
  hl = await startFakeHyperliquid({
    roles: { [agent.toLowerCase()]: { role: "agent", master: master.toLowerCase() } },
  });
  h = await startBotHarness({
    env: {
      VENUE_URL_BINANCEUSDM: binance.url,
      VENUE_URL_HYPERLIQUID: hl.url,
      WARDEN_EGRESS_IPS: "203.0.113.7",
    },
  });
  db = new pg.Client({ connectionString: h.db.url });
  await db.connect();
});
afterAll(async () => {
  await db.end();
  await h.close();
  await binance.close();
  await hl.close();
});

type U = ReturnType<BotHarness["tg"]["user"]>;

async function choose(u: U, venue: string) {
  u.sendText("/connect");
  const menu = await u.waitForBotMessage((m) => m.text === CHOOSE_VENUE);
  u.pressButton(menu.message_id, `connect:${venue}`);
}

async function paste(u: U, text: string) {
  await u.waitForBotMessage((m) => (m.text ?? "").includes("paste in ONE message"));
  const pasted = u.sendText(text);
  const result = await u.waitForBotMessage((m) => m.text !== CHECKING, 15_000);
  return { pasted, result };
}

function noSecretInBotMessages(chatId: number, secrets: string[]) {
  for (const m of h.tg.transcript(chatId)) {
    if (m.from !== "bot") continue;
    for (const s of secrets) expect(m.text ?? m.caption ?? "").not.toContain(s);
  }
}

describe("/connect", () => {
  it("when a user connects the paper venue, then it is stored at once and listed by /keys", async () => {
    const u = h.tg.user({ id: 6001, first_name: "Paper" });
    await choose(u, "paper");
    const stored = await u.waitForBotMessage();
    expect(stored.text).toMatch(
      /^✅ Stored, encrypted\. #\d+ Paper — Paper — paper-[0-9a-f]{16} — scopes: trade, read/,
    );
    u.sendText("/keys");
    expect((await u.waitForBotMessage()).text).toMatch(/^Your keys:\n#\d+ Paper — Paper — paper-/);
  });

  it("when a trade-only Binance key is pasted, then the message is deleted at once, the key is stored encrypted and shown masked", async () => {
    const u = h.tg.user({ id: 6002, first_name: "Bina" });
    await choose(u, "binanceusdm");
    const { pasted, result } = await paste(u, `${binanceKey.apiKey}\n${binanceKey.secret}`);
    const instructions =
      h.tg.history(6002).find((m) => (m.text ?? "").includes("tick ONLY"))?.text ?? "";
    expect(instructions).toContain("tick ONLY: “Enable Reading” and “Enable Futures”");
    expect(instructions).toContain("203.0.113.7");
    expect(result.text).toContain(
      `Binance USD-M — Binance USD-M — ${binanceKey.apiKey.slice(0, 4)}…${binanceKey.apiKey.slice(-4)}`,
    );
    expect(result.text).toContain("scopes:");
    // The pasted message is gone from the chat; the transcript shows it was deleted.
    expect(h.tg.history(6002).map((m) => m.message_id)).not.toContain(pasted.message_id);
    expect(h.tg.transcript(6002).find((m) => m.message_id === pasted.message_id)?.deleted).toBe(
      true,
    );
    noSecretInBotMessages(6002, [binanceKey.secret, binanceKey.apiKey]);
    const { rows } = await db.query(
      "select api_key, secret, key_hint, verified_scopes from exchange_credentials c join users u on u.id = c.user_id where u.telegram_user_id = 6002",
    );
    expect(rows[0].api_key).toMatch(/^gAAAAA/);
    expect(rows[0].secret).toMatch(/^gAAAAA/);
    expect(rows[0].key_hint).toBe(
      `${binanceKey.apiKey.slice(0, 4)}…${binanceKey.apiKey.slice(-4)}`,
    );
  });

  it("when a Binance key allows withdrawals, then it is refused naming enableWithdrawals and nothing is stored", async () => {
    const u = h.tg.user({ id: 6003, first_name: "Greedy" });
    await choose(u, "binanceusdm");
    const { result } = await paste(u, `${refusedKey.apiKey} ${refusedKey.secret}`);
    expect(result.text).toMatch(/^Refused: this Binance USD-M key is not trade-only\./);
    expect(result.text).toContain("enableWithdrawals");
    const { rows } = await db.query(
      "select count(*)::int as n from exchange_credentials c join users u on u.id = c.user_id where u.telegram_user_id = 6003",
    );
    expect(rows[0].n).toBe(0);
  });

  it("when the venue rejects the key, then it is refused as an invalid key", async () => {
    const u = h.tg.user({ id: 6004, first_name: "Typo" });
    await choose(u, "binanceusdm");
    const { result } = await paste(u, `${binanceKey.apiKey} ${hex(32)}`);
    expect(result.text).toContain("rejected this key (invalid key)");
  });

  it("when a Hyperliquid agent key is pasted, then it is accepted; the master's own key is refused", async () => {
    const u = h.tg.user({ id: 6005, first_name: "Hyper" });
    await choose(u, "hyperliquid");
    const ok = await paste(u, `${master} 0x${agentPk.toString("hex")}`);
    expect(ok.result.text).toContain("✅ Stored, encrypted.");
    await choose(u, "hyperliquid");
    const bad = await paste(u, `${master} 0x${masterPk.toString("hex")}`);
    expect(bad.result.text).toContain("master_private_key");
    noSecretInBotMessages(6005, [agentPk.toString("hex"), masterPk.toString("hex")]);
  });

  it("when the user has 2FA, then /connect asks for a code before the key material", async () => {
    const u = h.tg.user({ id: 6006, first_name: "Careful" });
    u.sendText("/2fa");
    const secretMsg = await u.waitForBotMessage((m) =>
      (m.text ?? "").startsWith("Or enter this key"),
    );
    const secret = /([A-Z2-7]{32})/.exec(secretMsg.text ?? "")?.[1] ?? "";
    u.sendText(totpCode(secret));
    const codes = await u.waitForBotMessage((m) => (m.text ?? "").includes("backup codes"));
    const backup = [...(codes.text ?? "").matchAll(/\b([0-9a-z]{5}-[0-9a-z]{5})\b/g)].map(
      (m) => m[1]!,
    );
    // Enrolment itself counts as a step-up for 5 minutes; expire it to see the prompt.
    const { Redis } = await import("ioredis");
    const r = new Redis(h.redis.url, { keyPrefix: h.redis.prefix });
    const user = await h.accounts.findByTelegramId(6006);
    await r.del(`bot:verified:step_up:${user!.id}`);
    r.disconnect();
    await choose(u, "paper");
    expect((await u.waitForBotMessage()).text).toMatch(/^This is a sensitive action\./);
    u.sendText(backup[0]!);
    expect((await u.waitForBotMessage()).text).toMatch(/^✅ Stored, encrypted\./);
  });
});

describe("/keys", () => {
  it("when a key is rotated, then the new key is verified and the old material is overwritten", async () => {
    const u = h.tg.user({ id: 6002, first_name: "Bina" });
    const { rows: before } = await db.query(
      "select c.id::text as id, api_key from exchange_credentials c join users u on u.id = c.user_id where u.telegram_user_id = 6002 and venue = 'binanceusdm'",
    );
    u.sendText("/keys");
    const list = await u.waitForBotMessage((m) => (m.text ?? "").startsWith("Your keys:"));
    u.pressButton(list.message_id, `keys:rotate:${before[0].id}`);
    const { result } = await paste(u, `${rotatedKey.apiKey} ${rotatedKey.secret}`);
    expect(result.text).toContain(`🔁 Rotated. #${before[0].id}`);
    expect(result.text).toContain(
      `${rotatedKey.apiKey.slice(0, 4)}…${rotatedKey.apiKey.slice(-4)}`,
    );
    const { rows: after } = await db.query(
      "select api_key from exchange_credentials where id = $1",
      [before[0].id],
    );
    expect(after[0].api_key).not.toBe(before[0].api_key);
  });

  it("when a key is revoked after confirmation, then its material is deleted and the row stays", async () => {
    const u = h.tg.user({ id: 6002, first_name: "Bina" });
    const { rows } = await db.query(
      "select c.id::text as id from exchange_credentials c join users u on u.id = c.user_id where u.telegram_user_id = 6002 and venue = 'binanceusdm'",
    );
    u.sendText("/keys");
    const list = await u.waitForBotMessage((m) => (m.text ?? "").startsWith("Your keys:"));
    u.pressButton(list.message_id, `keys:revoke:${rows[0].id}`);
    const confirm = await u.waitForBotMessage((m) => (m.text ?? "").startsWith("Revoke #"));
    u.pressButton(confirm.message_id, `keys:revoke!:${rows[0].id}`);
    expect((await u.waitForBotMessage()).text).toBe(
      `Key #${rows[0].id} revoked: its material is deleted. The record stays for your audit trail.`,
    );
    const { rows: after } = await db.query(
      "select api_key, secret, private_key, revoked_at from exchange_credentials where id = $1",
      [rows[0].id],
    );
    expect(after[0]).toMatchObject({ api_key: null, secret: null, private_key: null });
    expect(after[0].revoked_at).not.toBeNull();
  });
});

describe("re-verification (S7.2)", () => {
  it("when a stored key gains a refused scope at the venue, then the next check disables it and tells the user", async () => {
    const u = h.tg.user({ id: 6007, first_name: "Later" });
    await choose(u, "binanceusdm");
    await paste(u, `${binanceKey.apiKey} ${binanceKey.secret}`);
    binance.setRestrictions(binanceKey.apiKey, {
      ...BINANCE_DEFAULT_RESTRICTIONS,
      enableWithdrawals: true,
    });
    // The signer process's re-verification, queued now as its scheduler does.
    const runs = await runOnSigner(h, "reverify");
    expect(runs.reduce((n, r) => n + Number(r.disabled ?? 0), 0)).toBeGreaterThanOrEqual(1);
    const notice = await u.waitForBotMessage((m) => (m.text ?? "").startsWith("⚠️"));
    expect(notice.text).toContain("was disabled: it now allows enableWithdrawals");
    const { rows } = await db.query(
      "select disabled_at, disabled_reason from exchange_credentials c join users u on u.id = c.user_id where u.telegram_user_id = 6007",
    );
    expect(rows[0].disabled_at).not.toBeNull();
    expect(rows[0].disabled_reason).toBe("it now allows enableWithdrawals");
    binance.setRestrictions(binanceKey.apiKey, BINANCE_DEFAULT_RESTRICTIONS);
  });
});

describe("no plaintext anywhere (S1.1)", () => {
  it("when all of the above is done, then no pasted secret is in PostgreSQL, Redis or the log", async () => {
    expect(await scanPostgres(h.db.url, allSecrets)).toEqual([]);
    expect(await scanRedis(h.redis.url, h.redis.prefix, allSecrets)).toEqual([]);
    for (const s of allSecrets) expect(h.logs.text()).not.toContain(s);
  });
});
