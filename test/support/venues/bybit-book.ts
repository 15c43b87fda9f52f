// The fake Bybit's book and answers: its instruments (a USDT and a USDC perpetual), the account
// behind each key (one leg per positionIdx) and the JSON Bybit answers with, kept apart from the
// HTTP routing in bybit.ts.
import { dec, type LostAnswer, type Reply } from "./common";

/** The `result` of GET /v5/user/query-api (apiKey is filled in by the fake). */
export type BybitQueryApi = Record<string, unknown>;

/** BTCUSDT settles in USDT; BTCPERP is Bybit's USDC-settled BTC perpetual (ccxt BTC/USDC:USDC). */
export const SYMBOLS = ["BTCUSDT", "BTCPERP"] as const;
export const SETTLE: Record<string, string> = { BTCUSDT: "USDT", BTCPERP: "USDC" };
export const MIN_ORDER_VALUE = 5;

export interface Leg {
  symbol: string;
  idx: number;
  /** Signed: positive long, negative short. */
  size: number;
  avgPrice: number;
  stopLoss: string;
  takeProfit: string;
}

export interface Account {
  secret: string;
  queryApi: BybitQueryApi;
  wallet: number;
  hedge: boolean;
  /** Keyed by `legKey(symbol, positionIdx)`. */
  positions: Map<string, Leg>;
  leverage: Map<string, number>;
  orders: Record<string, unknown>[];
  lostAnswers: LostAnswer[];
  /** Every execution, newest first, as GET /v5/execution/list returns them. */
  fills: Array<Record<string, unknown> & { symbol: string; execTime: string }>;
}

export const legKey = (symbol: string, idx: number) => `${symbol}/${idx}`;

/** Bybit answers query-api's `uta` 1 for a Unified Trading Account, 0 for a classic one. */
export const isUnified = (a: Account) => Number(a.queryApi.uta) === 1;

/** Bybit V5 docs, Place Order → positionIdx: 0 one-way; 1 hedge buy side; 2 hedge sell side. */
export const IDX_MISMATCH = [10001, "position idx not match position mode"] as const;

export function hasWallet(a: Account): boolean {
  const wallet = (a.queryApi.permissions as Record<string, unknown> | undefined)?.Wallet;
  return Array.isArray(wallet) && wallet.length > 0;
}

export const envelope = (retCode: number, retMsg: string, result: unknown = {}): Reply => ({
  status: 200,
  body: { retCode, retMsg, result, retExtInfo: {}, time: Date.now() },
});
export const ok = (result: unknown): Reply => envelope(0, "OK", result);

export function instrument(symbol: string): unknown {
  const settle = SETTLE[symbol] ?? "USDT";
  return {
    symbol,
    contractType: "LinearPerpetual",
    status: "Trading",
    baseCoin: "BTC",
    quoteCoin: settle,
    launchTime: "1585526400000",
    deliveryTime: "0",
    deliveryFeeRate: "",
    priceScale: "2",
    leverageFilter: { minLeverage: "1", maxLeverage: "100.00", leverageStep: "0.01" },
    priceFilter: { minPrice: "0.10", maxPrice: "1999999.80", tickSize: "0.10" },
    lotSizeFilter: {
      maxOrderQty: "1190.000",
      minOrderQty: "0.001",
      qtyStep: "0.001",
      postOnlyMaxOrderQty: "1190.000",
      maxMktOrderQty: "119.000",
      minNotionalValue: String(MIN_ORDER_VALUE),
    },
    unifiedMarginTrade: true,
    fundingInterval: 480,
    settleCoin: settle,
    copyTrading: "both",
    upperFundingRate: "0.00375",
    lowerFundingRate: "-0.00375",
    isPreListing: false,
    preListingInfo: null,
    riskParameters: { priceLimitRatioX: "0.01", priceLimitRatioY: "0.02" },
    displayName: "",
  };
}

