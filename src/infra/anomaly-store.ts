// The anomaly scan on PostgreSQL: the activity feed written next to each audit entry (with its
// history facts settled at write time), and the scan's transaction — a try-lock so only one scan
// runs, the watermark in app_state, a read of the window and of the few minutes before it, and
// findings unique per window.
import type { MikroORM } from "@mikro-orm/postgresql";
import type {
  AnomalyRule,
  AnomalyScanStore,
  Finding,
  PriorOpen,
  ScanTx,
  TradeActivity,
  Watermark,
} from "../domain/anomaly";
import type { AuditEntry } from "../domain/trading/types";
import { type Companion, ENTRY_TRADE_ID, inTransaction } from "./audit-log";
import { sqlOf } from "./database";
import { baseOf, type TradeAuditWriter } from "./trading-store";
import type { Sql } from "./vault-store";

/** Arbitrary, stable: "Warden anomaly scan". */
export const ANOMALY_SCAN_LOCK_KEY = 7_100_310_008;
export const WATERMARK_KEY = "anomaly_scan";

// Every placeholder is cast: the trade path runs as prepared statements (preparedSqlOf), where an
// uncast parameter in a SELECT list would be taken as text.

/**
 * The activity row (and the per-account facts it settles) in the same statement as the audit
 * entry and the trade change: written only if that statement commits, and only when its guard
 * (the trade it changes) holds.
 */
export function withActivityFeed(write: TradeAuditWriter, now: () => number): TradeAuditWriter {
  return (sql, entry, opts) =>
    write(sql, entry, {
      ...opts,
      companion: () => {
        const base = opts.companion?.() ?? { ctes: [], params: [] };
        // The entry's trade id is the statement's (drawn there for a new trade).
        const feed = activityCtes(entry, now(), base.guard, ENTRY_TRADE_ID);
        return {
          ...base,
          ctes: [...base.ctes, ...feed.ctes],
          params: [...base.params, ...feed.params],
        };
      },
    });
}

/**
 * The activity row with the history facts the rules need, settled at write time: the previous
 * sighting of this IP on the account (then moved to this action) and whether this is the
 * account's first open of the coin. Two actions of one account cannot settle these at the same
 * time: they ride in the statement of the account's audit append, which chains onto the account's
 * head (a concurrent one is refused and retried on fresh data). `tradeIdSql`: the trade id as SQL
 * (in an append, its ENTRY_TRADE_ID); by default `e.tradeId`.
 */
function activityCtes(e: AuditEntry, atMs: number, guard?: string, tradeIdSql?: string): Companion {
  const at = new Date(atMs).toISOString();
  const symbol = e.symbol.slice(0, 40);
  const coin = baseOf(e.symbol).slice(0, 40) || symbol;
  const when = guard ? `and exists (select 1 from ${guard})` : "";
  return {
    ctes: [
      `activity_prev as (
         select last_seen from activity_ip_sightings where user_id = ?::bigint and ip = ?::inet
       )`,
      `activity_seen as (
         insert into activity_ip_sightings (user_id, ip, last_seen)
         select ?::bigint, ?::inet, ?::timestamptz where ?::inet is not null ${when}
         on conflict (user_id, ip) do update
           set last_seen = greatest(activity_ip_sightings.last_seen, excluded.last_seen)
       )`,
      `activity_coin as (
         insert into activity_coins (user_id, coin, first_at)
         select ?::bigint, ?::text, ?::timestamptz where ?::text = 'open' ${when}
         on conflict (user_id, coin) do nothing
         returning 1
       )`,
      `activity_row as (
         insert into trade_activity (user_id, occurred_at, action, outcome, source, ip, symbol, coin,
           trade_id, ip_last_seen, coin_new)
         select ?::bigint, ?::timestamptz, ?::text, ?::text, ?::text, ?::inet, ?::text, ?::text,
           ${tradeIdSql ?? "?::bigint"},
           (select last_seen from activity_prev),
           exists (select 1 from activity_coin)
         where true ${when}
       )`,
    ],
    params: [
      e.userId,
      e.ip,
      e.userId,
      e.ip,
      at,
      e.ip,
      e.userId,
      coin,
      at,
      e.action,
      e.userId,
      at,
      e.action,
      e.outcome,
      e.source,
      e.ip,
      symbol,
      coin,
      ...(tradeIdSql ? [] : [e.tradeId]),
    ],
  };
}

