// Rate limits (issue 16): a venue's limit or ban answer pauses that key's calls (a Binance 418
// IP ban: every key's) until the time the venue gave, says so plainly, and sends nothing to the
// venue meanwhile — no retry storm. Binance: 429 then 418 with Retry-After (docs, General Info
// → LIMITS); Bybit: retCode 10006 with X-Bapi-Limit-Reset-Timestamp (docs, Rate Limit).
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { VenueCredentials } from "../../../src/domain/venues/types";
import { createBinanceUsdmVenue } from "../../../src/infra/venues/binanceusdm";
import { createBybitVenue } from "../../../src/infra/venues/bybit";
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

const hex = (n: number) => randomBytes(n).toString("hex");
const pair = () => ({ apiKey: `RL${hex(9)}`, secret: `RS${hex(18)}` });
const one = pair();
const two = pair();
const creds = (k: { apiKey: string; secret: string }): VenueCredentials => ({
  apiKey: Buffer.from(k.apiKey),
  secret: Buffer.from(k.secret),
  privateKey: null,
  walletAddress: null,
});

async function rejection(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (err) {
    return err as { code: string; message: string };
  }
  throw new Error("expected a rejection");
}

let binance: FakeBinance;
let bybit: FakeBybit;
beforeAll(async () => {
  const keys = Object.fromEntries(
    [one, two].map((k) => [
      k.apiKey,
      { secret: k.secret, restrictions: BINANCE_DEFAULT_RESTRICTIONS },
    ]),
  );
  binance = await startFakeBinance({ keys });
  bybit = await startFakeBybit({
    keys: Object.fromEntries(
      [one, two].map((k) => [k.apiKey, { secret: k.secret, queryApi: BYBIT_TRADE_ONLY_QUERY_API }]),
    ),
  });
});
afterAll(async () => {
  await binance.close();
  await bybit.close();
});

describe("Binance rate limits", () => {
  it("when Binance answers 429 with Retry-After, then the user is told to wait that long, the key sends nothing until then, and another key still works", async () => {
    const venue = createBinanceUsdmVenue({ origin: binance.url });
    await venue.balance(creds(one));
    binance.limitNext(429, 30);
    const first = await rejection(venue.balance(creds(one)));
    expect(first).toMatchObject({
      code: "rate_limited",
      message: "Binance is rate-limiting this key; try again in 30 s.",
    });

    const sent = binance.requests.length;
    for (let i = 0; i < 5; i++) {
      const again = await rejection(venue.balance(creds(one)));
      expect(again.code).toBe("rate_limited");
      expect(again.message).toMatch(
        /^Binance is rate-limiting this key; try again in (29|30) s\.$/,
      );
    }
    expect(binance.requests.length).toBe(sent);

    expect((await venue.balance(creds(two))).length).toBeGreaterThan(0);
    expect(binance.requests.length).toBeGreaterThan(sent);
  });

  it("when Binance answers 418 (IP ban) with Retry-After, then every key of the venue pauses for that long and is told so", async () => {
    const venue = createBinanceUsdmVenue({ origin: binance.url });
    await venue.balance(creds(one));
    binance.limitNext(418, 120);
    expect(await rejection(venue.balance(creds(one)))).toMatchObject({
      code: "rate_limited",
      message:
        "Binance has temporarily banned Warden's requests for too many calls; try again in 120 s.",
    });
    const sent = binance.requests.length;
    const other = await rejection(venue.balance(creds(two)));
    expect(other.code).toBe("rate_limited");
    expect(other.message).toMatch(/try again in (119|120) s\.$/);
    expect(binance.requests.length).toBe(sent);
  });

  it("when the Retry-After has passed, then the key's calls reach Binance again", async () => {
    const venue = createBinanceUsdmVenue({ origin: binance.url });
    await venue.balance(creds(one));
    binance.limitNext(429, 1);
    expect((await rejection(venue.balance(creds(one)))).message).toBe(
      "Binance is rate-limiting this key; try again in 1 s.",
    );
    await new Promise((r) => setTimeout(r, 1_100));
    expect((await venue.balance(creds(one))).length).toBeGreaterThan(0);
  });
});

describe("Bybit rate limits", () => {
  it("when Bybit answers retCode 10006 with a reset time, then the key pauses until then and sends nothing meanwhile", async () => {
    const venue = createBybitVenue({ origin: bybit.url });
    await venue.balance(creds(one));
    bybit.limitNext(20);
    const first = await rejection(venue.balance(creds(one)));
    expect(first.code).toBe("rate_limited");
    expect(first.message).toMatch(/^Bybit is rate-limiting this key; try again in (19|20) s\.$/);
    const sent = bybit.requests.length;
    expect((await rejection(venue.positions(creds(one)))).code).toBe("rate_limited");
    expect(bybit.requests.length).toBe(sent);
    expect(Array.isArray(await venue.balance(creds(two)))).toBe(true);
  });
});
