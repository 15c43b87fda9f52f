// The trading model shared by every trading use case and its stores: trades, audit entries,
// the store port, coded errors and the dependencies the use cases are built from.
import type { ExchangeKeyRing } from "../vault/key-ring";
import type { CredentialRecord } from "../venues/key-records";
import type { Side, Venue, VenueId } from "../venues/types";
import type { OpenIntent, OpenIntentStore } from "./open-recovery";
import type { ActivePause, PauseStore } from "./pause";

export type TradeSource = "telegram" | "api" | "system" | "venue";
export type TradeAction = "open" | "modify" | "close";

export interface TradeRecord {
  id: string;
  userId: string;
  credentialId: string;
  venue: VenueId;
  symbol: string;
  side: Side;
  size: number;
  entryPrice: number | null;
  exitPrice: number | null;
  leverage: number | null;
  stopLoss: number | null;
  takeProfit: number | null;
  status: "open" | "closed";
  source: TradeSource;
  openedAt: Date;
  closedAt: Date | null;
  /** Made with a testnet key (test funds): labelled so wherever the trade is shown. */
  testnet?: boolean;
  /**
   * Only on the answer to an open: the position is open but its stop loss / take profit could
   * not be placed, for this reason (the user is offered to retry them or to close).
   */
  protectionError?: string;
}

export interface AuditEntry {
  userId: string;
  action: TradeAction;
  tradeId: string | null;
  venue: VenueId;
  symbol: string;
  /** What was asked and what happened; never a secret. */
  details: Record<string, unknown>;
  source: TradeSource;
  ip: string | null;
  outcome: "ok" | "failed";
}

export type NewTrade = Omit<TradeRecord, "id" | "openedAt" | "closedAt" | "status" | "exitPrice">;
export type TradePatch = Partial<
  Pick<TradeRecord, "size" | "entryPrice" | "exitPrice" | "stopLoss" | "takeProfit" | "status">
> &
  Partial<CloseLedger>;

/** What a close adds to the P&L ledger (see ledger.ts). */
export interface CloseLedger {
  fees: number | null;
  funding: number | null;
  realizedPnl: number | null;
  /**
   * "manual": closed through Warden; "closed_at_venue": by hand at the venue (its fills say so);
   * "venue": by the venue for a reason its data does not tell.
   */
  closeReason: "manual" | "stop_loss" | "take_profit" | "liquidation" | "closed_at_venue" | "venue";
}

/** Each `record…` writes the trade change and its audit entry atomically (S8.1). */
export interface TradingStore extends OpenIntentStore {
  /**
   * Inserts the trade, binds the slot of (credential, `slotSymbol`) reserved for it, marks the
   * idempotency key (if any) as done with it, removes the open's intent and appends `audit`
   * with the new trade's id. An order (`clientOrderId`) already recorded is not recorded
   * twice: its trade is returned.
   */
  recordOpen(
    t: NewTrade,
    links: { slotSymbol: string; idempotencyKey: string | null; clientOrderId?: string | null },
    audit: Omit<AuditEntry, "tradeId">,
  ): Promise<TradeRecord>;
  /**
   * Changes an open trade (closing it frees its slot) and appends `audit`; if the trade is no
   * longer open (closed meanwhile), writes nothing and throws `trade_closed`.
   */
  recordChange(
    id: string,
    patch: TradePatch,
    audit: AuditEntry,
    /**
     * The idempotency key the change is made under (claimed with `claimChange`): its result is
     * written in the same statement, and a key already done changes nothing (`trade_closed`).
     * With `token`, only the claim's holder writes: an attempt whose lease ran out and was
     * retaken changes nothing (`trade_closed`).
     */
    request?: { userId: string; key: string; token?: string },
  ): Promise<TradeRecord>;
  /** Appends an entry with no trade change: a failed venue call. */
  recordFailure(audit: AuditEntry): Promise<void>;
  /**
   * "new" when this call owns the key; otherwise what an earlier call with it did ("conflict":
   * the key was used for a modify or a close).
   */
  claimRequest(
    userId: string,
    key: string,
  ): Promise<
    | { status: "new" }
    | { status: "done"; tradeId: string }
    | { status: "pending" }
    | { status: "conflict" }
  >;
  /**
   * Claims the key for a modify or close: "new" (or an earlier attempt's claim whose lease ran
   * out: it died before recording) → this call acts, holding the claim for `leaseMs` under
   * `token` (renewed with `renewChange` while it acts); "done" →
   * the trade as that change left it; "pending" → another attempt holds it now; "conflict" → the
   * key was used for another request.
   */
  claimChange(
    userId: string,
    key: string,
    request: ChangeRequest,
    leaseMs: number,
  ): Promise<
    | { status: "new"; token: string }
    | { status: "done"; trade: TradeRecord }
    | { status: "pending" }
    | { status: "conflict" }
  >;
  /**
   * Extends the lease of a change's claim by `leaseMs` from now, if `token` still holds it and
   * nothing is recorded yet; false when the claim was lost (retaken, recorded or released).
   */
  renewChange(userId: string, key: string, token: string, leaseMs: number): Promise<boolean>;
  /** The trade as the change recorded under this key left it, if it is that request's; or null. */
  changeOutcome(userId: string, key: string, request: ChangeRequest): Promise<TradeRecord | null>;
  /** Frees an unrecorded key; with `token`, only while that claim holds it. */
  releaseRequest(userId: string, key: string, token?: string): Promise<void>;
  /** The trade an earlier request with this key opened, or null (none, or not finished). */
  requestOutcome(userId: string, key: string): Promise<string | null>;
  getTrade(userId: string, id: string): Promise<TradeRecord | null>;
  /**
   * Reserves the one open-trade slot of (credential, coin) before the venue is called, so two
   * concurrent opens cannot both place an order. Otherwise returns the trade holding it (or null
   * while another open is still in flight).
   */
  reserveSlot(
    credentialId: string,
    symbol: string,
    /** Noted with the slot, atomically, when the slot is won (see `noteOpenIntent`). */
    intent?: OpenIntent,
  ): Promise<{ reserved: true } | { reserved: false; tradeId: string | null }>;
  /** Frees a reservation that never became a trade (the open failed). */
  releaseSlot(credentialId: string, symbol: string): Promise<void>;
  listTrades(
    userId: string,
    opts: { limit: number; beforeId?: string; status?: "open" | "closed" },
  ): Promise<TradeRecord[]>;
  /** The client IP of an API action, for the new-IP rule (S8.3). */
  recordIp(userId: string, ip: string): Promise<void>;
}

