// Trading use cases, shared by the bot and the API: authorise → decrypt keys in scope → venue
// call → the trade row and its audit entry in one transaction (S8.1). A failed venue call is
// audited too, with no trade change; an idempotency key makes a retried open open once.
import { withDecryptedExchangeKeys } from "../vault/decrypt-scope";
import type { KeyRing } from "../vault/key-ring";
import type { CredentialRecord } from "../venues/keys";
import type { Balance, Fill, Position, Side, Venue, VenueId } from "../venues/types";
import { VenueError } from "../venues/types";
import { type OpenIntent, type OpenIntentStore, openIntentOf } from "./open-recovery";
import { type ActivePause, blockingPause, type PauseStore, pausedMessage } from "./pause";
import { clientOrderIdFor, outcomeUnknown, settleOrder } from "./uncertain-outcome";

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
  recordChange(id: string, patch: TradePatch, audit: AuditEntry): Promise<TradeRecord>;
  /** Appends an entry with no trade change: a failed venue call. */
  recordFailure(audit: AuditEntry): Promise<void>;
  /** "new" when this call owns the key; otherwise what an earlier call with it did. */
  claimRequest(
    userId: string,
    key: string,
  ): Promise<{ status: "new" } | { status: "done"; tradeId: string } | { status: "pending" }>;
  releaseRequest(userId: string, key: string): Promise<void>;
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
  | "size_not_reduced";

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

export interface TradingDeps {
  store: TradingStore;
  /** The kill switch, read on every open, modify and close. */
  pauses: Pick<PauseStore, "activeFor">;
  keyRing: KeyRing;
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
}

export interface Caller {
  userId: string;
  source: TradeSource;
  ip: string | null;
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

const REFUSED_BEFORE_ORDER = new Set([
  "invalid_key",
  "permission_denied",
  "insufficient_funds",
  "invalid_order",
  "unknown_symbol",
  "unsupported_credentials",
  /** The venue, asked by client order id after a lost answer, has no such order. */
  "not_placed",
]);

function orderCertainlyNotPlaced(err: unknown): boolean {
  if (err instanceof TradingError) {
    if (err.code === "outcome_unknown") return false;
    return err.code !== "venue_failed" || REFUSED_BEFORE_ORDER.has(err.venueCode ?? "");
  }
  return err instanceof VenueError && REFUSED_BEFORE_ORDER.has(err.code);
}

/**
 * `p`, marked as handled: a read started alongside others may be left unawaited when an earlier
 * check refuses the action; its failure then must not surface as an unhandled rejection.
 */
function quiet<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}

