// Binance account settings Warden cannot trade under, over HTTP against the running service and
// a fake Binance: Multi-Assets Mode and a Portfolio Margin key are refused at connect naming the
// setting to change; the same account in Single-Asset Mode connects.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BINANCE_MULTI_ASSETS_FIX,
  BINANCE_PORTFOLIO_MARGIN_FIX,
} from "../../../src/domain/venues/policies/binance-account";
import { confirmationToken } from "../../support/email-confirmation";
import {
  BINANCE_DEFAULT_RESTRICTIONS,
  type FakeBinance,
  startFakeBinance,
} from "../../support/venues/binance";
import { startTestWarden, type TestWarden } from "../../support/warden-harness";

const hex = (n: number) => randomBytes(n).toString("hex");
const multi = { apiKey: `BM${hex(30)}`, secret: `BS${hex(30)}` };
const portfolio = { apiKey: `BP${hex(30)}`, secret: `BQ${hex(30)}` };

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

const keys = async () =>
  ((await api("GET", "/api/keys", undefined, token)).body.keys as unknown[]).length;

beforeAll(async () => {
  binance = await startFakeBinance({
    keys: {
      [multi.apiKey]: {
        secret: multi.secret,
        restrictions: BINANCE_DEFAULT_RESTRICTIONS,
        multiAssetsMargin: true,
      },
      [portfolio.apiKey]: {
        secret: portfolio.secret,
        restrictions: { ...BINANCE_DEFAULT_RESTRICTIONS, enablePortfolioMarginTrading: true },
      },
    },
  });
  w = await startTestWarden({ env: { VENUE_URL_BINANCEUSDM: binance.url } });
  const reg = { email: "binance-account@example.com", password: "a long unique passphrase" };
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
  await w.stop();
  await binance.close();
});

describe("Binance asset mode and Portfolio Margin at connect", () => {
  it("when a key of an account in Multi-Assets Mode is connected, then 422 names multiAssetsMargin and the Asset Mode setting, and nothing is stored; in Single-Asset Mode the same key connects", async () => {
    const refused = await api("POST", "/api/keys", { venue: "binanceusdm", ...multi }, token);
    expect(refused.status).toBe(422);
    expect(refused.body.error).toBe("key_refused");
    expect(refused.body.refusals).toEqual([
      { permission: "multiAssetsMargin", fix: BINANCE_MULTI_ASSETS_FIX },
    ]);
    expect(BINANCE_MULTI_ASSETS_FIX).toContain(
      "Binance → Futures → Preferences → Asset Mode choose 'Single-Asset Mode'",
    );
    expect(await keys()).toBe(0);
    // Warden asked Binance, signed, rather than assuming.
    expect(
      binance.requests.some((r) => r.method === "GET" && r.path === "/fapi/v1/multiAssetsMargin"),
    ).toBe(true);

    binance.setMultiAssetsMode(multi.apiKey, false);
    const accepted = await api("POST", "/api/keys", { venue: "binanceusdm", ...multi }, token);
    expect(accepted.status).toBe(201);
    expect(await keys()).toBe(1);
  });

  it("when a Portfolio Margin key (Enable Portfolio Margin Trading) is connected, then 422 names the flag and the account setting, and nothing is stored", async () => {
    const before = await keys();
    const res = await api("POST", "/api/keys", { venue: "binanceusdm", ...portfolio }, token);
    expect(res.status).toBe(422);
    expect(res.body.error).toBe("key_refused");
    expect(res.body.refusals).toEqual([
      { permission: "enablePortfolioMarginTrading", fix: BINANCE_PORTFOLIO_MARGIN_FIX },
    ]);
    expect(BINANCE_PORTFOLIO_MARGIN_FIX).toContain("untick 'Enable Portfolio Margin Trading'");
    expect(BINANCE_PORTFOLIO_MARGIN_FIX).toContain("switch it back to a classic futures account");
    expect(await keys()).toBe(before);
  });
});
