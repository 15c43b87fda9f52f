// The Binance USD-M and Bybit scope policies (VENUES.md, S7.1) as pure functions: what they
// accept, each refusal by name with its fix, and the IP-binding and expiry warnings.
import { describe, expect, it } from "vitest";
import {
  BINANCE_REFUSED,
  BINANCE_REQUIRED,
  evaluateBinanceScopes,
} from "../../../../src/domain/venues/policies/binanceusdm";
import { evaluateBybitScopes } from "../../../../src/domain/venues/policies/bybit";
import type { ScopeDecision } from "../../../../src/domain/venues/scope-policy";
import type { ScopeReport } from "../../../../src/domain/venues/types";

const NOW = new Date("2026-11-24T10:00:00Z");
const EGRESS = ["203.0.113.7", "203.0.113.8"];

const TRADE_ONLY_BINANCE = {
  ipRestrict: false,
  createTime: 1698645219000,
  enableReading: true,
  enableWithdrawals: false,
  enableInternalTransfer: false,
  enableMargin: false,
  enableFutures: true,
  permitsUniversalTransfer: false,
  enableVanillaOptions: false,
  enableSpotAndMarginTrading: false,
};

function binance(
  permissions: Record<string, unknown>,
  extra: Partial<ScopeReport> = {},
): ScopeReport {
  return { venue: "binanceusdm", permissions, ipBound: false, expiresAt: null, ...extra };
}

const TRADE_ONLY_BYBIT = {
  readOnly: 0,
  uta: 1,
  ContractTrade: ["Order", "Position"],
  Spot: [],
  Wallet: [],
  Options: [],
  Derivatives: ["DerivativesTrade"],
  CopyTrading: [],
  BlockTrade: [],
  Exchange: [],
  NFT: [],
  Affiliate: [],
  Earn: [],
};

function bybit(
  permissions: Record<string, unknown>,
  extra: Partial<ScopeReport> = {},
): ScopeReport {
  return { venue: "bybit", permissions, ipBound: false, expiresAt: null, ...extra };
}

function refusedNames(decision: ScopeDecision): string[] {
  return decision.ok ? [] : decision.refused.map((r) => r.permission);
}

function refusal(decision: ScopeDecision, permission: string) {
  if (decision.ok) throw new Error("expected a refusal");
  const r = decision.refused.find((x) => x.permission === permission);
  if (r === undefined) throw new Error(`no refusal for ${permission}`);
  return r;
}

