// TradingStore on PostgreSQL. Each trade change and its audit entry are one statement, so a trade
// never exists (or changes) without its audit entry (S8.1).
import type { MikroORM } from "@mikro-orm/postgresql";
import { auditSubject, type JsonObject } from "../domain/audit/chain";
import type { OpenIntent } from "../domain/trading/open-recovery";
import {
  type AuditEntry,
  type TradeRecord,
  TradingError,
  type TradingStore,
} from "../domain/trading/types";
import type { VenueId } from "../domain/venues/types";
import {
  type AppendOptions,
  appendWith,
  ENTRY_TRADE_ID,
  inTransaction,
  type TransactionRunner,
} from "./audit-log";
import { createChangeRequests } from "./change-requests";
import { preparedSqlOf } from "./database";
import type { Sql } from "./vault-store";

/** A trade row's columns, as `toTrade` reads them (the cockpit's queries use them too). */
export const COLUMNS = `id::text as id, user_id::text as user_id, credential_id::text as credential_id, venue,
  symbol, side, size, entry_price, exit_price, leverage, stop_loss, take_profit, status, source,
  opened_at, closed_at,
  (select c.testnet from exchange_credentials c where c.id = credential_id) as testnet`;

const n = (v: unknown) => (v === null || v === undefined ? null : Number(v));
const d = (v: unknown) =>
  v === null || v === undefined ? null : v instanceof Date ? v : new Date(String(v));

export function toTrade(r: Record<string, unknown>): TradeRecord {
  return {
    id: r.id as string,
    userId: r.user_id as string,
    credentialId: r.credential_id as string,
    venue: r.venue as VenueId,
    symbol: r.symbol as string,
    side: r.side as TradeRecord["side"],
    size: Number(r.size),
    entryPrice: n(r.entry_price),
    exitPrice: n(r.exit_price),
    leverage: n(r.leverage),
    stopLoss: n(r.stop_loss),
    takeProfit: n(r.take_profit),
    status: r.status as TradeRecord["status"],
    source: r.source as TradeRecord["source"],
    openedAt: d(r.opened_at)!,
    closedAt: d(r.closed_at),
    testnet: r.testnet === true,
  };
}

/** "BTC/USDT:USDT", "BTCUSDT", "btc" → "BTC": one slot per coin and key, whatever the spelling. */
export function baseOf(symbol: string): string {
  const base = symbol.toUpperCase().split(/[/:]/)[0] ?? "";
  return base.replace(/(USDT|USDC)$/, "") || base;
}

const PATCH_COLUMNS: Record<string, string> = {
  size: "size",
  entryPrice: "entry_price",
  exitPrice: "exit_price",
  stopLoss: "stop_loss",
  takeProfit: "take_profit",
  status: "status",
  fees: "fees",
  funding: "funding",
  realizedPnl: "realized_pnl",
  closeReason: "close_reason",
};

/**
 * Writes a trade's audit entry in one statement with the trade change (`opts.companion`): the
 * trade log's append, with the user id turned into its keyed subject.
 */
export type TradeAuditWriter = (
  sql: Sql,
  entry: AuditEntry,
  opts: AppendOptions & { transaction: TransactionRunner },
) => Promise<{ rows: Array<Record<string, unknown>> }>;

/** The trading use cases' audit entries on the append-only log, with keyed subjects. */
export function tradeAuditWriter(pepper: Buffer): TradeAuditWriter {
  return (sql, e, opts) =>
    appendWith(
      sql,
      {
        subject: auditSubject(pepper, e.userId),
        action: e.action,
        tradeId: e.tradeId,
        venue: e.venue,
        symbol: e.symbol,
        details: e.details as JsonObject,
        source: e.source,
        ip: e.ip,
        outcome: e.outcome,
      },
      opts,
    );
}

const TRADE_INSERT_COLUMNS = `id, user_id, credential_id, venue, symbol, side, size, entry_price,
  leverage, stop_loss, take_profit, source`;

const INTENT_COLUMNS = `client_order_id, user_id, credential_id, idempotency_key, symbol,
  base_symbol, side, size, leverage, stop_loss, take_profit, source, ip`;
const INTENT_VALUES =
  "?::text, ?::bigint, ?::bigint, ?::text, ?::text, ?::text, ?::text, ?::numeric, ?::numeric, ?::numeric, ?::numeric, ?::text, ?::inet";

