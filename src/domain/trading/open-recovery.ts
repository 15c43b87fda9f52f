// Opens left between the venue and the database: every open notes its intent (client order id
// and what was asked) before the venue is called, and the trade's record removes it. An intent
// still there after RECOVER_AFTER_MS belongs to a request that died on the way (a database
// write that failed after the fill, a process killed): the venue is asked by client order id,
// and a fill is recorded as the trade with its audit entry, its idempotency key and its slot,
// while an order never placed frees the key and the slot. Nothing is released on a guess: a
// position on the symbol and side that no open Warden trade accounts for keeps the intent.
// Each intent is claimed (a lease) before it is worked on, so overlapping runs or two workers
// never process it twice.
import { withDecryptedExchangeKeys } from "../vault/decrypt-scope";
import type { ExchangeKeyRing } from "../vault/key-ring";
import type { CredentialRecord } from "../venues/key-records";
import type { Fill, Position, Side, Venue, VenueId } from "../venues/types";
import { VenueError } from "../venues/types";
import type { Notifier } from "./reconcile";
import { coinOf, displaySymbol } from "./symbols";
import type { Caller, OpenTradeInput, TradeRecord, TradeSource, TradingStore } from "./types";
import { settleOrder } from "./uncertain-outcome";

export interface OpenIntent {
  clientOrderId: string;
  userId: string;
  credentialId: string;
  idempotencyKey: string | null;
  symbol: string;
  side: Side;
  size: number;
  leverage: number | null;
  stopLoss: number | null;
  takeProfit: number | null;
  source: TradeSource;
  ip: string | null;
  createdAt?: Date;
}

/** What an open is about to ask the venue for, under `clientOrderId`. */
export function openIntentOf(
  caller: Caller,
  credentialId: string,
  input: OpenTradeInput,
  clientOrderId: string,
): OpenIntent {
  return {
    clientOrderId,
    userId: caller.userId,
    credentialId,
    idempotencyKey: input.idempotencyKey ?? null,
    symbol: input.symbol,
    side: input.side,
    size: input.size,
    leverage: input.leverage ?? null,
    stopLoss: input.stopLoss ?? null,
    takeProfit: input.takeProfit ?? null,
    source: caller.source,
    ip: caller.ip,
  };
}

export interface OpenIntentStore {
  /** Before the venue is called: the order that may be about to exist. */
  noteOpenIntent(intent: OpenIntent): Promise<void>;
  /** The venue certainly did not place it (a refusal): nothing to recover. */
  dropOpenIntent(clientOrderId: string): Promise<void>;
  /**
   * The oldest intent older than `olderThanMs` that no run holds, claimed for `leaseMs`
   * (atomically: a concurrent run gets another one or none); null when none is left.
   */
  claimStaleOpenIntent(olderThanMs: number, leaseMs: number): Promise<OpenIntent | null>;
  /** The trade already recorded for this order (its intent is then removed), or null. */
  recordedOpen(clientOrderId: string): Promise<string | null>;
  /** The symbols of this key's open trades on `side`. */
  openTradeSymbols(credentialId: string, side: Side): Promise<string[]>;
  /**
   * The venue says the order was never placed: removes the intent and frees its request and
   * slot (unless a trade took them meanwhile); false when the intent was already gone.
   */
  abandonOpenIntent(intent: OpenIntent): Promise<boolean>;
  /**
   * Frees idempotency keys claimed more than `olderThanMs` ago with neither a trade nor an
   * intent: the request failed before any order was sent (e.g. the database went away).
   */
  releaseStrandedRequests(olderThanMs: number): Promise<number>;
}

/**
 * Longer than any open still running can take, so recovery never overtakes a live request:
 * ccxt times out each venue call after 15 s; an open makes up to 4 (leverage, order, stop
 * loss / take profit, position read) = 60 s, then after a lost answer up to 5 lookups by
 * client order id of 15 s each = 75 s plus their pauses (≈ 10 s): ≈ 2.5 min. Twice that.
 */