/** What a modify or close asked, as its idempotency key records it. */
export interface ChangeRequest {
  action: "modify" | "close";
  tradeId: string;
  change?: { stopLoss?: number | null; takeProfit?: number | null; size?: number };
}

export type TradingErrorCode =
  | "no_key"
  | "key_not_usable"
  | "trade_not_found"
  | "trade_closed"
  | "already_open"
  | "in_progress"
  | "venue_failed"
  /** The venue did not say whether the order executed; the request stays claimed. */
  | "outcome_unknown"
  | "trading_paused"
  /** A modify may only shrink a position: adding goes through a new, checked order. */
  | "size_not_reduced"
  /** Handed to the signer, which has not answered yet: the user is told when it has. */
  | "still_working"
  /** The signer refused the request (a key revoked meanwhile, a reused idempotency key). */
  | "refused"
  /** The signer refused the request as not the caller's to make. */
  | "forbidden"
  /** The signer gave up on the request (an unexpected error after its retries). */
  | "signer_failed";

export class TradingError extends Error {
  constructor(
    readonly code: TradingErrorCode,
    message: string,
    readonly venueCode?: string,
  ) {
    super(message);
    this.name = "TradingError";
  }
}

/** A trade action refused by the kill switch (or because its state could not be read). */
export class TradingPausedError extends TradingError {
  constructor(
    message: string,
    /** "global", "account", or "unknown" when the switch could not be read. */
    readonly scope: "global" | "account" | "unknown",
  ) {
    super("trading_paused", message);
    this.name = "TradingPausedError";
  }
}

/** The request is with the signer: `requestKey` finds it again (a retry joins it, never repeats it). */
export class TradingPendingError extends TradingError {
  constructor(
    message: string,
    readonly requestKey: string,
  ) {
    super("still_working", message);
    this.name = "TradingPendingError";
  }
}

export interface TradingDeps {
  store: TradingStore;
  /** The kill switch, read on every open, modify and close. */
  pauses: Pick<PauseStore, "activeFor">;
  keyRing: ExchangeKeyRing;
  venues: Record<VenueId, Venue>;
  /** The user's credentials (the key service's list). */
  credentials: (userId: string) => Promise<CredentialRecord[]>;
  /**
   * `pauses.activeFor` and `credentials` of a user in one read, where the stores can give them
   * together (one round trip per action); a failure refuses the action like an unreadable switch.
   */
  actionState?: (
    userId: string,
  ) => Promise<{ pauses: ActivePause[]; credentials: CredentialRecord[] }>;
  /** Pauses between lookups of an order whose answer was lost (default LOOKUP_DELAYS_MS). */
  lookupDelaysMs?: readonly number[];
  /** The lease of a modify's or close's claim, renewed while it acts (default CHANGE_LEASE_MS). */
  changeLeaseMs?: number;
}

export interface Caller {
  userId: string;
  source: TradeSource;
  ip: string | null;
  /**
   * Stable for one user action (an API Idempotency-Key, a Telegram update): where a change is
   * handed to a signer, its idempotency key, so that a retried action is never done twice.
   */
  requestKey?: string;
}

export interface OpenTradeInput {
  credentialId?: string;
  symbol: string;
  side: Side;
  size: number;
  stopLoss?: number;
  takeProfit?: number;
  leverage?: number;
  idempotencyKey?: string;
}

/** The realised result of closing `t` at `exit` (no fee or funding reported by this path). */
export function closeLedger(
  t: Pick<TradeRecord, "side" | "size" | "entryPrice">,
  exit: number | null,
  fees = 0,
  closeReason: CloseLedger["closeReason"] = "manual",
): CloseLedger {
  const gross =
    exit === null || t.entryPrice === null
      ? null
      : (exit - t.entryPrice) * t.size * (t.side === "long" ? 1 : -1);
  return {
    fees,
    funding: null,
    realizedPnl: gross === null ? null : Math.round((gross - fees) * 1e8) / 1e8,
    closeReason,
  };
}
