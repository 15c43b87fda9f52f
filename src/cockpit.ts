// Composition of the trader's cockpit (pre-trade quotes, paper triggers, reconciliation,
// notifications, reports) from the adapters the composition root already built: the records
// (./cockpit-records.ts) and what asks the venue with a decrypted key (the signer's).
import { type CockpitRecordsParts, createCockpitRecords } from "./cockpit-records";
import { recoverOpens } from "./domain/trading/open-recovery";
import { partialClose } from "./domain/trading/partial-close";
import { quoteOrder } from "./domain/trading/pre-trade";
import type { OrderRequest } from "./domain/trading/pre-trade-rules";
import { type ReconcileResult, reconcileCredential } from "./domain/trading/reconcile";
import type { TradeRecord } from "./domain/trading/types";
import type { ExchangeKeyRing } from "./domain/vault/key-ring";
import type { PaperPriceFeed } from "./domain/venues/paper";
import { firePaperTriggers } from "./domain/venues/paper-triggers";
import type { Venue, VenueId } from "./domain/venues/types";
import { createCredentialsRepo } from "./infra/credentials-repo";
import { preparedSqlOf } from "./infra/database";
import { createPaperStore } from "./infra/venues/paper-store";

export function createCockpit(
  parts: CockpitRecordsParts & {
    keyRing: ExchangeKeyRing;
    venues: Record<VenueId, Venue>;
    /** Live paper prices (PAPER_PRICES=ticker), for the trigger scan as for the paper venue. */
    paperPrices?: PaperPriceFeed;
  },
) {
  const sql = preparedSqlOf(parts.orm);
  const records = createCockpitRecords(parts);
  const { store, notifier, liquidationWarnings } = records;
  const credentials = createCredentialsRepo(sql);
  const reconcileDeps = {
    keyRing: parts.keyRing,
    venues: parts.venues,
    store: parts.tradingStore,
    openTradesOf: store.openTradesOf,
    notifier,
    liquidationWarnings,
  };

  async function reconcileKey(
    userId: string,
    credentialId: string,
  ): Promise<ReconcileResult | null> {
    const c = await credentials.get(userId, credentialId);
    if (!c || c.revokedAt || c.disabledAt) return null;
    return reconcileCredential(reconcileDeps, c);
  }

  return {
    ...records,
    quote: (userId: string, req: OrderRequest) =>
      quoteOrder(
        {
          keyRing: parts.keyRing,
          venues: parts.venues,
          credentials: (u) => credentials.list(u),
          settings: store.settings,
        },
        userId,
        req,
      ),
    /** What closing a share of a trade sends, on its market's lot step (nothing is sent). */
    partialClose: (t: TradeRecord, percent: number) =>
      partialClose(
        {
          keyRing: parts.keyRing,
          venues: parts.venues,
          credentials: (u) => credentials.list(u),
        },
        t,
        percent,
      ),
    reconcileKey,
    /** One run over every usable key; a venue that fails is skipped until the next run. */
    async reconcileAll() {
      let closed = 0;
      let failed = 0;
      for (const k of await store.activeKeys()) {
        try {
          closed += (await reconcileKey(k.userId, k.credentialId))?.closed.length ?? 0;
        } catch {
          failed++;
        }
      }
      return { closed, failed };
    },
    /** Opens that reached the venue but not the database: recorded from the venue, or freed. */
    recoverOpens: () =>
      recoverOpens({
        store: parts.tradingStore,
        keyRing: parts.keyRing,
        venues: parts.venues,
        credential: (userId, credentialId) => credentials.get(userId, credentialId),
        notifier,
        warn: (message, fields) => parts.warn?.(fields, message),
      }),
    /** Fires crossed paper stops, then records each close through reconciliation. */
    async paperTriggers() {
      const fired = await firePaperTriggers(createPaperStore(sql), parts.now, parts.paperPrices);
      for (const account of new Set(fired.map((f) => f.account))) {
        const key = await store.paperKey(account);
        if (key) await reconcileKey(key.userId, key.credentialId);
      }
      return { fired: fired.length };
    },
  };
}

export type Cockpit = ReturnType<typeof createCockpit>;
