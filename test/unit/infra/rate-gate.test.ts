// The rate gate's reading of the venues' limit answers: Retry-After as seconds or an HTTP date,
// Bybit's reset timestamp, the default and the cap, and when a pause ends.
import ccxt from "ccxt";
import { describe, expect, it } from "vitest";
import {
  createRateGate,
  DEFAULT_PAUSE_SECONDS,
  retryAfterSeconds,
} from "../../../src/infra/venues/rate-gate";

const T0 = Date.parse("2026-12-04T14:00:00Z");

describe("retryAfterSeconds", () => {
  it("when Retry-After is delta-seconds or an HTTP date, then it gives the seconds to wait", () => {
    expect(retryAfterSeconds("30", T0)).toBe(30);
    expect(retryAfterSeconds("Fri, 04 Dec 2026 14:01:30 GMT", T0)).toBe(90);
    expect(retryAfterSeconds("soon", T0)).toBeUndefined();
    expect(retryAfterSeconds(undefined, T0)).toBeUndefined();
  });
});

describe("createRateGate", () => {
  it("when a limit answer has no time, then the key pauses for the default and then resumes", async () => {
    let now = T0;
    const gate = createRateGate("Binance", () => now);
    const err = await gate.onError("k1", new ccxt.RateLimitExceeded("binanceusdm 429 "), {});
    expect(err?.message).toBe(
      `Binance is rate-limiting this key; try again in ${DEFAULT_PAUSE_SECONDS} s.`,
    );
    await expect(gate.check("k1")).rejects.toThrow(/try again in 60 s/);
    await expect(gate.check("k2")).resolves.toBeUndefined();
    now += DEFAULT_PAUSE_SECONDS * 1000;
    await expect(gate.check("k1")).resolves.toBeUndefined();
  });

  it("when a 418 ban comes, then every key pauses; when Bybit gives a reset timestamp, then it is used", async () => {
    const now = T0;
    const gate = createRateGate("Binance", () => now);
    await gate.onError("k1", new ccxt.DDoSProtection("binanceusdm 418 I'm a teapot"), {
      "Retry-After": "300",
    });
    await expect(gate.check("k9")).rejects.toThrow(/banned .* try again in 300 s/);

    const bybit = createRateGate("Bybit", () => now);
    const e = await bybit.onError("k1", new ccxt.RateLimitExceeded("bybit 10006"), {
      "X-Bapi-Limit-Reset-Timestamp": String(T0 + 12_000),
    });
    expect(e?.message).toBe("Bybit is rate-limiting this key; try again in 12 s.");
  });

  it("when an error is not a limit answer, then nothing pauses", async () => {
    const gate = createRateGate("Bybit", () => T0);
    expect(
      await gate.onError("k1", new ccxt.InvalidOrder("bad"), { "Retry-After": "30" }),
    ).toBeUndefined();
    await expect(gate.check("k1")).resolves.toBeUndefined();
  });
});
