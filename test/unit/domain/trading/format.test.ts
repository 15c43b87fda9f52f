// Cockpit number formatting (bot and settings page alike), issue 17.
import { describe, expect, it } from "vitest";
import {
  age,
  amount,
  money,
  signedMoney,
  signedPercent,
} from "../../../../src/domain/trading/format";

describe("cockpit number formatting", () => {
  it("when an amount is non-zero but below a cent, then it shows its first significant digit, never 0.00", () => {
    expect(money(0.004)).toBe("0.004");
    expect(signedMoney(-0.0004)).toBe("−0.0004");
    expect(signedMoney(0)).toBe("+0.00");
    expect(signedPercent(0.0012)).toBe("+0.001 %");
  });

  it("when an amount is large, then it has thousands separators", () => {
    expect(money(1234567.891)).toBe("1,234,567.89");
    expect(signedMoney(-250.5)).toBe("−250.50");
    expect(amount(1_000_000)).toBe("1,000,000");
    expect(amount(0.00012345)).toBe("0.00012345");
  });

  it("when a duration is shown, then minutes, hours and days read naturally", () => {
    expect(age(59_000)).toBe("0m");
    expect(age(3 * 3_600_000 + 20 * 60_000)).toBe("3h 20m");
    expect(age(50 * 3_600_000)).toBe("2d 2h");
  });
});