export function createTrading(deps: TradingDeps) {
  const { store } = deps;

  async function credentialFor(
    userId: string,
    credentialId?: string,
    /** The user's credentials when already being read (alongside the kill switch). */
    listed?: Promise<CredentialRecord[]>,
  ): Promise<CredentialRecord> {
    const all = await (listed ?? deps.credentials(userId));
    const usable = all.filter((c) => !c.revokedAt && !c.disabledAt);
    if (credentialId) {
      const c = all.find((x) => x.id === credentialId);
      if (!c) throw new TradingError("no_key", `No key #${credentialId}. /keys lists your keys.`);
      if (c.revokedAt || c.disabledAt)
        throw new TradingError(
          "key_not_usable",
          `Key #${c.id} is ${c.revokedAt ? "revoked" : "disabled"}.`,
        );
      return c;
    }
    const newest = usable.at(-1);
    if (!newest)
      throw new TradingError("no_key", "Connect a key first (/connect, or POST /api/keys).");
    return newest;
  }

  async function onVenue<T>(
    c: CredentialRecord,
    fn: (v: Venue, keys: Parameters<Venue["positions"]>[0]) => Promise<T>,
  ) {
    return withDecryptedExchangeKeys(deps.keyRing, c.encrypted, (keys) =>
      fn(deps.venues[c.venue], keys),
    );
  }

  const failedDetails = (err: VenueError, asked: Record<string, unknown>) => ({
    ...asked,
    error: err.code,
    message: err.message,
  });

  async function auditFailure(
    caller: Caller,
    action: TradeAction,
    c: CredentialRecord,
    symbol: string,
    tradeId: string | null,
    err: VenueError,
    asked: Record<string, unknown>,
  ) {
    await store.recordFailure({
      userId: caller.userId,
      action,
      tradeId,
      venue: c.venue,
      symbol,
      details: failedDetails(err, asked),
      source: caller.source,
      ip: caller.ip,
      outcome: "failed",
    });
    return new TradingError("venue_failed", err.message, err.code);
  }

  /**
   * Fails safe: when the switch cannot be read, the action is refused like a paused one.
   * `read` is the switch's state when already being read (alongside the action's other reads).
   */
  async function assertNotPaused(
    caller: Caller,
    action: TradeAction,
    read?: Promise<ActivePause[]>,
  ): Promise<void> {
    let pauses: ActivePause[];
    try {
      pauses = await (read ?? deps.pauses.activeFor(caller.userId));
    } catch {
      throw new TradingPausedError(
        "⏸ Trading is unavailable right now (the pause switch cannot be checked). Try again shortly.",
        "unknown",
      );
    }
    const p = blockingPause(pauses, action);
    if (p) throw new TradingPausedError(pausedMessage(p), p.userId === null ? "global" : "account");
  }

  /**
   * The open's answer was lost: asks the venue for the order by its client id until it says
   * what happened. Filled (wholly or partly) → that fill, with the asked stop loss / take profit
   * placed now (their failure is reported, not thrown: the position is open). Never placed →
   * a certain failure (the request may be retried). No answer → `outcome_unknown`, and the
   * request and its slot stay claimed so that no retry can open a second position.
   */
  async function settleUnknownOpen(
    caller: Caller,
    c: CredentialRecord,
    input: OpenTradeInput,
    clientOrderId: string,
    lost: VenueError,
  ): Promise<Fill> {
    const asked = { side: input.side, size: input.size, clientOrderId, lostAnswer: lost.message };
    const found = await settleOrder(
      () =>
        onVenue(c, (v, keys) =>
          v.findOrder!(keys, { symbol: input.symbol, side: input.side, clientOrderId }),
        ),
      { delaysMs: deps.lookupDelaysMs },
    );
    if (found === null) {
      await auditFailure(caller, "open", c, input.symbol, null, lost, {
        ...asked,
        outcome: "unknown",
      });
      throw new TradingError(
        "outcome_unknown",
        `${lost.message.replace(/[.;:]?\s*try again shortly\.?$/i, "")}. Warden cannot tell yet whether the order was placed: check your positions before trying again; this request stays on hold so that it cannot open twice.`,
        lost.code,
      );
    }
    if (found.status !== "filled") {
      throw await auditFailure(
        caller,
        "open",
        c,
        input.symbol,
        null,
        new VenueError("not_placed", "The venue did not place the order; nothing was opened."),
        { ...asked, outcome: found.status },
      );
    }
    const fill: Fill = { ...found.fill };
    if (input.stopLoss !== undefined || input.takeProfit !== undefined) {
      try {
        await onVenue(c, (v, keys) =>
          v.modifyPosition(keys, {
            symbol: input.symbol,
            side: input.side,
            stopLoss: input.stopLoss,
            takeProfit: input.takeProfit,
          }),
        );
      } catch (err) {
        if (!(err instanceof VenueError)) throw err;
        fill.protectionError = err.message;
      }
    }
    return fill;
  }

  /**
   * An action's reads of the kill switch and of the user's keys, started together (fresh for
   * this action: nothing is kept across actions, so a pause or a revocation applies at once).
   */
  function actionReads(caller: Caller) {
    const together = deps.actionState;
    if (together) {
      const both = quiet((async () => together(caller.userId))());
      return {
        pauses: quiet(both.then((b) => b.pauses)),
        credentials: quiet(both.then((b) => b.credentials)),
      };
    }
    return {
      // Async, so that a store throwing at once is refused as an unreadable switch too.
      pauses: quiet((async () => deps.pauses.activeFor(caller.userId))()),
      credentials: quiet(deps.credentials(caller.userId)),
    };
  }

  async function noteIp(caller: Caller) {
    if (caller.source === "api" && caller.ip) await store.recordIp(caller.userId, caller.ip);
  }

  return {
    /** The kill switch alone, so a paused user is told before an order is quoted. */
    assertNotPaused,

    /**
     * The trade an earlier open with this idempotency key already opened, so a retried request
     * is answered with it before anything else is checked again (the market may have moved).
     */
    async replayedOpen(userId: string, idempotencyKey: string): Promise<TradeRecord | null> {
      const tradeId = await store.requestOutcome(userId, idempotencyKey);
      return tradeId ? store.getTrade(userId, tradeId) : null;
    },

    async openTrade(caller: Caller, input: OpenTradeInput): Promise<TradeRecord> {
      // The kill switch and the keys are read at once (each once for this action); the switch
      // is judged first, so a paused user is told so whatever the keys say.
      const { pauses, credentials } = actionReads(caller);
      await assertNotPaused(caller, "open", pauses);
      const c = await credentialFor(caller.userId, input.credentialId, credentials);
      const key = input.idempotencyKey;
      let reservedSlot = false;
      let notedIntent: string | undefined;
      if (key) {
        const claim = await store.claimRequest(caller.userId, key);
        if (claim.status === "done") return (await store.getTrade(caller.userId, claim.tradeId))!;
        if (claim.status === "pending")
          throw new TradingError("in_progress", "That request is still being processed.");
      }
      try {
        const clientOrderId = clientOrderIdFor(c.id, key);
        // Noted with the slot, before the order leaves, so an open that dies after it (a failed
        // write, a killed process) is found and recorded from the venue by the recovery job.
        const intent =
          deps.venues[c.venue].findOrder !== undefined
            ? openIntentOf(caller, c.id, input, clientOrderId)
            : undefined;
        const slot = await store.reserveSlot(c.id, input.symbol, intent);
        if (!slot.reserved) {
          throw new TradingError(
            "already_open",
            slot.tradeId
              ? `Trade #${slot.tradeId} is already open on ${input.symbol} with this key: modify or close it.`
              : `Another order on ${input.symbol} with this key is in progress.`,
          );
        }
        reservedSlot = true;
        if (intent) notedIntent = clientOrderId;
        const asked = {
          side: input.side,
          size: input.size,
          leverage: input.leverage ?? null,
          stopLoss: input.stopLoss ?? null,
          takeProfit: input.takeProfit ?? null,
        };
        let fill: Fill;
        try {
          fill = await onVenue(c, (v, keys) => v.openPosition(keys, { ...input, clientOrderId }));
        } catch (err) {
          if (outcomeUnknown(err) && deps.venues[c.venue].findOrder !== undefined) {
            fill = await settleUnknownOpen(caller, c, input, clientOrderId, err as VenueError);
          } else {
            if (err instanceof VenueError)
              throw await auditFailure(caller, "open", c, input.symbol, null, err, asked);
            throw err;
          }
        }
        const protectionError = fill.protectionError;
        const trade = await store.recordOpen(
          {
            userId: caller.userId,
            credentialId: c.id,
            venue: c.venue,
            symbol: fill.symbol,
            side: input.side,
            size: fill.size,
            entryPrice: fill.price,
            leverage: input.leverage ?? null,
            stopLoss: protectionError === undefined ? (input.stopLoss ?? null) : null,
            takeProfit: protectionError === undefined ? (input.takeProfit ?? null) : null,
            source: caller.source,
          },
          { slotSymbol: input.symbol, idempotencyKey: key ?? null, clientOrderId },
          {
            userId: caller.userId,
            action: "open",
            venue: c.venue,
            symbol: fill.symbol,
            details: {
              ...asked,
              price: fill.price,
              filled: fill.size,
              orderId: fill.orderId,
              clientOrderId,
              ...(protectionError === undefined
                ? {}
                : { protection: "not_placed", protectionError }),
            },
            source: caller.source,
            ip: caller.ip,
            outcome: "ok",
          },
        );
        await noteIp(caller);
        return protectionError === undefined ? trade : { ...trade, protectionError };
      } catch (err) {
        // Free the key only when no order can have reached the venue; after a timeout or an
        // unclear venue answer it stays claimed, so a retry cannot open a second position.
        if (orderCertainlyNotPlaced(err)) {
          if (notedIntent) await store.dropOpenIntent(notedIntent);
          if (key) await store.releaseRequest(caller.userId, key);
          if (reservedSlot) await store.releaseSlot(c.id, input.symbol);
        }
        throw err;
      }
    },

    async modifyTrade(
      caller: Caller,
      tradeId: string,
      input: { stopLoss?: number | null; takeProfit?: number | null; size?: number },
    ) {
      const { pauses, credentials } = actionReads(caller);
      const trade = quiet(store.getTrade(caller.userId, tradeId));
      await assertNotPaused(caller, "modify", pauses);
      const t = await trade;
      if (!t) throw new TradingError("trade_not_found", `No trade #${tradeId}.`);
      if (t.status !== "open") throw new TradingError("trade_closed", `Trade #${t.id} is closed.`);
      // Growing a position here would skip the pre-trade checks and the confirmation.
      if (input.size !== undefined && !(input.size > 0 && input.size < t.size)) {
        throw new TradingError(
          "size_not_reduced",
          `The size of #${t.id} can only be reduced here (it is ${t.size}); to add to it, open a new order.`,
        );
      }
      const c = await credentialFor(caller.userId, t.credentialId, credentials);
      const asked = { stopLoss: input.stopLoss, takeProfit: input.takeProfit, size: input.size };
      let fill: Fill | null;
      try {
        fill = await onVenue(c, (v, keys) =>
          v.modifyPosition(keys, { symbol: t.symbol, side: t.side, ...input }),
        );
      } catch (err) {
        if (err instanceof VenueError)
          throw await auditFailure(caller, "modify", c, t.symbol, t.id, err, asked);
        throw err;
      }
      const updated = await store.recordChange(
        t.id,
        {
          ...(input.size !== undefined ? { size: input.size } : {}),
          ...(input.stopLoss !== undefined ? { stopLoss: input.stopLoss } : {}),
          ...(input.takeProfit !== undefined ? { takeProfit: input.takeProfit } : {}),
        },
        {
          userId: caller.userId,
          action: "modify",
          tradeId: t.id,
          venue: c.venue,
          symbol: t.symbol,
          details: { ...asked, price: fill?.price ?? null, orderId: fill?.orderId ?? null },
          source: caller.source,
          ip: caller.ip,
          outcome: "ok",
        },
      );
      await noteIp(caller);
      return updated;
    },

    async closeTrade(caller: Caller, tradeId: string) {
      const { pauses, credentials } = actionReads(caller);
      const trade = quiet(store.getTrade(caller.userId, tradeId));
      await assertNotPaused(caller, "close", pauses);
      const t = await trade;
      if (!t) throw new TradingError("trade_not_found", `No trade #${tradeId}.`);
      if (t.status !== "open")
        throw new TradingError("trade_closed", `Trade #${t.id} is already closed.`);
      const c = await credentialFor(caller.userId, t.credentialId, credentials);
      let fill: Fill | null;
      try {
        fill = await onVenue(c, (v, keys) =>
          v.closePosition(keys, { symbol: t.symbol, side: t.side }),
        );
      } catch (err) {
        if (err instanceof VenueError)
          throw await auditFailure(caller, "close", c, t.symbol, t.id, err, {});
        throw err;
      }
      const closed = await store.recordChange(
        t.id,
        {
          status: "closed",
          exitPrice: fill?.price ?? null,
          ...closeLedger(t, fill?.price ?? null),
        },
        {
          userId: caller.userId,
          action: "close",
          tradeId: t.id,
          venue: c.venue,
          symbol: t.symbol,
          details: {
            price: fill?.price ?? null,
            size: fill?.size ?? 0,
            orderId: fill?.orderId ?? null,
            alreadyFlat: fill === null,
          },
          source: caller.source,
          ip: caller.ip,
          outcome: "ok",
        },
      );
      await noteIp(caller);
      return closed;
    },

    async closeAll(caller: Caller) {
      const open = await store.listTrades(caller.userId, { limit: 100, status: "open" });
      const results: Array<{ id: string; ok: boolean; message?: string }> = [];
      for (const t of open) {
        try {
          await this.closeTrade(caller, t.id);
          results.push({ id: t.id, ok: true });
        } catch (err) {
          if (!(err instanceof TradingError)) throw err;
          results.push({ id: t.id, ok: false, message: err.message });
        }
      }
      return results;
    },

    listTrades: (
      userId: string,
      opts: { limit: number; beforeId?: string; status?: "open" | "closed" },
    ) => store.listTrades(userId, opts),

    /** Positions and balances as the venues report them, per usable key. */
    async portfolio(userId: string): Promise<
      Array<{
        credentialId: string;
        venue: VenueId;
        /** A testnet key's account: its positions are test positions, shown apart. */
        testnet: boolean;
        positions?: Position[];
        balances?: Balance[];
        error?: string;
      }>
    > {
      const out = [];
      for (const c of (await deps.credentials(userId)).filter(
        (x) => !x.revokedAt && !x.disabledAt,
      )) {
        try {
          const [positions, balances] = await onVenue(
            c,
            async (v, keys) => [await v.positions(keys), await v.balance(keys)] as const,
          );
          out.push({ credentialId: c.id, venue: c.venue, testnet: c.testnet, positions, balances });
        } catch (err) {
          if (!(err instanceof VenueError)) throw err;
          out.push({ credentialId: c.id, venue: c.venue, testnet: c.testnet, error: err.message });
        }
      }
      return out;
    },
  };
}

export type Trading = ReturnType<typeof createTrading>;
