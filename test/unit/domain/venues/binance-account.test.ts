import { describe, expect, it } from "vitest";
import { BINANCE_MULTI_ASSETS_FIX } from "../../../../src/domain/venues/policies/binance-account";
import { evaluateBinanceScopes } from "../../../../src/domain/venues/policies/binanceusdm";

const TRADE_ONLY = {
  ipRestrict: true,
  enableReading: true,
  enableFutures: true,
  enableWithdrawals: false,
  enableInternalTransfer: false,
  permitsUniversalTransfer: false,
  enableSpotAndMarginTrading: false,
  enableMargin: false,
};
const decide = (permissions: Record<string, unknown>) =>
  evaluateBinanceScopes(
    { venue: "binanceusdm", permissions, ipBound: true, expiresAt: null },
    { egressIps: ["203.0.113.7"] },
  );

describe("Binance asset mode in the scope policy", () => {
  it("when the account is in Single-Asset Mode, then the key is accepted", () => {
    expect(decide({ ...TRADE_ONLY, multiAssetsMargin: false }).ok).toBe(true);
  });

  it.each([true, "unreported", null])(
    "when the asset mode is %s (Multi-Assets, or Binance did not say), then the key is refused naming multiAssetsMargin and the Asset Mode setting",
    (mode) => {
      const d = decide({ ...TRADE_ONLY, multiAssetsMargin: mode });
      expect(d.ok).toBe(false);
      expect(!d.ok && d.refused).toEqual([
        { permission: "multiAssetsMargin", fix: BINANCE_MULTI_ASSETS_FIX },
      ]);
    },
  );
});
