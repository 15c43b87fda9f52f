// The anomaly rules as pure functions: thresholds at their edges, context from before the
// window, one finding per user per rule, and evidence an admin can act on.
import { describe, expect, it } from "vitest";
import {
  DEFAULT_THRESHOLDS,
  evaluateRules,
  newIp,
  newSymbol,
  rapidFire,
  type TradeActivity,
} from "../../../../src/domain/anomaly";

const T0 = Date.parse("2026-12-01T12:00:00.000Z");
const MIN = 60_000;
const DAY = 86_400_000;
let nextId = 1;

function act(over: Partial<TradeActivity> = {}): TradeActivity {
  return {
    id: String(nextId++),
    userId: "1",
    at: T0,
    action: "open",
    outcome: "ok",
    source: "api",
    ip: "203.0.113.1",
    symbol: "BTC/USDT:USDT",
    coin: "BTC",
    tradeId: String(nextId),
    ipLastSeen: T0 - DAY,
    coinNew: false,
    ...over,
  };
}

const none = { priorOpens: new Map() };
/** Prior opens (filled unless said otherwise) at the given times. */
const prior = (times: number[], outcome: TradeActivity["outcome"] = "ok") =>
  new Map([["1", times.map((at) => ({ at, outcome }))]]);
const opens = (n: number, start: number, stepMs: number, over: Partial<TradeActivity> = {}) =>
  Array.from({ length: n }, (_, i) => act({ at: start + i * stepMs, ...over }));

describe("rapid_fire", () => {
  it("when a user opens 10 positions in 5 minutes, then nothing; 11, then one finding with the count", () => {
    expect(rapidFire(opens(10, T0, 30_000), none, DEFAULT_THRESHOLDS)).toEqual([]);
    const [f, ...rest] = rapidFire(opens(11, T0, 30_000), none, DEFAULT_THRESHOLDS);
    expect(rest).toEqual([]);
    expect(f).toMatchObject({
      userId: "1",
      rule: "rapid_fire",
      windowStart: T0,
      windowEnd: T0 + 10 * 30_000,
      evidence: {
        attempts: 11,
        filled: 11,
        failed: 0,
        threshold: 10,
        windowMinutes: 5,
        sources: ["api"],
      },
    });
  });

  it("when 11 opens are spread over more than 5 minutes, then nothing", () => {
    expect(rapidFire(opens(11, T0, 31_000), none, DEFAULT_THRESHOLDS)).toEqual([]);
  });

  it("when closes and modifies are many, then only opens count", () => {
    const actions = [...opens(10, T0, 1_000), act({ action: "close" }), act({ action: "modify" })];
    expect(rapidFire(actions, none, DEFAULT_THRESHOLDS)).toEqual([]);
  });

  it("when failed opens are part of the burst, then they count (attempts are the signal) and the evidence says how many failed", () => {
    const actions = [...opens(8, T0, 1_000), ...opens(3, T0 + 9_000, 1_000, { outcome: "failed" })];
    const [f] = rapidFire(actions, none, DEFAULT_THRESHOLDS);
    expect(f?.evidence).toMatchObject({ attempts: 11, filled: 8, failed: 3 });
  });

  it("when the earlier opens of a burst were in the previous window, then the new ones still complete it", () => {
    const before = prior(
      Array.from({ length: 6 }, (_, i) => T0 - 60_000 + i * 1_000),
      "failed",
    );
    const [f] = rapidFire(opens(5, T0, 1_000), { priorOpens: before }, DEFAULT_THRESHOLDS);
    expect(f?.evidence).toMatchObject({ attempts: 11, filled: 5, failed: 6 });
    expect(f?.windowStart).toBe(T0 - 60_000);
  });

  it("when only old facts form a burst, then no new finding (it was reported from its own window)", () => {
    const before = prior(Array.from({ length: 12 }, (_, i) => T0 - 4 * MIN + i));
    expect(
      rapidFire([act({ at: T0 + 10 * MIN })], { priorOpens: before }, DEFAULT_THRESHOLDS),
    ).toEqual([]);
  });

  it("when an earlier-recorded open carries a later time (clock skew), then the burst still counts and its window runs forwards", () => {
    const before = prior(Array.from({ length: 6 }, (_, i) => T0 + 90_000 + i));
    const [f] = rapidFire(opens(5, T0, 1_000), { priorOpens: before }, DEFAULT_THRESHOLDS);
    expect(f?.evidence).toMatchObject({ attempts: 11 });
    expect(f!.windowEnd).toBeGreaterThanOrEqual(f!.windowStart);
  });

  it("when a second burst follows a recorded one within 5 minutes, then its window starts at its own first open, not at the earlier burst's", () => {
    // The first burst (T0 … T0+10 s) was found by the last scan; its opens are spent.
    const spent = Array.from({ length: 11 }, (_, i) => T0 + i * 1_000);
    const [f, ...rest] = rapidFire(
      opens(11, T0 + 3 * MIN, 1_000),
      { priorOpens: prior(spent), lastBurstEnd: new Map([["1", T0 + 10_000]]) },
      DEFAULT_THRESHOLDS,
    );
    expect(rest).toEqual([]);
    expect(f).toMatchObject({ windowStart: T0 + 3 * MIN, evidence: { attempts: 11 } });
  });

  it("when one open follows a recorded burst, then nothing (the burst's opens are not counted twice)", () => {
    const spent = Array.from({ length: 11 }, (_, i) => T0 + i * 1_000);
    expect(
      rapidFire(
        [act({ at: T0 + MIN })],
        { priorOpens: prior(spent), lastBurstEnd: new Map([["1", T0 + 10_000]]) },
        DEFAULT_THRESHOLDS,
      ),
    ).toEqual([]);
  });

  it("when a late scan holds three bursts of 11, then three findings, each with its own window", () => {
    const actions = [
      ...opens(11, T0, 1_000),
      ...opens(11, T0 + 6 * MIN, 1_000),
      ...opens(11, T0 + 12 * MIN, 1_000, { outcome: "refused" }),
    ];
    const found = rapidFire(actions, none, DEFAULT_THRESHOLDS);
    expect(found.map((f) => [f.windowStart, f.evidence.attempts, f.evidence.failed])).toEqual([
      [T0, 11, 0],
      [T0 + 6 * MIN, 11, 0],
      [T0 + 12 * MIN, 11, 11],
    ]);
  });

  it("when 22 opens come within one 5-minute window, then one finding counts all 22", () => {
    const [f, ...rest] = rapidFire(opens(22, T0, 1_000), none, DEFAULT_THRESHOLDS);
    expect(rest).toEqual([]);
    expect(f?.evidence).toMatchObject({ attempts: 22 });
  });

  it("when two users each open 6, then neither is flagged (counts are per user)", () => {
    const actions = [
      ...opens(6, T0, 1_000, { userId: "1" }),
      ...opens(6, T0, 1_000, { userId: "2" }),
    ];
    expect(rapidFire(actions, none, DEFAULT_THRESHOLDS)).toEqual([]);
  });

  it("when the threshold is configured lower, then it applies", () => {
    const t = { ...DEFAULT_THRESHOLDS, rapidFireOpens: 3, rapidFireWindowMs: MIN };
    expect(rapidFire(opens(4, T0, 10_000), none, t)).toHaveLength(1);
    expect(rapidFire(opens(3, T0, 10_000), none, t)).toEqual([]);
  });
});