/** An open intent's values, in INTENT_COLUMNS order (all null without one). */
function intentParams(i: OpenIntent | undefined): unknown[] {
  if (!i) return new Array(13).fill(null);
  return [
    i.clientOrderId,
    i.userId,
    i.credentialId,
    i.idempotencyKey,
    i.symbol,
    baseOf(i.symbol),
    i.side,
    i.size,
    i.leverage,
    i.stopLoss,
    i.takeProfit,
    i.source,
    i.ip,
  ];
}

export function createTradingStore(orm: MikroORM, writeAudit: TradeAuditWriter): TradingStore {
  const sql: Sql = preparedSqlOf(orm);
  const isId = (id: string) => /^\d{1,19}$/.test(id);
  const transaction: TransactionRunner = (fn) => inTransaction(orm, fn);

  // Every record… is ONE statement (and so one transaction): the trade row, its slot, its
  // idempotency key and its audit entry commit together or not at all, in one round trip.
  return {
    async recordOpen(t, links, audit) {
      const { rows } = await writeAudit(
        sql,
        { ...audit, tradeId: null },
        {
          transaction,
          newTradeId: true,
          companion: () => ({
            ctes: [
              // One trade per venue order: a second record of it (the recovery job and a late
              // original request) inserts nothing, and the guard then writes no audit entry.
              `trade as (insert into trades (${TRADE_INSERT_COLUMNS}, client_order_id)
                 overriding system value values (${ENTRY_TRADE_ID}, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                 on conflict (client_order_id) where client_order_id is not null do nothing
                 returning *)`,
              `slot as (insert into trade_slots (credential_id, base_symbol, trade_id)
                 select credential_id, ?, id from trade
                 on conflict (credential_id, base_symbol) do update set trade_id = excluded.trade_id
                   where trade_slots.trade_id is null)`,
              `request as (insert into trade_requests (user_id, idempotency_key, trade_id)
                 select user_id, ?::text, id from trade where ?::text is not null
                 on conflict (user_id, idempotency_key) do update set trade_id = excluded.trade_id
                   where trade_requests.trade_id is null)`,
              `intent as (delete from open_intents where client_order_id = ?::text
                 and exists (select 1 from trade))`,
            ],
            params: [
              t.userId,
              t.credentialId,
              t.venue,
              t.symbol,
              t.side,
              t.size,
              t.entryPrice,
              t.leverage,
              t.stopLoss,
              t.takeProfit,
              t.source,
              links.clientOrderId ?? null,
              baseOf(links.slotSymbol),
              links.idempotencyKey,
              links.idempotencyKey,
              links.clientOrderId ?? null,
            ],
            guard: "trade",
            select: `select ${COLUMNS} from trade`,
          }),
        },
      );
      if (rows[0]) return toTrade(rows[0]);
      // Already recorded (by the recovery job, or by the request itself): that trade.
      const done = await sql(
        `with gone as (delete from open_intents where client_order_id = ?::text)
         select ${COLUMNS} from trades where client_order_id = ?::text`,
        [links.clientOrderId ?? null, links.clientOrderId ?? null],
      );
      if (!done[0]) throw new Error("recordOpen wrote nothing and no trade has its order");
      return toTrade(done[0]);
    },
    async noteOpenIntent(i) {
      await sql(
        `insert into open_intents (${INTENT_COLUMNS}) values (${INTENT_VALUES})
         on conflict (client_order_id) do update set created_at = now()`,
        intentParams(i),
      );
    },
    async dropOpenIntent(clientOrderId) {
      await sql("delete from open_intents where client_order_id = ?", [clientOrderId]);
    },
    async claimStaleOpenIntent(olderThanMs, leaseMs) {
      // One statement: the row lock (skipping a row another run holds) and the lease together,
      // so two runs or two workers never get the same intent while its lease runs.
      const rows = await sql(
        `update open_intents set claimed_until = now() + make_interval(secs => ?)
         where client_order_id = (select client_order_id from open_intents
           where created_at < now() - make_interval(secs => ?)
             and (claimed_until is null or claimed_until < now())
           order by created_at limit 1 for update skip locked)
         returning client_order_id, user_id::text as user_id, credential_id::text as credential_id,
           idempotency_key, symbol, side, size, leverage, stop_loss, take_profit, source,
           host(ip) as ip, created_at`,
        [leaseMs / 1000, olderThanMs / 1000],
      );
      return (
        rows.map((r) => ({
          clientOrderId: r.client_order_id as string,
          userId: r.user_id as string,
          credentialId: r.credential_id as string,
          idempotencyKey: (r.idempotency_key as string | null) ?? null,
          symbol: r.symbol as string,
          side: r.side as TradeRecord["side"],
          size: Number(r.size),
          leverage: n(r.leverage),
          stopLoss: n(r.stop_loss),
          takeProfit: n(r.take_profit),
          source: r.source as TradeRecord["source"],
          ip: (r.ip as string | null) ?? null,
          createdAt: d(r.created_at)!,
        }))[0] ?? null
      );
    },
    async recordedOpen(clientOrderId) {
      const rows = await sql(
        `with gone as (delete from open_intents where client_order_id = ?::text
           and exists (select 1 from trades where client_order_id = ?::text))
         select id::text as id from trades where client_order_id = ?::text`,
        [clientOrderId, clientOrderId, clientOrderId],
      );
      return (rows[0]?.id as string | undefined) ?? null;
    },
    async openTradeSymbols(credentialId, side) {
      const rows = await sql(
        "select symbol from trades where credential_id = ? and side = ? and status = 'open'",
        [credentialId, side],
      );
      return rows.map((r) => r.symbol as string);
    },
    async abandonOpenIntent(i) {
      // The venue never placed the order: the intent, its request and its slot go together, and
      // only while no trade took them (a late original request may have recorded one).
      const rows = await sql(
        `with gone as (delete from open_intents where client_order_id = ? returning 1),
         request as (delete from trade_requests where ?::text is not null and user_id = ?
           and idempotency_key = ? and trade_id is null and exists (select 1 from gone)),
         slot as (delete from trade_slots where credential_id = ? and base_symbol = ?
           and trade_id is null and exists (select 1 from gone))
         select count(*)::int as n from gone`,
        [
          i.clientOrderId,
          i.idempotencyKey,
          i.userId,
          i.idempotencyKey,
          i.credentialId,
          baseOf(i.symbol),
        ],
      );
      return Number(rows[0]?.n ?? 0) > 0;
    },
    async releaseStrandedRequests(olderThanMs) {
      // Claimed, then the database failed before the intent was noted: no order was sent.
      const rows = await sql(
        `delete from trade_requests r where r.action = 'open' and r.trade_id is null
           and r.result is null and r.created_at < now() - make_interval(secs => ?)
           and not exists (select 1 from open_intents i
             where i.user_id = r.user_id and i.idempotency_key = r.idempotency_key)
         returning 1`,
        [olderThanMs / 1000],
      );
      return rows.length;
    },
    async recordChange(id, patch, audit, request) {
      const entries = Object.entries(patch).filter(([k]) => k in PATCH_COLUMNS);
      const sets = entries.map(([k]) => `${PATCH_COLUMNS[k]} = ?`);
      if (patch.status === "closed") sets.push("closed_at = now()");
      sets.push("updated_at = now()");
      const userId = request?.userId ?? null;
      const key = request?.key ?? null;
      const token = request?.token ?? null;
      // Only an open trade changes, and only then is the entry written: a second, concurrent
      // close finds nothing to update and writes nothing. A closed trade frees its slot. Under
      // an idempotency key, the trade as changed becomes the key's result in the same
      // statement, and a key that already has one changes nothing.
      const { rows } = await writeAudit(sql, audit, {
        transaction,
        companion: () => ({
          ctes: [
            // The key's claim, locked: FOR UPDATE waits for a concurrent retake and re-reads the
            // row, so a holder whose claim was retaken after this statement began changes
            // nothing (a plain read would see the statement's snapshot, from before the retake).
            `claim as (select 1 from trade_requests r
               where r.user_id = ?::bigint and r.idempotency_key = ?::text and r.result is null
                 and (?::uuid is null or r.claim_token = ?::uuid)
               for update)`,
            `trade as (update trades set ${sets.join(", ")} where id = ? and status = 'open'
               and (?::text is null or exists (select 1 from claim)
                 or not exists (select 1 from trade_requests r
                   where r.user_id = ?::bigint and r.idempotency_key = ?::text))
               returning *)`,
            `slot as (delete from trade_slots s using trade
               where s.trade_id = trade.id and trade.status = 'closed')`,
            `request as (update trade_requests r
               set result = (select to_jsonb(x) from (select ${COLUMNS} from trade) x)
               where ?::text is not null and r.user_id = ?::bigint and r.idempotency_key = ?::text
                 and r.result is null and (?::uuid is null or r.claim_token = ?::uuid)
                 and exists (select 1 from trade))`,
          ],
          params: [
            userId,
            key,
            token,
            token,
            ...entries.map(([, v]) => v),
            id,
            key,
            userId,
            key,
            key,
            userId,
            key,
            token,
            token,
          ],
          select: `select ${COLUMNS} from trade`,
          guard: "trade",
        }),
      });
      if (!rows[0]) throw new TradingError("trade_closed", `Trade #${id} was closed meanwhile.`);
      return toTrade(rows[0]);
    },
    ...createChangeRequests(sql),
    async recordFailure(audit) {
      await writeAudit(sql, audit, { transaction });
    },
    async claimRequest(userId, key) {
      const won = await sql(
        "insert into trade_requests (user_id, idempotency_key) values (?, ?) on conflict do nothing returning user_id",
        [userId, key],
      );
      if (won.length === 1) return { status: "new" };
      const rows = await sql(
        "select trade_id::text as trade_id, action from trade_requests where user_id = ? and idempotency_key = ?",
        [userId, key],
      );
      if (rows[0] && rows[0].action !== "open") return { status: "conflict" };
      const tradeId = rows[0]?.trade_id as string | null | undefined;
      return tradeId ? { status: "done", tradeId } : { status: "pending" };
    },
    async requestOutcome(userId, key) {
      const rows = await sql(
        "select trade_id::text as trade_id from trade_requests where user_id = ? and idempotency_key = ? and action = 'open'",
        [userId, key],
      );
      return (rows[0]?.trade_id as string | null | undefined) ?? null;
    },
    async releaseRequest(userId, key, token) {
      await sql(
        `delete from trade_requests where user_id = ? and idempotency_key = ? and trade_id is null
           and result is null and (?::uuid is null or claim_token = ?::uuid)`,
        [userId, key, token ?? null, token ?? null],
      );
    },
    async getTrade(userId, id) {
      if (!isId(id)) return null;
      const rows = await sql(`select ${COLUMNS} from trades where user_id = ? and id = ?`, [
        userId,
        id,
      ]);
      return rows[0] ? toTrade(rows[0]) : null;
    },
    async reserveSlot(credentialId, symbol, intent) {
      const base = baseOf(symbol);
      // The slot and, when it is won, the open's intent: one statement, so one commit.
      const won = await sql(
        `with won as (insert into trade_slots (credential_id, base_symbol) values (?, ?)
           on conflict (credential_id, base_symbol) do update set reserved_at = now()
             where trade_slots.trade_id is null and trade_slots.reserved_at < now() - interval '2 minutes'
               and not exists (select 1 from open_intents i
                 where i.credential_id = ? and i.base_symbol = ?)
           returning credential_id),
         noted as (insert into open_intents (${INTENT_COLUMNS})
           select ${INTENT_VALUES} from won where ?::text is not null
           on conflict (client_order_id) do update set created_at = now())
         select credential_id from won`,
        [
          credentialId,
          base,
          credentialId,
          base,
          ...intentParams(intent),
          intent?.clientOrderId ?? null,
        ],
      );
      if (won.length === 1) return { reserved: true };
      const held = await sql(
        "select trade_id::text as trade_id from trade_slots where credential_id = ? and base_symbol = ?",
        [credentialId, base],
      );
      return { reserved: false, tradeId: (held[0]?.trade_id as string | null | undefined) ?? null };
    },
    async releaseSlot(credentialId, symbol) {
      await sql(
        "delete from trade_slots where credential_id = ? and base_symbol = ? and trade_id is null",
        [credentialId, baseOf(symbol)],
      );
    },
    async listTrades(userId, opts) {
      const rows = await sql(
        `select ${COLUMNS} from trades where user_id = ? and id < ?::bigint
         and (?::text is null or status = ?) order by id desc limit ?`,
        [
          userId,
          opts.beforeId ?? "9223372036854775807",
          opts.status ?? null,
          opts.status ?? null,
          Math.min(opts.limit, 100),
        ],
      );
      return rows.map(toTrade);
    },
    async recordIp(userId, ip) {
      await sql(
        `insert into account_ips (user_id, ip) values (?, ?::inet)
         on conflict (user_id, ip) do update set last_seen = now()`,
        [userId, ip],
      );
    },
  };
}
