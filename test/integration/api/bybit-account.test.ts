// Bybit keys Warden cannot trade with, over HTTP against the running service and a fake Bybit:
// a classic (non-unified) account is refused at connect naming the setting to change, and a
// USDC perpetual is refused before anything is sent, with the reason.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jsonApi, steppedUpAccount } from "../../support/api-session";
import {
  BYBIT_TRADE_ONLY_QUERY_API,
  type FakeBybit,
  startFakeBybit,
} from "../../support/venues/bybit";
import { startTestWarden, type TestWarden } from "../../support/warden-harness";

const hex = (n: number) => randomBytes(n).toString("hex");
const unified = { apiKey: `BU${hex(9)}`, secret: `BS${hex(18)}` };
const classic = { apiKey: `BC${hex(9)}`, secret: `BD${hex(18)}` };

let bybit: FakeBybit;
let w: TestWarden;
let token: string;

const api = jsonApi(() => w);

beforeAll(async () => {
  bybit = await startFakeBybit({
    keys: {
      [unified.apiKey]: { secret: unified.secret, queryApi: BYBIT_TRADE_ONLY_QUERY_API },
      [classic.apiKey]: {
        secret: classic.secret,
        queryApi: { ...BYBIT_TRADE_ONLY_QUERY_API, uta: 0 },
      },
    },
  });
  w = await startTestWarden({ env: { VENUE_URL_BYBIT: bybit.url } });
  token = await steppedUpAccount(w, "bybit-account@example.com");
});
afterAll(async () => {
  await w.stop();
  await bybit.close();
});

describe("Bybit account type and symbols at connect and pre-trade", () => {
  it("when a classic Bybit account's key is connected, then 422 names uta and the setting to change, and nothing is stored", async () => {
    const res = await api("POST", "/api/keys", { venue: "bybit", ...classic }, token);
    expect(res.status).toBe(422);
    expect(res.body.error).toBe("key_refused");
    expect(res.body.refusals).toEqual([
      {
        permission: "uta",
        fix: "This is a classic Bybit account; Warden works with a Unified Trading Account. In Bybit → Assets → Unified Trading Account choose 'Upgrade Now', then connect the key again.",
      },
    ]);
    expect(((await api("GET", "/api/keys", undefined, token)).body.keys as unknown[]).length).toBe(
      0,
    );
  });

  it("when a USDC perpetual is ordered on a Bybit key, then 422 gives the reason and no order reaches Bybit", async () => {
    const key = await api("POST", "/api/keys", { venue: "bybit", ...unified }, token);
    expect(key.status).toBe(201);
    const keyId = (key.body.key as { id: string }).id;
    const before = bybit.requests.length;
    for (const symbol of ["BTC/USDC:USDC", "BTCPERP", "btcusdc"]) {
      const res = await api(
        "POST",
        "/api/trades",
        { confirm: true, symbol, side: "long", size: 0.01, keyId },
        token,
      );
      expect(res.status, symbol).toBe(422);
      expect(res.body).toEqual({
        error: "pre_trade_refused",
        rule: "symbol",
        message:
          "Bybit's USDC perpetuals (BTC/USDC:USDC) settle in USDC and need Bybit's USDC-contract permission, which Warden does not use; Warden trades Bybit's USDT perpetuals. Use BTC-PERP (BTC/USDT:USDT).",
      });
    }
    expect(bybit.requests.slice(before).some((r) => r.path === "/v5/order/create")).toBe(false);
    expect(bybit.executedOrders(unified.apiKey)).toEqual([]);
  });
});