/** Writes one activity row on its own (seeding and tests; trades write it with their entry). */
export async function recordActivity(sql: Sql, e: AuditEntry, atMs: number): Promise<void> {
  const c = activityCtes(e, atMs);
  await sql(`with ${c.ctes.join(",\n")} select 1`, c.params);
}

/** The scan's position: (xid, id) of the last row covered; "0" before the first run. */
const CURSOR = /^(\d{1,20}):(\d{1,19})$/;
function parseCursor(c: string): { xid: string; id: string } {
  const m = CURSOR.exec(c);
  return m ? { xid: m[1]!, id: m[2]! } : { xid: "0", id: "0" };
}

function toActivity(r: Record<string, unknown>): TradeActivity {
  return {
    id: r.id as string,
    userId: r.user_id as string,
    at: Number(r.at),
    action: r.action as TradeActivity["action"],
    outcome: r.outcome as TradeActivity["outcome"],
    source: r.source as TradeActivity["source"],
    ip: (r.ip as string | null) ?? null,
    symbol: r.symbol as string,
    coin: r.coin as string,
    tradeId: (r.trade_id as string | null) ?? null,
    ipLastSeen: r.ip_last_seen === null ? null : Number(r.ip_last_seen),
    coinNew: r.coin_new === true,
  };
}

