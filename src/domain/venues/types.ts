// The Venue port: what Warden asks of an exchange, in Warden's own types. Adapters (ccxt, the
// paper venue) implement it; nothing here knows ccxt.
import type { DecryptedKeys } from "../vault/decrypt-scope";

export const VENUE_IDS = ["hyperliquid", "binanceusdm", "bybit", "paper"] as const;
export type VenueId = (typeof VENUE_IDS)[number];

/** Plaintext credentials, valid only inside withDecryptedExchangeKeys (S1.3). */
export type VenueCredentials = DecryptedKeys;

/**
 * What the venue itself says the key may do, as it reported it: the raw permission fields by
 * their venue names, so the scope policy (data, in scope-policy.ts) decides on them.
 */
export interface ScopeReport {
  venue: VenueId;
  /** Binance: apiRestrictions fields; Bybit: readOnly + permissions; Hyperliquid: role data. */
  permissions: Record<string, unknown>;
  /** False when the key works from any IP (warn: bind it to Warden's egress IPs). */
  ipBound: boolean;
  /** When the key stops working, if the venue says. */
  expiresAt: Date | null;
  /** The venue account the key acts for (Hyperliquid master address, Bybit uid…), public. */
  account?: string;
}

export type Side = "long" | "short";

export interface OpenPositionInput {
  /** Unified symbol, e.g. "BTC/USDT:USDT" (Binance, Bybit) or "BTC/USDC:USDC" (Hyperliquid). */
  symbol: string;
  side: Side;
  /** Position size in the base currency. */
  size: number;
  leverage?: number;
  stopLoss?: number;
  takeProfit?: number;
}

export interface ModifyPositionInput {
  symbol: string;
  stopLoss?: number | null;
  takeProfit?: number | null;
  /** New absolute size; the difference is traded (reduce-only when smaller). */
  size?: number;
}

export interface Fill {
  orderId: string;
  symbol: string;
  /** The side of the position this fill belongs to; for a close, the side that was closed. */
  side: Side;
  size: number;
  price: number;
}

export interface Position {
  symbol: string;
  side: Side;
  size: number;
  entryPrice: number;
  markPrice: number | null;
  unrealizedPnl: number | null;
  leverage: number | null;
  /** Where the venue reports them. */
  stopLoss?: number | null;
  takeProfit?: number | null;
  liquidationPrice?: number | null;
}

export interface Balance {
  currency: string;
  total: number;
  free: number;
}

/** A perpetual's trading rules and mark price, for the pre-trade checks. */
export interface MarketInfo {
  /** Unified symbol, e.g. "BTC/USDT:USDT". */
  symbol: string;
  active: boolean;
  lotStep: number;
  minSize: number;
  maxSize: number | null;
  minNotional: number;
  maxLeverage: number;
  markPrice: number;
  /** Taker fee as a fraction of notional (0.0005 = 0.05 %). */
  takerFeeRate: number;
  /** Maintenance margin as a fraction of notional, for the liquidation estimate. */
  maintenanceMarginRate: number;
}

/** How the venue closed a position, as its own fills say. */
export interface VenueClose {
  price: number;
  size: number;
  fee: number;
  reason: "manual" | "stop_loss" | "take_profit" | "liquidation" | "venue";
  at: Date;
}

export interface Venue {
  readonly id: VenueId;
  /** The latest close of `symbol` at or after `since`, from the venue's fills, if it reports them. */
  lastClose?(creds: VenueCredentials, symbol: string, since: Date): Promise<VenueClose | null>;
  /** The market's rules and mark price; throws unknown_symbol when the venue has no such perpetual. */
  market?(creds: VenueCredentials, symbol: string): Promise<MarketInfo>;
  verifyScopes(creds: VenueCredentials): Promise<ScopeReport>;
  openPosition(creds: VenueCredentials, input: OpenPositionInput): Promise<Fill>;
  modifyPosition(creds: VenueCredentials, input: ModifyPositionInput): Promise<Fill | null>;
  closePosition(creds: VenueCredentials, input: { symbol: string }): Promise<Fill | null>;
  positions(creds: VenueCredentials): Promise<Position[]>;
  balance(creds: VenueCredentials): Promise<Balance[]>;
}

export type VenueErrorCode =
  /** The venue rejected the key (bad key, bad signature, revoked, wrong IP). */
  | "invalid_key"
  /** The venue says the key lacks a permission for this call. */
  | "permission_denied"
  /** Unreachable, timed out, 5xx: may be retried. */
  | "network"
  | "rate_limited"
  | "insufficient_funds"
  | "invalid_order"
  | "unknown_symbol"
  /** The credentials do not fit the venue (e.g. a Hyperliquid master key). */
  | "unsupported_credentials"
  | "venue_error";

export class VenueError extends Error {
  constructor(
    readonly code: VenueErrorCode,
    message: string,
    readonly retryable = code === "network" || code === "rate_limited",
  ) {
    super(message);
    this.name = "VenueError";
  }
}
