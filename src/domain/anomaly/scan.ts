// The anomaly scan: every run covers the trade actions since the last completed run (a
// persisted watermark, a position in the activity feed), so a late or skipped run loses nothing; runs are
// serialised by a lock and findings are unique per (user, rule, window start), so two workers
// scanning at once flag each finding once. Findings are stored, then handed to the alerts.
import {
  type AnomalyRule,
  evaluateRules,
  type Finding,
  type RuleThresholds,
  type ScanContext,
  type TradeActivity,
} from "./rules";

export interface Watermark {
  /**
   * Where the last completed run stopped in the activity feed: a position only the store
   * interprets ("0" before the first run).
   */
  lastId: string;
  /** When that run completed (domain clock), null before the first run. */
  at: number | null;
}

/** Work inside one scan transaction, holding the scan lock. */
export interface ScanTx {
  watermark(): Promise<Watermark>;
  /**
   * Up to `limit` activity rows after position `after` that can no longer be preceded by a row
   * still to commit, and the position after them.
   */
  activityAfter(after: string, limit: number): Promise<{ rows: TradeActivity[]; cursor: string }>;
  /** What the rules need from before the window (rows at or before position `upTo`). */
  context(
    window: readonly TradeActivity[],
    upTo: string,
    thresholds: RuleThresholds,
  ): Promise<ScanContext>;
  /** Stores findings; returns the ids of those that were new (a duplicate is skipped). */
  insertFindings(
    findings: readonly Finding[],
    createdAt: number,
    alerting: ReadonlySet<AnomalyRule>,
  ): Promise<string[]>;
  advance(to: Watermark): Promise<void>;
}

export interface AnomalyScanStore {
  /** Runs `fn` in a transaction holding the scan lock; null when another scan holds it. */
  withScanLock<T>(fn: (tx: ScanTx) => Promise<T>): Promise<T | null>;
  /** Findings whose alert decision is still pending since before `before` (a lost hand-off). */
  undecided(before: number, limit: number): Promise<string[]>;
}

export interface ScanDeps {
  store: AnomalyScanStore;
  now: () => number;
  thresholds: RuleThresholds;
  /** Rules whose findings are alerted (the others are recorded only). */
  alerting: ReadonlySet<AnomalyRule>;
  /** Hands findings to the alerts (`again`: handed over before and still undecided); idempotent per id. */
  dispatch: (anomalyIds: string[], again?: boolean) => Promise<void>;
  /** Rows per transaction; a catch-up after an outage takes several. */
  batchSize?: number;
}

export interface ScanReport {
  status: "done" | "busy";
  scanned: number;
  findings: number;
  batches: number;
  redispatched: number;
  lastId: string | null;
}

/** A finding whose hand-off has not happened this long after it was stored is handed again. */
const REDISPATCH_AFTER_MS = 2 * 60_000;

export async function runAnomalyScan(deps: ScanDeps): Promise<ScanReport> {
  const batchSize = deps.batchSize ?? 250_000;
  const report: ScanReport = {
    status: "done",
    scanned: 0,
    findings: 0,
    batches: 0,
    redispatched: 0,
    lastId: null,
  };
  const lost = await deps.store.undecided(deps.now() - REDISPATCH_AFTER_MS, 1_000);
  if (lost.length > 0) {
    await deps.dispatch(lost, true);
    report.redispatched = lost.length;
  }
  for (;;) {
    const batch = await deps.store.withScanLock(async (tx) => {
      const mark = await tx.watermark();
      const { rows: window, cursor } = await tx.activityAfter(mark.lastId, batchSize);
      const now = deps.now();
      if (window.length === 0) {
        await tx.advance({ lastId: cursor, at: now });
        return { rows: 0, ids: [] as string[], lastId: cursor };
      }
      const ctx = await tx.context(window, mark.lastId, deps.thresholds);
      const findings = evaluateRules(window, ctx, deps.thresholds);
      const ids = await tx.insertFindings(findings, now, deps.alerting);
      const lastId = cursor;
      await tx.advance({ lastId, at: now });
      return { rows: window.length, ids, lastId };
    });
    if (batch === null) return { ...report, status: report.batches === 0 ? "busy" : "done" };
    report.batches += 1;
    report.scanned += batch.rows;
    report.findings += batch.ids.length;
    report.lastId = batch.lastId;
    // After the commit: a crash here leaves the findings "pending", handed again next run.
    if (batch.ids.length > 0) await deps.dispatch(batch.ids);
    if (batch.rows < batchSize) return report;
  }
}