function scanTx(tx: Sql): ScanTx {
  return {
    async watermark(): Promise<Watermark> {
      await tx(
        `insert into app_state (key, value) values (?, '{"lastId":"0","at":null}'::jsonb)
         on conflict (key) do nothing`,
        [WATERMARK_KEY],
      );
      const [row] = await tx("select value from app_state where key = ? for update", [
        WATERMARK_KEY,
      ]);
      const v = (row?.value ?? {}) as { lastId?: unknown; at?: unknown };
      const lastId = typeof v.lastId === "string" && CURSOR.test(v.lastId) ? v.lastId : "0";
      return { lastId, at: typeof v.at === "number" ? v.at : null };
    },
    async activityAfter(after, limit) {
      // Only rows of transactions older than every one still running at `horizon`: all of those
      // have committed (or rolled back) and are visible to the statements that follow, and no
      // row can later appear below that line. Newer rows wait for the next run.
      const [h] = await tx("select pg_snapshot_xmin(pg_current_snapshot())::text as horizon");
      const horizon = h!.horizon as string;
      const from = parseCursor(after);
      const rows = await tx(
        // ORDER BY names the columns, not the text aliases.
        `select a.id::text as id, a.xid::text as xid, a.user_id::text as user_id,
           (extract(epoch from a.occurred_at) * 1000)::float8 as at, a.action, a.outcome,
           a.source, host(a.ip) as ip, a.symbol, a.coin, a.trade_id::text as trade_id,
           (extract(epoch from a.ip_last_seen) * 1000)::float8 as ip_last_seen, a.coin_new
         from trade_activity a
         where (a.xid, a.id) > (?::xid8, ?::bigint) and a.xid < ?::xid8
         order by a.xid, a.id limit ?`,
        [from.xid, from.id, horizon, limit],
      );
      const last = rows.at(-1);
      const cursor =
        last && rows.length === limit
          ? `${last.xid as string}:${last.id as string}`
          : `${horizon}:0`; // everything below the horizon is covered
      return { rows: rows.map(toActivity), cursor };
    },
    async context(window, upTo, t) {
      const before = parseCursor(upTo);
      const earliest = window.reduce((m, a) => Math.min(m, a.at), Number.POSITIVE_INFINITY);
      const userIds = `{${[...new Set(window.map((a) => a.userId))].join(",")}}`;
      // rapid_fire: where each user's last recorded burst ended (its opens are spent) …
      const bursts = await tx(
        `select user_id::text as user_id,
           (extract(epoch from max(window_end)) * 1000)::float8 as at
         from anomalies where rule = 'rapid_fire' and user_id = any(?::bigint[])
         group by user_id`,
        [userIds],
      );
      const lastBurstEnd = new Map(bursts.map((r) => [r.user_id as string, Number(r.at)]));
      // … and every open of the span just before the window (the time index).
      const opens = await tx(
        `select user_id::text as user_id, (extract(epoch from occurred_at) * 1000)::float8 as at,
           outcome
         from trade_activity where action = 'open' and occurred_at >= ?
           and user_id = any(?::bigint[]) and (xid, id) <= (?::xid8, ?::bigint)`,
        [new Date(earliest - t.rapidFireWindowMs).toISOString(), userIds, before.xid, before.id],
      );
      const priorOpens = new Map<string, PriorOpen[]>();
      for (const r of opens) {
        const u = r.user_id as string;
        const at = Number(r.at);
        if (at <= (lastBurstEnd.get(u) ?? Number.NEGATIVE_INFINITY)) continue;
        const open = { at, outcome: r.outcome as PriorOpen["outcome"] };
        const list = priorOpens.get(u);
        if (list) list.push(open);
        else priorOpens.set(u, [open]);
      }
      return { priorOpens, lastBurstEnd };
    },
    async insertFindings(findings: readonly Finding[], createdAt, alerting) {
      if (findings.length === 0) return [];
      const rows = await tx(
        `insert into anomalies (user_id, rule, window_start, window_end, evidence, created_at, alert, delivery)
         select f.user_id, f.rule, f.window_start, f.window_end, f.evidence, ?::timestamptz, f.alert,
           case when f.alert then 'pending' else 'silent' end
         from jsonb_to_recordset(?::jsonb) as f(user_id bigint, rule text, window_start timestamptz,
           window_end timestamptz, evidence jsonb, alert boolean)
         on conflict (user_id, rule, window_start) do nothing
         returning id::text as id, alert`,
        [
          new Date(createdAt).toISOString(),
          JSON.stringify(
            findings.map((f) => ({
              user_id: f.userId,
              rule: f.rule,
              window_start: new Date(f.windowStart).toISOString(),
              window_end: new Date(f.windowEnd).toISOString(),
              evidence: f.evidence,
              alert: alerting.has(f.rule as AnomalyRule),
            })),
          ),
        ],
      );
      // Recorded-only findings need no hand-off.
      return rows.filter((r) => r.alert === true).map((r) => r.id as string);
    },
    async advance(to) {
      await tx("update app_state set value = ?::jsonb, updated_at = now() where key = ?", [
        JSON.stringify(to),
        WATERMARK_KEY,
      ]);
    },
  };
}

export function createAnomalyScanStore(orm: MikroORM): AnomalyScanStore {
  const sql: Sql = sqlOf(orm);
  return {
    async withScanLock(fn) {
      return inTransaction(orm, async (tx) => {
        const [lock] = await tx("select pg_try_advisory_xact_lock(?) as ok", [
          ANOMALY_SCAN_LOCK_KEY,
        ]);
        if (lock?.ok !== true) return null;
        return fn(scanTx(tx));
      });
    },
    async undecided(before, limit) {
      const rows = await sql(
        `select id::text as id from anomalies where delivery = 'pending' and created_at < ?
         order by created_at limit ?`,
        [new Date(before).toISOString(), limit],
      );
      return rows.map((r) => r.id as string);
    },
  };
}