describe("Binance USD-M scope policy", () => {
  it("when a key can read and trade futures and nothing else, then it is accepted with read and futures_trade", () => {
    const d = evaluateBinanceScopes(binance(TRADE_ONLY_BINANCE, { ipBound: true }), {
      egressIps: EGRESS,
      now: NOW,
    });
    expect(d).toEqual({ ok: true, scopes: ["read", "futures_trade"], warnings: [] });
  });

  it.each(BINANCE_REFUSED.map((f) => [f.permission, f.label]))(
    "when %s is on, then the key is refused naming it, with where to untick it",
    (permission, label) => {
      const d = evaluateBinanceScopes(binance({ ...TRADE_ONLY_BINANCE, [permission]: true }), {
        egressIps: EGRESS,
        now: NOW,
      });
      expect(refusedNames(d)).toEqual([permission]);
      expect(refusal(d, permission).fix).toBe(
        `Binance → API Management → Edit restrictions → untick '${label}'.`,
      );
    },
  );

  it.each(BINANCE_REQUIRED.map((f) => [f.permission, f.label]))(
    "when %s is off, then the key is refused naming it, with where to tick it",
    (permission, label) => {
      const d = evaluateBinanceScopes(binance({ ...TRADE_ONLY_BINANCE, [permission]: false }), {
        egressIps: EGRESS,
        now: NOW,
      });
      expect(refusedNames(d)).toEqual([permission]);
      expect(refusal(d, permission).fix).toContain(`tick '${label}'`);
    },
  );

  it("when Binance does not report a refused flag at all, then the key is refused (fail closed)", () => {
    const { enableWithdrawals: _, ...without } = TRADE_ONLY_BINANCE;
    const d = evaluateBinanceScopes(binance(without), { egressIps: EGRESS, now: NOW });
    expect(refusedNames(d)).toEqual(["enableWithdrawals"]);
    expect(refusal(d, "enableWithdrawals").fix).toContain("did not say");
  });

  it("when several forbidden flags are on, then every one of them is named", () => {
    const d = evaluateBinanceScopes(
      binance({
        ...TRADE_ONLY_BINANCE,
        enableWithdrawals: true,
        enableMargin: true,
        enableFutures: false,
      }),
      { egressIps: EGRESS, now: NOW },
    );
    expect(refusedNames(d).sort()).toEqual(["enableFutures", "enableMargin", "enableWithdrawals"]);
  });

  it("when the key is not bound to an IP, then it is accepted with a no_ip_binding warning naming Warden's egress IPs", () => {
    const d = evaluateBinanceScopes(binance(TRADE_ONLY_BINANCE), { egressIps: EGRESS, now: NOW });
    expect(d.ok).toBe(true);
    expect(d.warnings).toHaveLength(1);
    expect(d.warnings[0]?.code).toBe("no_ip_binding");
    expect(d.warnings[0]?.message).toContain("203.0.113.7, 203.0.113.8");
    expect(d.warnings[0]?.message).toContain("Restrict access to trusted IPs only");
  });

  it("when no egress IPs are configured, then the no_ip_binding warning says WARDEN_EGRESS_IPS is to be set", () => {
    const d = evaluateBinanceScopes(binance(TRADE_ONLY_BINANCE), { egressIps: [], now: NOW });
    expect(d.warnings[0]?.code).toBe("no_ip_binding");
    expect(d.warnings[0]?.message).toContain("WARDEN_EGRESS_IPS");
  });

  it("when the trading authority expires in the future, then an expires warning gives the date", () => {
    const expiresAt = new Date("2027-01-15T00:00:00Z");
    const d = evaluateBinanceScopes(binance(TRADE_ONLY_BINANCE, { ipBound: true, expiresAt }), {
      egressIps: EGRESS,
      now: NOW,
    });
    expect(d.ok).toBe(true);
    expect(d.warnings.map((w) => w.code)).toEqual(["expires"]);
    expect(d.warnings[0]?.message).toContain("2027-01-15");
  });

  it.each(["enablePortfolioMarginTrading", "enableFixApiTrade", "enableSomethingNew"])(
    "when apiRestrictions carries %s set to true, then the key is refused naming it",
    (flag) => {
      const d = evaluateBinanceScopes(binance({ ...TRADE_ONLY_BINANCE, [flag]: true }), {
        egressIps: EGRESS,
        now: NOW,
      });
      expect(refusedNames(d)).toEqual([flag]);
      expect(!d.ok && d.refused[0]?.fix).toContain(flag === "enableSomethingNew" ? flag : "untick");
    },
  );

  it("when a flag Warden does not know is reported at all, even false, then the key is refused naming it (allow-list)", () => {
    const d = evaluateBinanceScopes(binance({ ...TRADE_ONLY_BINANCE, enableCopyTrading: false }), {
      egressIps: EGRESS,
      now: NOW,
    });
    expect(refusedNames(d)).toEqual(["enableCopyTrading"]);
    expect(!d.ok && d.refused[0]?.fix).toContain("does not know ('enableCopyTrading')");
  });

  it("when newer known flags are reported false or tradingAuthorityExpirationTime is past, then the key is accepted (that time is the spot/margin permission's expiry)", () => {
    const d = evaluateBinanceScopes(
      binance({
        ...TRADE_ONLY_BINANCE,
        enablePortfolioMarginTrading: false,
        enableFixApiTrade: false,
        enableFixReadOnly: false,
        tradingAuthorityExpirationTime: Date.parse("2026-01-01T00:00:00Z"),
      }),
      { egressIps: EGRESS, now: NOW },
    );
    expect(d.ok).toBe(true);
  });

  it("when a key is refused, then the warnings are still reported", () => {
    const d = evaluateBinanceScopes(binance({ ...TRADE_ONLY_BINANCE, enableWithdrawals: true }), {
      egressIps: EGRESS,
      now: NOW,
    });
    expect(d.ok).toBe(false);
    expect(d.warnings.map((w) => w.code)).toEqual(["no_ip_binding"]);
  });
});

