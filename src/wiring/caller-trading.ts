// The trading surface the api and bot roles use: the use cases in this process ("direct", which
// decrypts keys here), or intents to a separate signer ("remote", issue 19), which decrypts them
// there. Both give the same answers and the same trade notices; reads come from the database.
import { type ConnectionOptions, type Queue, QueueEvents } from "bullmq";
import type { Redis } from "ioredis";
import type { Cockpit } from "../cockpit";
import type { PartialClose } from "../domain/trading/partial-close";
import type { OrderQuote, OrderRequest } from "../domain/trading/pre-trade-rules";
import type { ReconcileResult } from "../domain/trading/reconcile";
import { displaySymbol } from "../domain/trading/symbols";
import { entryNotice, price, withOrderNotices } from "../domain/trading/trade-notices";
import type { Trading } from "../domain/trading/trading";
import type { Caller, TradeRecord, TradingStore } from "../domain/trading/types";
import { createCredentialsRepo } from "../infra/credentials-repo";
import { type createOrm, preparedSqlOf } from "../infra/database";
import { createPauseStore } from "../infra/pause-store";
import { createRemoteTrading, tradeOf } from "../jobs/remote-trading";
import {
  createSignerIntentClient,
  type IntentOutcome,
  type SignerIntent,
} from "../jobs/signer-intents";

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

/** The notice of a change that finished after its caller was told "still working". */
export function lateNotice(
  intent: SignerIntent,
  outcome: Exclude<IntentOutcome, { status: "still_working" }>,
): { event: "entry" | "sl_tp_moved" | "exit"; text: string } | null {
  const event =
    intent.action === "open"
      ? "entry"
      : intent.action === "modify"
        ? "sl_tp_moved"
        : intent.action === "close"
          ? "exit"
          : null;
  if (event === null) return null;
  const what = { entry: "open", sl_tp_moved: "change", exit: "close" }[event];
  if (outcome.status === "done" && outcome.result.ok) {
    const t = tradeOf(outcome.result.value);
    if (event === "entry") return { event, text: entryNotice(t) };
    const head = `#${t.id} ${displaySymbol(t.symbol)} ${t.side}`;
    return {
      event,
      text:
        event === "exit"
          ? `Closed: ${head} at ${price(t.exitPrice)}`
          : `Changed: ${head} ${price(t.size)} — SL ${price(t.stopLoss)}, TP ${price(t.takeProfit)}`,
    };
  }
  const reason =
    outcome.status === "done" && !outcome.result.ok
      ? outcome.result.message
      : outcome.status === "refused" || outcome.status === "failed"
        ? outcome.reason
        : "";
  return { event, text: `❌ Your ${what} was not done: ${reason}` };
}

export function createCallerTrading(
  mode: TradingMode,
  parts: {
    cockpit: Cockpit;
    trade: { trading: Trading; store: TradingStore };
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
    return {
      mode,
      trading: cockpit.withNotices(trade.trading),
      quote: cockpit.quote,
      partialClose: cockpit.partialClose,
      reconcileKey: cockpit.reconcileKey,
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
  const remote = createRemoteTrading({
    client: createSignerIntentClient({ queue, events }),
    store: trade.store,
    pauses: createPauseStore(sql),
    credentials: (userId) => credentials.list(userId),
    deadlineMs: parts.deadlineMs ?? SIGNER_DEADLINE_MS,
    claimLate: async (jobId) =>
      (await redis.set(`signer:late:${jobId}`, "1", "EX", 24 * 3600, "NX")) === "OK",
    onLate: async (intent, outcome) => {
      const notice = lateNotice(intent, outcome);
      // The user was told "you'll be notified": on every channel, Telegram included.
      if (notice) await cockpit.notifier.notify(intent.userId, notice.event, notice.text);
    },
    onError: (err) => parts.warn?.({ err }, "a signer intent's outcome could not be read"),
  });
  const trading = cockpit.withNotices(remote.trading);
  const placeOrder = withOrderNotices(remote.placeOrder, {
    notifier: cockpit.notifier,
    getTrade: trade.store.getTrade,
    replayedOpen: trading.replayedOpen,
    onError: (err) => parts.warn?.({ err }, "a trade notice could not be queued"),
  });
  return {
    mode,
    trading,
    quote: remote.quote,
    partialClose: remote.partialClose,
    reconcileKey: remote.reconcileKey,
    placeOrder: (caller, order, key) =>
      placeOrder(caller, order, key ?? caller.requestKey ?? `once:${crypto.randomUUID()}`),
    async close() {
      remote.close();
      await events.close();
    },
  };
}
