// Rate-limit pauses across processes (issue 18): a venue's limit or ban answer seen by one
// process pauses that key in every process (api ×2, bot, workers ×2) through Redis, so they
// cannot keep calling a banned key between them. Each "process" here is its own venue registry
// with its own Redis connection, as createVenuesFor builds one per process in src/roles/services.ts
// (test/faults/venue-rate-limit.test.ts runs that through two real api processes).
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Venue, VenueCredentials } from "../../../src/domain/venues/types";
import { createRedisFactory } from "../../../src/infra/redis";
import { createVenues } from "../../../src/infra/venues";
import { CACHE_MS, createRateGate } from "../../../src/infra/venues/rate-gate";
import { createRedisPauses } from "../../../src/infra/venues/redis-pauses";
import { createTestRedis } from "../../support/context";
import {
  BINANCE_DEFAULT_RESTRICTIONS,
  type FakeBinance,
  startFakeBinance,
} from "../../support/venues/binance";

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
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function rejection(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (err) {
    return err as { code: string; message: string };
  }
  throw new Error("expected a rejection");
}

const testRedis = createTestRedis();
const factories: ReturnType<typeof createRedisFactory>[] = [];
let binance: FakeBinance;
let inspect: Redis;

/** One process's venue registry: its own Redis connection, the shared prefix. */
function processVenues(url = testRedis.url): Venue {
  const factory = createRedisFactory({ url, keyPrefix: testRedis.prefix });
  factories.push(factory);
  const venues = createVenues({
    urls: { binanceusdm: binance.url },
    // Only Binance is called here; the paper book never is.
    sql: async () => {
      throw new Error("the paper book is not used in this test");
    },
    redis: factory.create("client", "app"),
  });
  return venues.binanceusdm;
}

beforeAll(async () => {
  binance = await startFakeBinance({
    keys: Object.fromEntries(
      [one, two].map((k) => [
        k.apiKey,
        { secret: k.secret, restrictions: BINANCE_DEFAULT_RESTRICTIONS },
      ]),
    ),
  });
  inspect = new Redis(testRedis.url);
});
afterAll(async () => {
  await Promise.all(factories.map((f) => f.closeAll()));
  inspect.disconnect();
  await testRedis.cleanup();
  await binance.close();
});

describe("rate-limit pauses shared between processes", () => {
  it("when one process is answered 429 with Retry-After, then the other process's calls for that key are refused with the wait and reach nothing, another key still trades, and the pause ends by itself", async () => {
    const apiA = processVenues();
    const workerB = processVenues();
    await apiA.balance(creds(one));
    await workerB.balance(creds(one));

    binance.limitNext(429, 2);
    expect(await rejection(apiA.balance(creds(one)))).toMatchObject({
      code: "rate_limited",
      message: "Binance is rate-limiting this key; try again in 2 s.",
    });
    const sent = binance.requests.length;
    // B's cached read of the pauses is at most CACHE_MS old.
    await sleep(CACHE_MS + 10);
    for (let i = 0; i < 5; i++) {
      const refused = await rejection(workerB.positions(creds(one)));
      expect(refused.code).toBe("rate_limited");
      expect(refused.message).toMatch(/^Binance is rate-limiting this key; try again in [12] s\.$/);
    }
    expect(binance.requests.length).toBe(sent);

    // Keys are paused one by one: the other key still reaches Binance from both processes.
    expect((await workerB.balance(creds(two))).length).toBeGreaterThan(0);
    expect((await apiA.balance(creds(two))).length).toBeGreaterThan(0);
    expect(binance.requests.length).toBe(sent + 2);

    await sleep(2_000);
    expect((await workerB.balance(creds(one))).length).toBeGreaterThan(0);
    expect((await apiA.balance(creds(one))).length).toBeGreaterThan(0);
  });

  it("when one process is answered 418 (IP ban), then every key is paused in the other process too", async () => {
    const apiA = processVenues();
    const apiB = processVenues();
    await apiA.balance(creds(one));
    binance.limitNext(418, 2);
    expect((await rejection(apiA.balance(creds(one)))).message).toBe(
      "Binance has temporarily banned Warden's requests for too many calls; try again in 2 s.",
    );
    const sent = binance.requests.length;
    const other = await rejection(apiB.balance(creds(two)));
    expect(other.code).toBe("rate_limited");
    expect(other.message).toMatch(/banned Warden's requests .* try again in [12] s\.$/);
    expect(binance.requests.length).toBe(sent);
    await sleep(2_100);
    expect((await apiB.balance(creds(two))).length).toBeGreaterThan(0);
  });

  it("when a pause is written, then its Redis key sits under the app's prefix, expires with the Retry-After and names neither the API key nor its secret", async () => {
    const apiA = processVenues();
    await apiA.balance(creds(one));
    binance.limitNext(429, 30);
    await rejection(apiA.balance(creds(one)));

    const keys = await inspect.keys(`${testRedis.prefix}venue-pause:*`);
    expect(keys).toHaveLength(1);
    const [key] = keys as [string];
    expect(key).toMatch(
      new RegExp(`^${testRedis.prefix}venue-pause:binanceusdm:key:[0-9a-f]{32}$`),
    );
    for (const secret of [one.apiKey, one.secret, two.apiKey, two.secret]) {
      expect(key).not.toContain(secret);
      expect(await inspect.get(key)).not.toContain(secret);
    }
    const ttl = await inspect.pttl(key);
    expect(ttl).toBeGreaterThan(28_000);
    expect(ttl).toBeLessThanOrEqual(30_000);
    await inspect.del(key);
  });

  it("when a burst of calls checks one key, then Redis is read at most once per cache window, not once per call", async () => {
    const factory = createRedisFactory({ url: testRedis.url, keyPrefix: testRedis.prefix });
    factories.push(factory);
    const pauses = createRedisPauses(factory.create("client", "app"), "binanceusdm");
    let reads = 0;
    const gate = createRateGate("Binance", Date.now, {
      remaining: (keyId) => {
        reads++;
        return pauses.remaining(keyId);
      },
      pause: (id, ms) => pauses.pause(id, ms),
    });
    const started = Date.now();
    await Promise.all(Array.from({ length: 200 }, () => gate.check("burst-key")));
    for (let i = 0; i < 200; i++) await gate.check("burst-key");
    const windows = Math.floor((Date.now() - started) / CACHE_MS) + 1;
    expect(reads).toBeLessThanOrEqual(windows);
    expect(reads).toBeLessThan(10);
  });

  it("when a process cannot reach Redis, then its calls are refused as rate-limited with a clear message and none reaches the venue", async () => {
    // Nothing listens on port 9 (discard): every connection is refused.
    const cut = processVenues("redis://127.0.0.1:9");
    const sent = binance.requests.length;
    const refused = await rejection(cut.balance(creds(two)));
    expect(refused).toMatchObject({
      code: "rate_limited",
      message: "Warden cannot check Binance's rate limits right now; try again shortly.",
    });
    expect(binance.requests.length).toBe(sent);
  });
});
