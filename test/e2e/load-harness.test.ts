// The load harness at a small size, so CI proves the harness itself: 50 Telegram users and 6
// HTTP clients against two api, one bot, two worker and one signer processes (api and bot trade
// through the signer, as in production); every action a user saw
// acknowledged has exactly one audit row and one venue order, and nothing is left pending.
import { describe, expect, it } from "vitest";
import { printLoadReport } from "../../bench/load";
import { checkConsistency, runLoad } from "../../bench/load/harness";
import { createTestDatabase } from "../support/context";

describe("load harness", () => {
  it("when 50 Telegram users and 6 HTTP clients trade at once on six processes (the signer executing every trade), then every acknowledged open and close has exactly one audit row and one venue order", async () => {
    const report = await runLoad({
      telegramUsers: 50,
      httpClients: 6,
      httpRounds: 2,
      bcryptCost: 4,
      deadlineMs: 240_000,
      log: () => {},
    });
    printLoadReport(report);
    expect(report.errors).toEqual([]);
    expect(report.consistency.problems).toEqual([]);
    expect(report.consistency.acknowledgedOpens).toBe(50 + 6 * 2);
    expect(report.consistency.acknowledgedCloses).toBe(50 + 6 * 2);
    expect(report.telegram429).toBe(0);
    expect(Object.keys(report.rssMB).sort()).toEqual(
      ["api-1", "api-2", "bot", "worker-1", "worker-2", "signer"].sort(),
    );
  }, 300_000);

  it("when an acknowledged action has no audit row or order, then the consistency check names it", async () => {
    const db = await createTestDatabase();
    try {
      const report = await checkConsistency(db.url, {
        opens: [{ tradeId: "424242", user: "tg:1" }],
        closes: [{ tradeId: "424242", user: "tg:1" }],
      });
      expect(report.problems).toEqual([
        "open #424242 (tg:1) has 0 audit rows",
        "open #424242 (tg:1) has no venue order",
        "close #424242 (tg:1) has 0 audit rows",
      ]);
    } finally {
      await db.drop();
    }
  });
});