export function positionJson(
  a: Account,
  symbol: string,
  idx: number,
  markPrice: number,
): Record<string, unknown> {
  const p = a.positions.get(legKey(symbol, idx));
  const lev = a.leverage.get(symbol) ?? 10;
  const size = p === undefined ? 0 : Math.abs(p.size);
  const value = size * (p?.avgPrice ?? 0);
  return {
    positionIdx: idx,
    riskId: 1,
    riskLimitValue: "2000000",
    symbol,
    side: p === undefined ? "" : p.size > 0 ? "Buy" : "Sell",
    size: dec(size, 3),
    avgPrice: p === undefined ? "0" : dec(p.avgPrice),
    positionValue: dec(value),
    tradeMode: 0,
    autoAddMargin: 0,
    positionStatus: "Normal",
    leverage: String(lev),
    markPrice: dec(markPrice),
    liqPrice: "",
    bustPrice: "",
    positionIM: dec(value / lev),
    positionMM: dec(value * 0.005),
    positionBalance: dec(value / lev),
    takeProfit: p?.takeProfit ?? "0.00",
    stopLoss: p?.stopLoss ?? "0.00",
    trailingStop: "0.00",
    sessionAvgPrice: "",
    delta: "",
    gamma: "",
    vega: "",
    theta: "",
    unrealisedPnl: p === undefined ? "0" : dec((markPrice - p.avgPrice) * p.size),
    curRealisedPnl: "0",
    cumRealisedPnl: "0",
    adlRankIndicator: p === undefined ? 0 : 2,
    createdTime: "1676538056258",
    updatedTime: String(Date.now()),
    seq: 1,
    isReduceOnly: false,
    mmrSysUpdatedTime: "",
    leverageSysUpdatedTime: "",
  };
}

export function walletBalance(a: Account, markPrice: number): unknown {
  let upnl = 0;
  let im = 0;
  for (const p of a.positions.values()) {
    upnl += (markPrice - p.avgPrice) * p.size;
    im += (Math.abs(p.size) * markPrice) / (a.leverage.get(p.symbol) ?? 10);
  }
  const equity = a.wallet + upnl;
  if (!isUnified(a)) {
    // A classic account's derivatives wallet (Bybit V5 docs, Get Wallet Balance, CONTRACT).
    return {
      list: [
        {
          accountType: "CONTRACT",
          accountIMRate: "",
          accountMMRate: "",
          accountLTV: "",
          totalEquity: "",
          totalWalletBalance: "",
          totalMarginBalance: "",
          totalAvailableBalance: "",
          totalPerpUPL: "",
          totalInitialMargin: "",
          totalMaintenanceMargin: "",
          coin: [
            {
              coin: "USDT",
              equity: dec(equity),
              usdValue: "",
              walletBalance: dec(a.wallet),
              locked: "0",
              borrowAmount: "",
              availableToWithdraw: dec(equity - im),
              accruedInterest: "",
              totalOrderIM: "0",
              totalPositionIM: dec(im),
              totalPositionMM: dec(im * 0.1),
              unrealisedPnl: dec(upnl),
              cumRealisedPnl: "0",
              bonus: "0",
            },
          ],
        },
      ],
    };
  }
  return {
    list: [
      {
        accountType: "UNIFIED",
        accountIMRate: dec(equity > 0 ? im / equity : 0, 4),
        accountMMRate: "0",
        accountLTV: "0",
        totalEquity: dec(equity),
        totalWalletBalance: dec(a.wallet),
        totalMarginBalance: dec(equity),
        totalAvailableBalance: dec(equity - im),
        totalPerpUPL: dec(upnl),
        totalInitialMargin: dec(im),
        totalMaintenanceMargin: dec(im * 0.1),
        coin: [
          {
            coin: "USDT",
            equity: dec(equity),
            usdValue: dec(equity),
            walletBalance: dec(a.wallet),
            locked: "0",
            spotHedgingQty: "0",
            borrowAmount: "0",
            // Deprecated for UNIFIED accounts: Bybit now sends "".
            availableToWithdraw: "",
            accruedInterest: "0",
            totalOrderIM: "0",
            totalPositionIM: dec(im),
            totalPositionMM: dec(im * 0.1),
            unrealisedPnl: dec(upnl),
            cumRealisedPnl: "0",
            bonus: "0",
            marginCollateral: true,
            collateralSwitch: true,
          },
        ],
      },
    ],
  };
}