describe("Bybit scope policy", () => {
  it("when a key is read-write with Contract Orders and Positions only, then it is accepted with read and futures_trade", () => {
    const d = evaluateBybitScopes(bybit(TRADE_ONLY_BYBIT, { ipBound: true }), {
      egressIps: EGRESS,
      now: NOW,
    });
    expect(d).toEqual({ ok: true, scopes: ["read", "futures_trade"], warnings: [] });
  });

  it.each([
    ["Wallet", "AccountTransfer", "Account Transfer"],
    ["Wallet", "SubMemberTransfer", "Subaccount Transfer"],
    ["Wallet", "SubMemberTransferList", "Subaccount Transfer"],
    ["Wallet", "Withdraw", "Withdrawal"],
    ["Spot", "SpotTrade", "SpotTrade"],
    ["FiatP2P", "FiatP2POrder", "FiatP2POrder"],
    ["FiatP2P", "Advertising", "Advertising"],
    ["FiatBitPay", "FaitPayOrder", "FaitPayOrder"],
    ["FiatBybitPay", "FaitPayOrder", "FaitPayOrder"],
    ["FiatConvertBroker", "FiatConvertBrokerOrder", "FiatConvertBrokerOrder"],
    ["BitCard", "BitCard", "BitCard"],
  ])(
    "when %s has %s, then the key is refused naming %s.%s with where to untick it",
    (category, item, label) => {
      const d = evaluateBybitScopes(bybit({ ...TRADE_ONLY_BYBIT, [category]: [item] }), {
        egressIps: EGRESS,
        now: NOW,
      });
      expect(refusedNames(d)).toEqual([`${category}.${item}`]);
      const fix = refusal(d, `${category}.${item}`).fix;
      expect(fix).toMatch(/^Bybit → API Management → Edit → under '.+' untick '.+'/);
      expect(fix).toContain(`untick '${label}'`);
    },
  );

  it.each([
    ["Options", "OptionsTrade"],
    ["Exchange", "ExchangeHistory"],
    ["Earn", "Earn"],
    ["CopyTrading", "CopyTrading"],
    ["BlockTrade", "BlockTrade"],
    ["NFT", "NFTQueryProductList"],
    ["Affiliate", "Affiliate"],
    ["Lending", "LendingOrder"],
  ])(
    "when a category Warden does not accept (%s) has a value, then the key is refused naming it",
    (category, item) => {
      const d = evaluateBybitScopes(bybit({ ...TRADE_ONLY_BYBIT, [category]: [item] }), {
        egressIps: EGRESS,
        now: NOW,
      });
      expect(refusedNames(d)).toEqual([`${category}.${item}`]);
      expect(refusal(d, `${category}.${item}`).fix).toContain(
        `untick everything under '${category}'`,
      );
    },
  );

  it("when an unknown category holds something other than a list, then it is refused by its own name", () => {
    const d = evaluateBybitScopes(bybit({ ...TRADE_ONLY_BYBIT, Mystery: { on: true } }), {
      egressIps: EGRESS,
      now: NOW,
    });
    expect(refusedNames(d)).toEqual(["Mystery"]);
  });

  it("when the key is read-only, then it is refused naming readOnly", () => {
    const d = evaluateBybitScopes(bybit({ ...TRADE_ONLY_BYBIT, readOnly: 1 }), {
      egressIps: EGRESS,
      now: NOW,
    });
    expect(refusedNames(d)).toEqual(["readOnly"]);
    expect(refusal(d, "readOnly").fix).toContain("Read-Write");
  });

  it.each([
    ["Order", ["Position"]],
    ["Position", ["Order"]],
  ])(
    "when ContractTrade lacks %s, then the key is refused naming ContractTrade.%s",
    (missing, has) => {
      const d = evaluateBybitScopes(bybit({ ...TRADE_ONLY_BYBIT, ContractTrade: has }), {
        egressIps: EGRESS,
        now: NOW,
      });
      expect(refusedNames(d)).toEqual([`ContractTrade.${missing}`]);
      expect(refusal(d, `ContractTrade.${missing}`).fix).toContain("under 'Contract' tick");
    },
  );

  it("when ContractTrade is missing altogether, then both Order and Position are named", () => {
    const { ContractTrade: _, ...without } = TRADE_ONLY_BYBIT;
    const d = evaluateBybitScopes(bybit(without), { egressIps: EGRESS, now: NOW });
    expect(refusedNames(d)).toEqual(["ContractTrade.Order", "ContractTrade.Position"]);
  });

  it("when the key is bound to no IP and expires, then both warnings are given, with the egress IPs and the date", () => {
    const expiresAt = new Date("2027-02-15T03:21:05Z");
    const d = evaluateBybitScopes(bybit(TRADE_ONLY_BYBIT, { expiresAt }), {
      egressIps: EGRESS,
      now: NOW,
    });
    expect(d.ok).toBe(true);
    expect(d.warnings.map((w) => w.code)).toEqual(["no_ip_binding", "expires"]);
    expect(d.warnings[0]?.message).toContain("203.0.113.7, 203.0.113.8");
    expect(d.warnings[1]?.message).toContain("2027-02-15");
  });

  it("when no egress IPs are configured, then the no_ip_binding warning says WARDEN_EGRESS_IPS is to be set", () => {
    const d = evaluateBybitScopes(bybit(TRADE_ONLY_BYBIT), { egressIps: [], now: NOW });
    expect(d.warnings[0]?.message).toContain("WARDEN_EGRESS_IPS");
  });

  it("when Bybit says the key already expired, then it is refused naming expiredAt", () => {
    const d = evaluateBybitScopes(
      bybit(TRADE_ONLY_BYBIT, { expiresAt: new Date("2026-10-01T00:00:00Z") }),
      { egressIps: EGRESS, now: NOW },
    );
    expect(refusedNames(d)).toEqual(["expiredAt"]);
  });
});
