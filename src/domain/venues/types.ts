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
  /**
   * Warden's id for the entry order (32 hex digits, from client-order-id.ts); each adapter sends
   * it in the venue's field (`newClientOrderId`, `orderLinkId`, `cloid`) so an order whose answer
   * was lost can be looked up by it.
   */
  clientOrderId?: string;
}

export interface ModifyPositionInput {
  symbol: string;
  /** The leg in hedge mode (Binance dual side, Bybit both-side); one-way accounts ignore it. */
  side?: Side;
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
  /**
   * Set when the entry filled but its stop loss / take profit could not be placed: the position
   * is open and unprotected, and the venue's reason is given here.
   */
  protectionError?: string;
}

/** What the venue knows of an order sent with a client order id. */
export type OrderLookup =
  /** The venue has no order with that id: it was never placed. */
  | { status: "not_found" }
  /** Placed and not (yet) finished; look again later. */
  | { status: "pending" }
  /** Finished; `fill.size` is what executed (0 < size ≤ asked, a partial fill is still a fill). */
  | { status: "filled"; fill: Fill }
  /** Finished with nothing executed (cancelled, expired, rejected). */
  | { status: "cancelled" };

/** A stop loss or take profit order resting at the venue. */
export interface TriggerOrder {
  id: string;
  symbol: string;
  kind: "stopLoss" | "takeProfit";
  triggerPrice: number;
  /** The position leg it acts on (hedge mode), or null in one-way mode. */
  positionSide: Side | null;
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
  /** Every commission since the trade opened (entry and exit fills), in the settle currency. */
  fee: number;
  /** Funding paid (−) or received (+) while open, where the venue reports it; else null. */
  funding?: number | null;
  reason: "manual" | "stop_loss" | "take_profit" | "liquidation" | "closed_at_venue" | "venue";
  at: Date;
}

export interface Venue {
  readonly id: VenueId;
  /**
   * The latest close of `symbol` at or after `since`, from the venue's fills, if it reports
   * them; `side` is the closed position's (hedge legs, and which fills close it).
   */
  lastClose?(
    creds: VenueCredentials,
    symbol: string,
    since: Date,
    side?: Side,
  ): Promise<VenueClose | null>;
  /** The market's rules and mark price; throws unknown_symbol when the venue has no such perpetual. */
  market?(creds: VenueCredentials, symbol: string): Promise<MarketInfo>;
  verifyScopes(creds: VenueCredentials): Promise<ScopeReport>;
  openPosition(creds: VenueCredentials, input: OpenPositionInput): Promise<Fill>;
  modifyPosition(creds: VenueCredentials, input: ModifyPositionInput): Promise<Fill | null>;
  /** `side` picks the leg in hedge mode; without it the symbol's one position is closed. */
  closePosition(
    creds: VenueCredentials,
    input: { symbol: string; side?: Side },
  ): Promise<Fill | null>;
  positions(creds: VenueCredentials): Promise<Position[]>;
  balance(creds: VenueCredentials): Promise<Balance[]>;
  /** Looks an order up by the client order id it was sent with (after a lost answer). */
  findOrder?(
    creds: VenueCredentials,
    input: { symbol: string; side: Side; clientOrderId: string },
  ): Promise<OrderLookup>;
  /** Stop loss / take profit orders open at the venue, in `symbol` or everywhere. */
  openTriggers?(creds: VenueCredentials, input: { symbol?: string }): Promise<TriggerOrder[]>;
  /**
   * Cancels the triggers in `symbol` that no open position needs any more (the position was
   * closed by a trigger, a liquidation or in the exchange app); returns those cancelled.
   */
  cancelLeftoverTriggers?(
    creds: VenueCredentials,
    input: { symbol: string },
  ): Promise<TriggerOrder[]>;
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
  /** Asked by its client order id after a lost answer, the venue has no such order. */
  | "not_placed"
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

/** A live venue: its orders can be looked up by client id and its triggers tidied. */
export type LiveVenue = Venue &
  Required<Pick<Venue, "findOrder" | "openTriggers" | "cancelLeftoverTriggers">>;