export const RECOVER_AFTER_MS = 5 * 60_000;
/**
 * How long one run holds an intent: one recovery is up to 5 lookups (75 s) plus pauses, a
 * position read and a stop loss / take profit call (15 s each) ≈ 2 min; a run that dies lets
 * it go when the lease runs out, and an unresolved intent is tried again then.
 */
export const RECOVER_LEASE_MS = 5 * 60_000;
/** A claimed key with no intent is older than any request that could still note one. */
export const STRANDED_AFTER_MS = 120_000;

export interface OpenRecoveryDeps {
  store: Pick<TradingStore, "recordOpen" | "recordFailure"> & OpenIntentStore;
  /** Where an intent kept for attention is reported (the process logger). */
  warn?: (message: string, fields: Record<string, unknown>) => void;
  keyRing: ExchangeKeyRing;
  venues: Record<VenueId, Venue>;
  credential: (userId: string, credentialId: string) => Promise<CredentialRecord | null>;
  notifier?: Notifier;
  /** Pauses between lookups (settleOrder's; a not-found counts when said twice). */
  lookupDelaysMs?: readonly number[];
}

export interface RecoveryResult {
  recorded: TradeRecord[];
  abandoned: number;
  /** Still unknown (venue unreachable, key gone): tried again on the next run. */
  unresolved: number;
  releasedRequests: number;
}

export async function recoverOpens(
  deps: OpenRecoveryDeps,
  opts: { olderThanMs?: number; limit?: number } = {},
): Promise<RecoveryResult> {
  const out: RecoveryResult = { recorded: [], abandoned: 0, unresolved: 0, releasedRequests: 0 };
  const limit = opts.limit ?? 100;
  for (let i = 0; i < limit; i++) {
    // Claimed one at a time, so a lease covers one intent's lookups, not the whole run.
    const intent = await deps.store.claimStaleOpenIntent(
      opts.olderThanMs ?? RECOVER_AFTER_MS,
      RECOVER_LEASE_MS,
    );
    if (!intent) break;
    try {
      const done = await recoverOne(deps, intent);
      if (done === "abandoned") out.abandoned++;
      else if (done === "already_recorded") continue;
      else if (done === null) out.unresolved++;
      else out.recorded.push(done);
    } catch {
      // One venue or key failing does not hold up the others; the intent stays for next time.
      out.unresolved++;
    }
  }
  out.releasedRequests = await deps.store.releaseStrandedRequests(STRANDED_AFTER_MS);
  return out;
}

