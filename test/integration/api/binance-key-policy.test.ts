// Binance's permission policy is an allow-list (issue 16): a key whose apiRestrictions carry a
// flag Warden has never heard of, or a known flag with an unsafe value, is refused at POST
// /api/keys naming that flag, through the real adapter and the fake Binance's
// GET /sapi/v1/account/apiRestrictions; nothing is stored.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { confirmationToken } from "../../support/email-confirmation";
import {
  BINANCE_DEFAULT_RESTRICTIONS,
  type FakeBinance,
  startFakeBinance,
} from "../../support/venues/binance";
import { startTestWarden, type TestWarden } from "../../support/warden-harness";

const hex = (n: number) => randomBytes(n).toString("hex");
const key = () => ({ apiKey: `K${hex(16)}`, secret: `S${hex(24)}` });
const unknownFlag = key();
const portfolio = key();
const tradeOnly = key();

let binance: FakeBinance;
let w: TestWarden;
let token: string;

async function api(method: string, path: string, body?: unknown, auth?: string) {
  const res = await fetch(`${w.base}${path}`, {
    method,
    headers: {
      "content-type": "application/json",
      ...(auth ? { authorization: `Bearer ${auth}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

beforeAll(async () => {
  binance = await startFakeBinance({
    keys: {
      // A flag Binance may add tomorrow: unknown to Warden, so it cannot be judged safe.
      [unknownFlag.apiKey]: {
        secret: unknownFlag.secret,
        restrictions: { ...BINANCE_DEFAULT_RESTRICTIONS, enableSomethingNew: true },
      },
      [portfolio.apiKey]: {
        secret: portfolio.secret,
        restrictions: { ...BINANCE_DEFAULT_RESTRICTIONS, enablePortfolioMarginTrading: true },
      },
      [tradeOnly.apiKey]: { secret: tradeOnly.secret, restrictions: BINANCE_DEFAULT_RESTRICTIONS },
    },
  });
  w = await startTestWarden({ env: { VENUE_URL_BINANCEUSDM: binance.url } });
  const reg = { email: "binance-policy@example.com", password: "a long unique passphrase" };
  await api("POST", "/api/auth/register", reg);
  await api("POST", "/api/auth/email/confirm", {
    token: await confirmationToken(w.smtp, reg.email),
  });
  token = ((await api("POST", "/api/auth/login", reg)).body as { accessToken: string }).accessToken;
  expect((await api("POST", "/api/auth/step-up", { password: reg.password }, token)).status).toBe(
    200,
  );
});
afterAll(async () => {
  await w?.stop();
  await binance?.close();
});

const keysStored = async () =>
  ((await api("GET", "/api/keys", undefined, token)).body.keys as unknown[]).length;

describe("Binance key policy at POST /api/keys", () => {
  it.each([
    ["an unknown permission flag", unknownFlag, "enableSomethingNew"],
    ["portfolio-margin trading on", portfolio, "enablePortfolioMarginTrading"],
  ])(
    "when the key carries %s, then 422 key_refused names the flag and nothing is stored",
    async (_what, k, flag) => {
      const before = await keysStored();
      const res = await api("POST", "/api/keys", { venue: "binanceusdm", ...k }, token);
      expect(res.status).toBe(422);
      expect(res.body.error).toBe("key_refused");
      const refusals = res.body.refusals as Array<{ permission: string }>;
      expect(refusals.map((r) => r.permission)).toEqual([flag]);
      expect(JSON.stringify(res.body)).not.toContain(k.secret);
      expect(await keysStored()).toBe(before);
    },
  );

  it("when the key has only the known, safe permissions, then it is stored", async () => {
    const res = await api("POST", "/api/keys", { venue: "binanceusdm", ...tradeOnly }, token);
    expect(res.status).toBe(201);
    expect(await keysStored()).toBe(1);
  });
});
