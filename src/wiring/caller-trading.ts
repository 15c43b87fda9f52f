// The trading surface the api and bot roles use: the use cases in this process ("direct", which
// decrypts keys here), or intents to a separate signer ("remote", issue 19), which decrypts them
// there. Both give the same answers and the same trade notices; reads come from the database.
import { type ConnectionOptions, type Queue, QueueEvents } from "bullmq";
import type { Redis } from "ioredis";
import type { Cockpit } from "../cockpit";
import type { CockpitRecords } from "../cockpit-records";
import type { PartialClose } from "../domain/trading/partial-close";
import type { OrderQuote, OrderRequest } from "../domain/trading/pre-trade-rules";
import type { ReconcileResult } from "../domain/trading/reconcile";
import { withOrderNotices } from "../domain/trading/trade-notices";
import type { Trading } from "../domain/trading/trading";
import type { Caller, TradeRecord, TradingStore } from "../domain/trading/types";
import { createCredentialsRepo } from "../infra/credentials-repo";
import { type createOrm, preparedSqlOf } from "../infra/database";
import { createPauseStore } from "../infra/pause-store";
import { createIntentNotices, lateNotice } from "../jobs/intent-notices";
import { changeKey, createRemoteTrading } from "../jobs/remote-trading";
import { createSignerIntentClient, intentJobId } from "../jobs/signer-intents";

export type TradingMode = "direct" | "remote";

export interface CallerTrading {
  mode: TradingMode;
  /** The trading use cases with their notices. */
  trading: Trading;
  quote: (userId: string, req: OrderRequest) => Promise<OrderQuote>;
  partialClose: (t: TradeRecord, percent: number) => Promise<PartialClose>;
  reconcileKey: (userId: string, credentialId: string) => Promise<ReconcileResult | null>;
  /** Remote only: the pre-trade checks and the open as one intent (see trading-routes). */
  placeOrder?: (
    caller: Caller,
    order: OrderRequest,
    idempotencyKey?: string,
  ) => Promise<TradeRecord>;
  close(): Promise<void>;
}

/** How long an API request or a bot command waits for the signer before "still working". */
export const SIGNER_DEADLINE_MS = 8_000;

export function createCallerTrading(
  mode: TradingMode,
  parts: {
    /** The notices; direct: also the cockpit's venue calls (the signer's, in this process). */
    cockpit: CockpitRecords & Partial<Pick<Cockpit, "quote" | "partialClose" | "reconcileKey">>;
    /** The trade records; direct: also the use cases that call the venue. */
    trade: { trading?: Trading; store: TradingStore };
    orm: Awaited<ReturnType<typeof createOrm>>;
    /** Remote: the signer-intents queue, and a blocking connection for its events. */
    queue?: Queue;
    eventsConnection?: () => ConnectionOptions;
    bullPrefix?: string;
    /** Remote: the app's Redis (prefixed), to send each late notice once across processes. */
    redis?: Redis;
    deadlineMs?: number;
    warn?: (fields: Record<string, unknown>, message: string) => void;
  },
): CallerTrading {
  const { cockpit, trade } = parts;
  if (mode === "direct") {
    const { quote, partialClose, reconcileKey } = cockpit;
    if (!trade.trading || !quote || !partialClose || !reconcileKey) {
      throw new Error("direct trading needs the signer's trading use cases and cockpit");
    }
    return {
      mode,
      trading: cockpit.withNotices(trade.trading),
      quote,
      partialClose,
      reconcileKey,
      close: async () => {},
    };
  }
  const { queue, eventsConnection, bullPrefix, redis } = parts;
  if (!queue || !eventsConnection || bullPrefix === undefined || !redis) {
    throw new Error("remote trading needs the signer-intents queue, its events and Redis");
  }
  const events = new QueueEvents(queue.name, {
    connection: eventsConnection(),
    prefix: bullPrefix,
  });
  events.on("error", () => {});
  const sql = preparedSqlOf(parts.orm);
  const credentials = createCredentialsRepo(sql);
  // One notice per intent across callers and the signer (see ../jobs/intent-notices.ts).
  const notices = createIntentNotices(redis);
  const remote = createRemoteTrading({
    client: createSignerIntentClient({ queue, events, beforeRetry: notices.reset }),
    store: trade.store,
    pauses: createPauseStore(sql),
    credentials: (userId) => credentials.list(userId),
    deadlineMs: parts.deadlineMs ?? SIGNER_DEADLINE_MS,
    notices,
    onLate: async (intent, outcome) => {
      const notice = lateNotice(intent, outcome);
      // The user was told "you'll be notified": on every channel, Telegram included.
      if (notice) await cockpit.notifier.notify(intent.userId, notice.event, notice.text);
    },
    onError: (err) => parts.warn?.({ err }, "a signer intent's outcome could not be read"),
  });
  // The on-time notice is claimed as the late one is: two callers waiting on one intent (the
  // same Idempotency-Key), or one answered on time while the signer keeps a promise, send one.
  const claim = (userId: string, key: string) => notices.claim(intentJobId(userId, key), "ok");
  const trading = withChangeKeys(cockpit.withNotices(remote.trading, claim));
  const placeOrder = withOrderNotices(remote.placeOrder, {
    notifier: cockpit.notifier,
    getTrade: trade.store.getTrade,
    replayedOpen: trading.replayedOpen,
    onError: (err) => parts.warn?.({ err }, "a trade notice could not be queued"),
    claim,
  });
  return {
    mode,
    trading,
    quote: remote.quote,
    partialClose: remote.partialClose,
    reconcileKey: remote.reconcileKey,
    placeOrder: (caller, order, key) => placeOrder(caller, order, key ?? changeKey(caller)),
    async close() {
      remote.close();
      await events.close();
    },
  };
}

/**
 * Opens and modifies with their idempotency key chosen before the notices see them, so that
 * the notice is claimed under the key the intent is sent with.
 */
function withChangeKeys(trading: Trading): Trading {
  return {
    ...trading,
    openTrade: (caller, input) =>
      trading.openTrade(caller, {
        ...input,
        idempotencyKey: input.idempotencyKey ?? changeKey(caller),
      }),
    modifyTrade: (caller, tradeId, input, opts = {}) =>
      trading.modifyTrade(caller, tradeId, input, {
        ...opts,
        idempotencyKey: opts.idempotencyKey ?? changeKey(caller),
      }),
  };
}
