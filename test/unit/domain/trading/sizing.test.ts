// Sizing forms and symbol spelling (issue 17).
import { describe, expect, it } from "vitest";
import { baseSizeOf, parseSize } from "../../../../src/domain/trading/sizing";
import { displaySymbol, perpetualOf } from "../../../../src/domain/trading/symbols";

describe("sizing", () => {
  it("when sizes are written in each form, then they parse to base, quote or percent", () => {
    expect(parseSize("0.01")).toEqual({ kind: "base", value: 0.01 });
    expect(parseSize("500usdt")).toEqual({ kind: "quote", value: 500 });
    expect(parseSize("$500")).toEqual({ kind: "quote", value: 500 });
    expect(parseSize("10%")).toEqual({ kind: "percent", value: 10 });
    for (const bad of ["-1", "0", "abc", "150%", "5 usdt", "$"])
      expect(parseSize(bad), bad).toBeNull();
  });

  it("when a quote or percent size is converted, then it is floored to the lot step", () => {
    const m = { markPrice: 63_000, lotStep: 0.001, freeMargin: 10_000, leverage: 5 };
    expect(baseSizeOf({ kind: "quote", value: 500 }, m)).toBe(0.007);
    expect(baseSizeOf({ kind: "percent", value: 10 }, m)).toBe(0.079);
    expect(baseSizeOf({ kind: "quote", value: 30 }, { ...m, markPrice: 0.1, lotStep: 1 })).toBe(
      300,
    );
  });

  it("when a symbol is spelled any common way, then it resolves to the perpetual and shows as X-PERP", () => {
    for (const s of ["btc", "BTCUSDT", "BTC/USDT", "BTC-PERP", "btc/usdt:usdt"]) {
      expect(perpetualOf(s, "binanceusdm"), s).toBe("BTC/USDT:USDT");
    }
    expect(perpetualOf("eth", "hyperliquid")).toBe("ETH/USDC:USDC");
    expect(displaySymbol("BTC/USDT:USDT")).toBe("BTC-PERP");
  });
});

describe("amounts shown to users", () => {
  it("when a P&L is small but not zero, then it never shows as 0.00; large ones get separators", async () => {
    const { money } = await import("../../../../src/domain/trading/pre-trade");
    expect(money(0.004)).toBe("0.004");
    expect(money(-0.00012)).toBe("-0.0001");
    expect(money(0)).toBe("0.00");
    expect(money(1234567.891)).toBe("1,234,567.89");
  });
});
