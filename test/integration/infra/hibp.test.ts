// The HIBP breach check (S2.3) against a local range-API server: k-anonymity on the wire,
// padding, the 2 s timeout, outages, and the closed/open fail modes.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { AccountError } from "../../../src/domain/accounts/errors";
import {
  BreachCheckUnavailable,
  type BreachCheckUnavailableReport,
  checkNotBreached,
} from "../../../src/domain/accounts/password";
import { createHibpChecker } from "../../../src/infra/hibp";
import { type HibpServer, sha1Hex, startHibpServer } from "../../support/hibp/server";

const BREACHED = "P@ssw0rd-from-a-dump";
const SAFE = "a long passphrase nobody ever leaked 7f3c";
const PADDED_ONLY = "only ever served as padding 19ab";

let server: HibpServer;

beforeAll(async () => {
  server = await startHibpServer({ breached: [BREACHED], padding: 900, paddedWith: [PADDED_ONLY] });
});
afterAll(async () => {
  await server.close();
});
afterEach(() => {
  server.requests.length = 0;
  server.set({ delayMs: 0, status: undefined });
});

async function errorOf(run: () => Promise<unknown>): Promise<unknown> {
  try {
    await run();
  } catch (err) {
    return err;
  }
  throw new Error("expected an error");
}

describe("HIBP range checker", () => {
  it("when the password is in the range with a count, then that count is reported", async () => {
    const checker = createHibpChecker({ apiUrl: server.url });
    // The fake server gives the first breached password the count 1000.
    expect(await checker.timesBreached(BREACHED)).toBe(1000);
  });

  it("when the password is not in the range, then it is not breached", async () => {
    const checker = createHibpChecker({ apiUrl: server.url });
    expect(await checker.timesBreached(SAFE)).toBe(0);
  });

  it("when the password's suffix appears only as a padding line with count 0, then it is not breached", async () => {
    const checker = createHibpChecker({ apiUrl: server.url });
    expect(await checker.timesBreached(PADDED_ONLY)).toBe(0);
    // The line really was served: otherwise this test would prove nothing.
    const prefix = sha1Hex(PADDED_ONLY).slice(0, 5);
    const res = await fetch(`${server.url}/range/${prefix}`, {
      headers: { "Add-Padding": "true" },
    });
    const body = await res.text();
    expect(body.split("\r\n")).toContain(`${sha1Hex(PADDED_ONLY).slice(5)}:0`);
    expect(body.split("\r\n").length).toBeGreaterThanOrEqual(900);
  });

  it("when a password is checked, then only the 5-hex prefix is sent and neither the hash nor the password appears in the request", async () => {
    const checker = createHibpChecker({ apiUrl: server.url });
    await checker.timesBreached(SAFE);
    const hash = sha1Hex(SAFE);
    expect(server.requests).toHaveLength(1);
    const [request] = server.requests;
    expect(request!.method).toBe("GET");
    expect(request!.path).toBe(`/range/${hash.slice(0, 5)}`);
    expect(request!.body).toBe("");
    const wire = JSON.stringify(server.requests).toUpperCase();
    expect(wire).not.toContain(hash.slice(5));
    expect(wire).not.toContain(hash.slice(0, 6));
    expect(wire).not.toContain(SAFE.toUpperCase());
  });

  it("when a password is checked, then the Add-Padding: true header is sent", async () => {
    const checker = createHibpChecker({ apiUrl: server.url });
    await checker.timesBreached(SAFE);
    expect(server.requests[0]!.headers["add-padding"]).toBe("true");
  });

  it("when the API takes 2.5 s to answer, then the check gives up as unavailable within the 2 s timeout", async () => {
    server.set({ delayMs: 2500 });
    const checker = createHibpChecker({ apiUrl: server.url });
    const started = performance.now();
    const err = await errorOf(() => checker.timesBreached(SAFE));
    const elapsed = performance.now() - started;
    expect(err).toBeInstanceOf(BreachCheckUnavailable);
    expect((err as Error).message).toBe("HIBP range API did not answer within 2000 ms");
    expect(elapsed).toBeGreaterThanOrEqual(1900);
    expect(elapsed).toBeLessThan(2800);
  });

  it("when the API answers 503, then the check is unavailable", async () => {
    server.set({ status: 503 });
    const checker = createHibpChecker({ apiUrl: server.url });
    const err = await errorOf(() => checker.timesBreached(SAFE));
    expect(err).toBeInstanceOf(BreachCheckUnavailable);
    expect((err as Error).message).toBe("HIBP range API answered HTTP 503");
  });

  it("when the API cannot be reached at all, then the check is unavailable", async () => {
    const gone = await startHibpServer({ breached: [] });
    await gone.close();
    const checker = createHibpChecker({ apiUrl: gone.url });
    const err = await errorOf(() => checker.timesBreached(SAFE));
    expect(err).toBeInstanceOf(BreachCheckUnavailable);
    expect((err as Error).message).toBe("HIBP range API could not be reached");
  });
});

describe("checkNotBreached", () => {
  function deps(failMode: "closed" | "open") {
    const reports: BreachCheckUnavailableReport[] = [];
    const checker = createHibpChecker({ apiUrl: server.url });
    return {
      reports,
      deps: {
        checker,
        failMode,
        onUnavailable: (r: BreachCheckUnavailableReport) => reports.push(r),
      },
    };
  }

  it("when the password is breached, then it is refused with password_breached and how often", async () => {
    const { deps: d, reports } = deps("open");
    const err = await errorOf(() => checkNotBreached(d, BREACHED));
    expect(err).toBeInstanceOf(AccountError);
    expect((err as AccountError).code).toBe("password_breached");
    expect((err as AccountError).breachCount).toBe(1000);
    expect((err as AccountError).message).toBe(
      "This password appears in known data breaches (breached 1,000 times). Please choose a different one.",
    );
    expect(reports).toEqual([]);
  });

  it("when the password is not breached, then it passes as not_breached", async () => {
    const { deps: d, reports } = deps("closed");
    expect(await checkNotBreached(d, SAFE)).toBe("not_breached");
    expect(reports).toEqual([]);
  });

  it("when HIBP is unavailable and the fail mode is closed, then the password is refused with breach_check_unavailable and reported", async () => {
    server.set({ status: 503 });
    const { deps: d, reports } = deps("closed");
    const err = await errorOf(() => checkNotBreached(d, SAFE));
    expect(err).toBeInstanceOf(AccountError);
    expect((err as AccountError).code).toBe("breach_check_unavailable");
    expect(reports).toEqual([
      { failMode: "closed", outcome: "refused", reason: "HIBP range API answered HTTP 503" },
    ]);
  });

  it("when HIBP is unavailable and the fail mode is open, then the password is allowed unchecked and reported", async () => {
    server.set({ status: 503 });
    const { deps: d, reports } = deps("open");
    expect(await checkNotBreached(d, SAFE)).toBe("unchecked");
    expect(reports).toEqual([
      {
        failMode: "open",
        outcome: "allowed_unchecked",
        reason: "HIBP range API answered HTTP 503",
      },
    ]);
  });

  it("when the checker fails with an unexpected error, then it propagates instead of counting as an outage", async () => {
    const reports: BreachCheckUnavailableReport[] = [];
    const bug = new TypeError("bug in a checker");
    const checker = { timesBreached: async () => Promise.reject(bug) };
    const err = await errorOf(() =>
      checkNotBreached({ checker, failMode: "open", onUnavailable: (r) => reports.push(r) }, SAFE),
    );
    expect(err).toBe(bug);
    expect(reports).toEqual([]);
  });
});
