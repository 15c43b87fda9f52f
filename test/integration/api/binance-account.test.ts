// Binance account settings Warden cannot trade under, over HTTP against the running service and
// a fake Binance: Multi-Assets Mode and a Portfolio Margin key are refused at connect naming the
// setting to change; the same account in Single-Asset Mode connects. The permission policy is an
// allow-list: a flag Warden has never heard of refuses the key, naming it.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BINANCE_MULTI_ASSETS_FIX,
  BINANCE_PORTFOLIO_MARGIN_FIX,
} from "../../../src/domain/venues/policies/binance-account";
import { jsonApi, steppedUpAccount } from "../../support/api-session";
import {
  BINANCE_DEFAULT_RESTRICTIONS,
  type FakeBinance,
  startFakeBinance,
} from "../../support/venues/binance";
import { startTestWarden, type TestWarden } from "../../support/warden-harness";

const hex = (n: number) => randomBytes(n).toString("hex");
const multi = { apiKey: `BM${hex(30)}`, secret: `BS${hex(30)}` };
const portfolio = { apiKey: `BP${hex(30)}`, secret: `BQ${hex(30)}` };
const unknownFlag = { apiKey: `BF${hex(30)}`, secret: `BG${hex(30)}` };

let binance: FakeBinance;
let w: TestWarden;
let token: string;

const api = jsonApi(() => w);

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
      // A flag Binance may add tomorrow: unknown to Warden, so it cannot be judged safe.
      [unknownFlag.apiKey]: {
        secret: unknownFlag.secret,
        restrictions: { ...BINANCE_DEFAULT_RESTRICTIONS, enableSomethingNew: true },
      },
      [portfolio.apiKey]: {
        secret: portfolio.secret,
        restrictions: { ...BINANCE_DEFAULT_RESTRICTIONS, enablePortfolioMarginTrading: true },
      },
    },
  });
  w = await startTestWarden({ env: { VENUE_URL_BINANCEUSDM: binance.url } });
  token = await steppedUpAccount(w, "binance-account@example.com");
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

  it("when the key carries an unknown permission flag, then 422 key_refused names the flag and nothing is stored", async () => {
    const before = await keys();
    const res = await api("POST", "/api/keys", { venue: "binanceusdm", ...unknownFlag }, token);
    expect(res.status).toBe(422);
    expect(res.body.error).toBe("key_refused");
    const refusals = res.body.refusals as Array<{ permission: string }>;
    expect(refusals.map((r) => r.permission)).toEqual(["enableSomethingNew"]);
    expect(JSON.stringify(res.body)).not.toContain(unknownFlag.secret);
    expect(await keys()).toBe(before);
  });
});
