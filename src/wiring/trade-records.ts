// Wiring of Warden's own trade records from configuration: the trading store with its audit
// writer and activity feed, the kill switch and the audit pages. Nothing here calls a venue or
// decrypts a key, so every role holds it; ./trading.ts adds the use cases that do (the signer's).
import { auditSubject } from "../domain/audit/chain";
import { createKillSwitch } from "../domain/trading/pause";
import { createAccountsRepo } from "../infra/accounts-repo";
import { withActivityFeed } from "../infra/anomaly-store";
import { listForSubject } from "../infra/audit-log";
import type { Config } from "../infra/config";
import { type createOrm, preparedSqlOf, sqlOf } from "../infra/database";
import { createPauseStore } from "../infra/pause-store";
import { createTradingStore, tradeAuditWriter } from "../infra/trading-store";

export function createTradeRecords(
  config: Pick<Config, "auditPepper">,
  parts: {
    orm: Awaited<ReturnType<typeof createOrm>>;
    /** The clock of the activity feed the anomaly scan reads. */
    now?: () => number;
  },
) {
  const sql = sqlOf(parts.orm);
  const subjectOf = (userId: string) => auditSubject(config.auditPepper, userId);
  const pauses = createPauseStore(preparedSqlOf(parts.orm));
  const store = createTradingStore(
    parts.orm,
    withActivityFeed(tradeAuditWriter(config.auditPepper), parts.now ?? Date.now),
  );
  const auditRows = (userId: string, limit: number, before?: string) =>
    listForSubject(sql, subjectOf(userId), { limit, beforeId: before ?? null });
  const accountsRepo = createAccountsRepo(sql);
  return {
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

export type TradeRecords = ReturnType<typeof createTradeRecords>;