async function recoverOne(
  deps: OpenRecoveryDeps,
  intent: OpenIntent,
): Promise<TradeRecord | "abandoned" | "already_recorded" | null> {
  const c = await deps.credential(intent.userId, intent.credentialId);
  const venue = c ? deps.venues[c.venue] : undefined;
  // A deleted key cannot be asked: the intent stays, and the key and slot stay held.
  if (!c || !venue?.findOrder) return null;
  const on = <T>(fn: (keys: Parameters<Venue["positions"]>[0]) => Promise<T>) =>
    withDecryptedExchangeKeys(deps.keyRing, c.encrypted, fn);
  const found = await settleOrder(
    () =>
      on((keys) =>
        venue.findOrder!(keys, {
          symbol: intent.symbol,
          side: intent.side,
          clientOrderId: intent.clientOrderId,
        }),
      ),
    { delaysMs: deps.lookupDelaysMs ?? [0, 1_000] },
  );
  if (found === null) return null;
  if (found.status !== "filled") {
    // The venue has no such order, but a position no open Warden trade accounts for may be
    // its fill (a lookup that missed it): the intent, its key and its slot stay, for a person.
    const unattributed = await unattributedPosition(deps, c.id, intent, on, venue);
    if (unattributed) {
      deps.warn?.("open intent kept: an unattributed position on its symbol", {
        clientOrderId: intent.clientOrderId,
        userId: intent.userId,
        symbol: intent.symbol,
        side: intent.side,
        positionSize: unattributed.size,
      });
      return null;
    }
    if (!(await deps.store.abandonOpenIntent(intent))) return "abandoned";
    await deps.store.recordFailure({
      userId: intent.userId,
      action: "open",
      tradeId: null,
      venue: c.venue,
      symbol: intent.symbol,
      details: {
        side: intent.side,
        size: intent.size,
        clientOrderId: intent.clientOrderId,
        error: "not_placed",
        outcome: found.status,
        recovered: "venue_lookup",
      },
      source: intent.source,
      ip: intent.ip,
      outcome: "failed",
    });
    return "abandoned";
  }
  // The live request recorded it meanwhile: nothing more (no second stop loss / take profit,
  // no second notice).
  if ((await deps.store.recordedOpen(intent.clientOrderId)) !== null) return "already_recorded";
  const fill: Fill = { ...found.fill };
  if (intent.stopLoss !== null || intent.takeProfit !== null) {
    try {
      await on((keys) =>
        venue.modifyPosition(keys, {
          symbol: intent.symbol,
          side: intent.side,
          stopLoss: intent.stopLoss ?? undefined,
          takeProfit: intent.takeProfit ?? undefined,
        }),
      );
    } catch (err) {
      if (!(err instanceof VenueError)) throw err;
      fill.protectionError = err.message;
    }
  }
  const protectedOk = fill.protectionError === undefined;
  const trade = await deps.store.recordOpen(
    {
      userId: intent.userId,
      credentialId: c.id,
      venue: c.venue,
      symbol: fill.symbol,
      side: intent.side,
      size: fill.size,
      entryPrice: fill.price,
      leverage: intent.leverage,
      stopLoss: protectedOk ? intent.stopLoss : null,
      takeProfit: protectedOk ? intent.takeProfit : null,
      source: intent.source,
    },
    {
      slotSymbol: intent.symbol,
      idempotencyKey: intent.idempotencyKey,
      clientOrderId: intent.clientOrderId,
    },
    {
      userId: intent.userId,
      action: "open",
      venue: c.venue,
      symbol: fill.symbol,
      details: {
        side: intent.side,
        size: intent.size,
        leverage: intent.leverage,
        stopLoss: intent.stopLoss,
        takeProfit: intent.takeProfit,
        price: fill.price,
        filled: fill.size,
        orderId: fill.orderId,
        clientOrderId: intent.clientOrderId,
        // Written by the recovery job from the venue's own record of the order.
        recovered: "venue_lookup",
        ...(protectedOk ? {} : { protection: "not_placed", protectionError: fill.protectionError }),
      },
      source: intent.source,
      ip: intent.ip,
      outcome: "ok",
    },
  );
  await deps.notifier?.notify(
    intent.userId,
    "entry",
    `Trade #${trade.id} ${displaySymbol(trade.symbol)} ${trade.side} ${trade.size} is open: the order filled at the venue while Warden was interrupted, and is now recorded.${protectedOk ? "" : ` The stop loss / take profit could not be placed (${fill.protectionError}): set them with /positions.`}`,
  );
  return trade;
}

async function unattributedPosition(
  deps: OpenRecoveryDeps,
  credentialId: string,
  intent: OpenIntent,
  on: <T>(fn: (keys: Parameters<Venue["positions"]>[0]) => Promise<T>) => Promise<T>,
  venue: Venue,
): Promise<Position | null> {
  const coin = coinOf(intent.symbol);
  const open = await on((keys) => venue.positions(keys));
  const position = open.find((p) => p.side === intent.side && coinOf(p.symbol) === coin);
  if (!position) return null;
  const ours = await deps.store.openTradeSymbols(credentialId, intent.side);
  return ours.some((s) => coinOf(s) === coin) ? null : position;
}
