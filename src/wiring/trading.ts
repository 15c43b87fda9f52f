// Wiring of trading from configuration: the venues, the key vault and the append-only audit
// log, for bot, API and worker alike.
import { auditSubject } from "../domain/audit/chain";
import { createKillSwitch } from "../domain/trading/pause";
import { createTrading } from "../domain/trading/trading";
import type { ExchangeKeyRing } from "../domain/vault";
import { createAccountsRepo } from "../infra/accounts-repo";
import { createActionStateReader } from "../infra/action-state";
import { withActivityFeed } from "../infra/anomaly-store";
import { listForSubject } from "../infra/audit-log";
import type { Config } from "../infra/config";
import { createCredentialsRepo } from "../infra/credentials-repo";
import { type createOrm, preparedSqlOf, sqlOf } from "../infra/database";
import { createPauseStore } from "../infra/pause-store";
import { createTradingStore, tradeAuditWriter } from "../infra/trading-store";
import type { createVenues } from "../infra/venues";
import type { createKeys } from "./keys";

/** Trading: the venues, the key vault and the append-only audit log, for bot and API alike. */
export function createTradingFromConfig(
  config: Omit<Config, "masterKeys" | "accountKeys" | "secretValues">,
  parts: {
    /** Decrypts the user's keys for each venue call. */
    keyRing: ExchangeKeyRing;
    orm: Awaited<ReturnType<typeof createOrm>>;
    keys: ReturnType<typeof createKeys>;
    venues: ReturnType<typeof createVenues>;
    /** The clock of the activity feed the anomaly scan reads. */
    now?: () => number;
  },
) {
  const sql = sqlOf(parts.orm);
  const subjectOf = (userId: string) => auditSubject(config.auditPepper, userId);
  // Every trade action reads the kill switch and the user's keys: prepared statements, as the
  // trading store's own (the statements PostgreSQL would otherwise plan on every action).
  const hot = preparedSqlOf(parts.orm);
  const pauses = createPauseStore(hot);
  const tradeCredentials = createCredentialsRepo(hot);
  const store = createTradingStore(
    parts.orm,
    withActivityFeed(tradeAuditWriter(config.auditPepper), parts.now ?? Date.now),
  );
  const trading = createTrading({
    store,
    pauses,
    keyRing: parts.keyRing,
    venues: parts.venues,
    credentials: (userId) => tradeCredentials.list(userId),
    actionState: createActionStateReader(hot),
  });
  const auditRows = (userId: string, limit: number, before?: string) =>
    listForSubject(sql, subjectOf(userId), { limit, beforeId: before ?? null });
  const accountsRepo = createAccountsRepo(sql);
  return {
    trading,
    store,
    killSwitch: createKillSwitch({
      store: pauses,
      recordEvent: (e) => accountsRepo.recordEvent(e),
    }),
    recentAudit: async (userId: string, limit: number) =>
      (await auditRows(userId, limit)).map((r) => ({
        id: r.id,
        occurredAt: new Date(r.occurredAt),
        action: r.action,
        tradeId: r.tradeId,
        venue: r.venue,
        symbol: r.symbol,
        outcome: r.outcome,
        source: r.source,
      })),
    auditPage: async (userId: string, opts: { limit: number; before?: string }) => {
      const rows = await auditRows(userId, opts.limit, opts.before);
      return {
        entries: rows.map(({ subject: _s, prevHash: _p, ...rest }) => rest),
        nextBefore: rows.length === opts.limit ? (rows.at(-1)?.id ?? null) : null,
      };
    },
  };
}