describe("new_ip", () => {
  it("when an IP was never seen on the account, then one finding naming it", () => {
    const [f] = newIp([act({ ipLastSeen: null })], DEFAULT_THRESHOLDS);
    expect(f).toMatchObject({ rule: "new_ip", evidence: { count: 1, lookbackDays: 30 } });
    expect((f!.evidence.ips as unknown[])[0]).toMatchObject({
      ip: "203.0.113.1",
      lastSeenBefore: null,
    });
  });

  it("when the IP was last seen 29 days before, then nothing; 31 days before, then a finding with that sighting", () => {
    expect(newIp([act({ ipLastSeen: T0 - 29 * DAY })], DEFAULT_THRESHOLDS)).toEqual([]);
    const [f] = newIp([act({ ipLastSeen: T0 - 31 * DAY })], DEFAULT_THRESHOLDS);
    expect((f!.evidence.ips as unknown[])[0]).toMatchObject({
      lastSeenBefore: new Date(T0 - 31 * DAY).toISOString(),
    });
  });

  it("when a user acts from two new IPs, then one finding lists both; other users are apart", () => {
    const found = newIp(
      [
        act({ ipLastSeen: null }),
        act({ ip: "203.0.113.2", ipLastSeen: null, at: T0 + 1_000 }),
        act({ userId: "2" }),
      ],
      DEFAULT_THRESHOLDS,
    );
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ userId: "1", evidence: { count: 2 } });
  });

  it("when the lookback is configured shorter, then it applies", () => {
    const t = { ...DEFAULT_THRESHOLDS, newIpLookbackMs: 7 * DAY };
    expect(newIp([act({ ipLastSeen: T0 - 8 * DAY })], t)).toHaveLength(1);
    expect(newIp([act({ ipLastSeen: T0 - 6 * DAY })], t)).toEqual([]);
  });

  it("when Telegram actions carry no IP, then they are never flagged", () => {
    expect(
      newIp([act({ ip: null, ipLastSeen: null, source: "telegram" })], DEFAULT_THRESHOLDS),
    ).toEqual([]);
  });
});

describe("new_symbol", () => {
  it("when a user opens a coin for the first time, then it is found; a known coin is not", () => {
    const actions = [act({ coin: "PEPE", symbol: "PEPE/USDT:USDT", coinNew: true }), act()];
    const [f, ...rest] = newSymbol(actions);
    expect(rest).toEqual([]);
    expect(f?.evidence).toMatchObject({
      count: 1,
      coins: [expect.objectContaining({ coin: "PEPE" })],
    });
  });

  it("when a close carries the flag, then nothing (a trade in a coin starts with an open)", () => {
    expect(newSymbol([act({ coin: "PEPE", action: "close", coinNew: true })])).toEqual([]);
  });
});

describe("all rules", () => {
  it("when one window holds a burst from a new IP in a new coin, then one finding per rule for that user", () => {
    const burst = opens(10, T0, 1_000, { coin: "DOGE", ipLastSeen: T0 });
    const first = act({ coin: "DOGE", ipLastSeen: null, coinNew: true, at: T0 - 1_000 });
    const found = evaluateRules([first, ...burst], none, DEFAULT_THRESHOLDS);
    expect(found.map((f) => f.rule)).toEqual(["rapid_fire", "new_ip", "new_symbol"]);
    expect(new Set(found.map((f) => f.userId))).toEqual(new Set(["1"]));
  });
});
