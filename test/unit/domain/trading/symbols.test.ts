// Markets a venue lists that Warden does not trade there (issue 16): Bybit's USDC perpetuals are
// refused at pre-trade with the reason, whatever the spelling; USDT ones and other venues pass.
import { describe, expect, it } from "vitest";
import { quoteNamed, untradableReason } from "../../../../src/domain/trading/symbols";

describe("symbols Warden does not trade", () => {
  it("when a Bybit USDC perpetual is named in any spelling, then the reason names the USDT market to use", () => {
    for (const input of [
      "BTC/USDC:USDC",
      "btc/usdc",
      "BTCUSDC",
      "BTC-USDC",
      "BTCPERP",
      " btcperp ",
    ]) {
      expect(untradableReason(input, "bybit"), input).toBe(
        "Bybit's USDC perpetuals (BTC/USDC:USDC) settle in USDC and need Bybit's USDC-contract permission, which Warden does not use; Warden trades Bybit's USDT perpetuals. Use BTC-PERP (BTC/USDT:USDT).",
      );
    }
  });

  it("when a USDT perpetual or a bare coin is named on Bybit, or USDC on another venue, then nothing is refused", () => {
    for (const input of ["BTC", "BTC-PERP", "BTCUSDT", "BTC/USDT:USDT", "eth"]) {
      expect(untradableReason(input, "bybit"), input).toBeNull();
    }
    expect(untradableReason("BTC/USDC:USDC", "hyperliquid")).toBeNull();
    expect(untradableReason("BTCUSDC", "paper")).toBeNull();
  });

  it("when a symbol names its settlement coin, then quoteNamed reads it; a bare coin names none", () => {
    expect(quoteNamed("BTC/USDT:USDT")).toBe("USDT");
    expect(quoteNamed("ethusdc")).toBe("USDC");
    expect(quoteNamed("BTC")).toBeNull();
    expect(quoteNamed("USDC")).toBeNull();
  });
});
