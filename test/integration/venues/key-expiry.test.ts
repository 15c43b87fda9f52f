// Keys that expire (issue 16), against the fake venues and the Telegram emulator: the expiry is
// read with each venue's documented meaning (Bybit query-api expiredAt, Hyperliquid extraAgents
// validUntil; Binance's tradingAuthorityExpirationTime is not the key's), and a week ahead the
// daily `expiry` job re-verifies the key with its venue and warns its owner once per expiry.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { evmAddressOf } from "../../../src/infra/venues/hyperliquid";
import { type BotHarness, runOnSigner, startBotHarness } from "../../support/bot-harness";
import {
  BINANCE_DEFAULT_RESTRICTIONS,
  type FakeBinance,
  startFakeBinance,
} from "../../support/venues/binance";
import {
  BYBIT_TRADE_ONLY_QUERY_API,
  type FakeBybit,
  startFakeBybit,
} from "../../support/venues/bybit";
import { type FakeHyperliquid, startFakeHyperliquid } from "../../support/venues/hyperliquid";

const DAY = 86_400_000;
const hex = (n: number) => randomBytes(n).toString("hex");
const soon = new Date(Date.now() + 5 * DAY);
const bybitKey = { apiKey: `EX${hex(9)}`, secret: `ES${hex(18)}` };
const laterKey = { apiKey: `LX${hex(9)}`, secret: `LS${hex(18)}` };
const binanceKey = { apiKey: `BX${hex(30)}`, secret: `BS${hex(30)}` };
const masterPk = randomBytes(32);
const agentPk = randomBytes(32);
const master = evmAddressOf(masterPk);
const agent = evmAddressOf(agentPk);
const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, "Z");

let bybit: FakeBybit;
let binance: FakeBinance;
let hl: FakeHyperliquid;
let h: BotHarness;

beforeAll(async () => {
  bybit = await startFakeBybit({
    keys: {
      [bybitKey.apiKey]: {
        secret: bybitKey.secret,
        queryApi: { ...BYBIT_TRADE_ONLY_QUERY_API, expiredAt: iso(soon), deadlineDay: 5 },
      },
      [laterKey.apiKey]: {
        secret: laterKey.secret,
        queryApi: {
          ...BYBIT_TRADE_ONLY_QUERY_API,
          expiredAt: iso(new Date(Date.now() + 60 * DAY)),
          deadlineDay: 60,
        },
      },
    },
  });
  binance = await startFakeBinance({
    keys: {
      [binanceKey.apiKey]: {
        secret: binanceKey.secret,
        restrictions: {
          ...BINANCE_DEFAULT_RESTRICTIONS,
          tradingAuthorityExpirationTime: Date.now() + 3 * DAY,
        },
      },
    },
  });
  hl = await startFakeHyperliquid({
    roles: { [agent]: { role: "agent", master, validUntil: Date.now() + 3 * DAY, name: "w" } },
  });
  h = await startBotHarness({
    env: {
      VENUE_URL_BYBIT: bybit.url,
      VENUE_URL_BINANCEUSDM: binance.url,
      VENUE_URL_HYPERLIQUID: hl.url,
    },
  });
});
afterAll(async () => {
  await h.close();
  await bybit.close();
  await binance.close();
  await hl.close();
});

async function telegramUser(id: number) {
  const u = h.tg.user({ id, first_name: `U${id}` });
  u.sendText("/start");
  await u.waitForBotMessage(() => true);
  const { user } = await h.accounts.ensureTelegramAccount(id);
  return { u, user };
}

const warnings = (u: Awaited<ReturnType<typeof telegramUser>>["u"]) =>
  u.history().filter((m) => (m.text ?? "").startsWith("⏳"));

describe("key expiry", () => {
  it("when a Bybit key expires in 5 days, then the expiry job re-verifies it with Bybit and warns its owner once, naming the date and the fix", async () => {
    const { u, user } = await telegramUser(6401);
    const key = await h.keys.connect(user.id, "bybit", "main", {
      apiKey: Buffer.from(bybitKey.apiKey),
      secret: Buffer.from(bybitKey.secret),
    });
    expect(key.expiresAt?.toISOString()).toBe(`${iso(soon).slice(0, -1)}.000Z`);
    const later = await h.keys.connect(user.id, "bybit", "later", {
      apiKey: Buffer.from(laterKey.apiKey),
      secret: Buffer.from(laterKey.secret),
    });
    expect(later.expiresAt).not.toBeNull();

    const before = bybit.requests.filter((r) => r.path === "/v5/user/query-api").length;
    // The signer process's daily expiry check, queued now as its scheduler does.
    const runs = await runOnSigner(h, "expiry");
    expect(runs.reduce((n, r) => n + Number(r.warned ?? 0), 0)).toBe(1);
    // Re-verified with the venue before warning: one query-api for the expiring key only.
    expect(bybit.requests.filter((r) => r.path === "/v5/user/query-api").length).toBe(before + 1);
    const notice = await u.waitForBotMessage((m) => (m.text ?? "").startsWith("⏳"));
    expect(notice.text).toBe(
      `⏳ Your Bybit key "main" (${key.keyHint}) expires on ${soon.toISOString().slice(0, 16).replace("T", " ")} UTC (in 5 days); ` +
        "Warden re-checked it with the venue just now. After that date Warden cannot trade or close with it. " +
        "On Bybit, bind the key to Warden's IPs (that removes the expiry) or create a new key, then rotate it with /keys.",
    );

    // Once per key and expiry: the next daily runs send nothing more.
    expect(await h.keys.warnExpiring()).toMatchObject({ checked: 0, warned: 0 });
    expect(await h.keys.warnExpiring(new Date(Date.now() + DAY))).toMatchObject({ warned: 0 });
    await new Promise((r) => setTimeout(r, 200));
    expect(warnings(u)).toHaveLength(1);

    // A new expiry (the user created a fresh key on Bybit and rotated it) is warned again.
    const renewed = new Date(Date.now() + 3 * DAY);
    bybit.setQueryApi(bybitKey.apiKey, {
      ...BYBIT_TRADE_ONLY_QUERY_API,
      expiredAt: iso(renewed),
      deadlineDay: 3,
    });
    await h.keys.reverifyAll();
    expect(await h.keys.warnExpiring()).toMatchObject({ warned: 1 });
    await u.waitForBotMessage((m) => (m.text ?? "").includes("(in 3 days)"));
  });

  it("when the venue extended a Hyperliquid agent before the warning, then the re-verification finds the new validUntil, stores it and warns nobody", async () => {
    const { u, user } = await telegramUser(6402);
    const key = await h.keys.connect(user.id, "hyperliquid", "", {
      walletAddress: master,
      privateKey: Buffer.from(agentPk.toString("hex")),
    });
    expect(key.expiresAt).not.toBeNull();
    const extended = Date.now() + 90 * DAY;
    hl.setRole(agent, { role: "agent", master, validUntil: extended, name: "w" });

    const result = await h.keys.warnExpiring();
    expect(result).toMatchObject({ warned: 0, extended: 1 });
    const stored = (await h.keys.list(user.id)).find((k) => k.id === key.id);
    expect(stored?.expiresAt?.getTime()).toBe(extended);
    await new Promise((r) => setTimeout(r, 200));
    expect(warnings(u)).toHaveLength(0);
  });

  it("when a Binance key reports tradingAuthorityExpirationTime, then it is not taken as the key's expiry and no expiry warning is sent", async () => {
    const { u, user } = await telegramUser(6403);
    const key = await h.keys.connect(user.id, "binanceusdm", "", {
      apiKey: Buffer.from(binanceKey.apiKey),
      secret: Buffer.from(binanceKey.secret),
    });
    expect(key.expiresAt).toBeNull();
    const before = binance.requests.length;
    expect(await h.keys.warnExpiring()).toMatchObject({ warned: 0 });
    expect(binance.requests.length).toBe(before);
    await new Promise((r) => setTimeout(r, 200));
    expect(warnings(u)).toHaveLength(0);
  });
});
