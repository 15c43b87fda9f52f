// The AlertStore on PostgreSQL (findings, preferences, the delivery log) and the dedup on Redis.
import type { Redis } from "ioredis";
import {
  type AlertDedup,
  type AlertPreferences,
  type AlertStore,
  type AnomalyRecord,
  type CopyState,
  DEFAULT_PREFERENCES,
  type Recipient,
} from "../domain/alerts";
import type { AnomalyRule } from "../domain/anomaly";
import type { Sql } from "./vault-store";

const COLUMNS = `id::text as id, user_id::text as user_id, rule, window_start, window_end, evidence,
  created_at, alert, delivery, verdict, suppressed_into::text as suppressed_into, suppressed_before`;
const isId = (id: string) => /^\d{1,19}$/.test(id);

/**
 * The entries of one (anomaly, audience, channel, recipient) copy: by account, or for an admin
 * without one by the recipient key their entries' detail starts with. Parameters: anomaly,
 * audience, channel, user id, key, key.
 */
const COPY_ROWS = `anomaly_id = ? and audience = ? and channel = ?
  and recipient_user_id is not distinct from ?::bigint
  and (?::text is null or detail = ? or starts_with(detail, ? || ' '))`;
const copyParams = (anomalyId: string, audience: string, channel: string, key: string) => {
  // u<user id> for accounts; admins without an account are keyed by chat (t<chat>).
  const userId = key.startsWith("u") ? key.slice(1) : null;
  const k = userId ? null : key;
  return [anomalyId, audience, channel, userId, k, k, k];
};
const date = (v: unknown) => (v instanceof Date ? v : new Date(String(v)));

function toAnomaly(r: Record<string, unknown>): AnomalyRecord {
  return {
    id: r.id as string,
    userId: r.user_id as string,
    rule: r.rule as AnomalyRule,
    windowStart: date(r.window_start),
    windowEnd: date(r.window_end),
    evidence: (typeof r.evidence === "string" ? JSON.parse(r.evidence) : r.evidence) as Record<
      string,
      unknown
    >,
    createdAt: date(r.created_at),
    alert: r.alert === true,
    delivery: r.delivery as AnomalyRecord["delivery"],
    verdict: (r.verdict as AnomalyRecord["verdict"]) ?? null,
    suppressedInto: (r.suppressed_into as string | null) ?? null,
    suppressedBefore: Number(r.suppressed_before ?? 0),
  };
}

export function createAlertStore(
  sql: Sql,
  opts: { adminTelegramIds: readonly number[] },
): AlertStore {
  return {
    async get(id) {
      if (!isId(id)) return null;
      const [row] = await sql(`select ${COLUMNS} from anomalies where id = ?`, [id]);
      return row ? toAnomaly(row) : null;
    },
    async decide(id, decision, at, opts) {
      const into = decision === "suppressed" && opts?.into && isId(opts.into) ? opts.into : null;
      const [row] = await sql(
        // A delivered alert counts the findings folded into the previous delivered alert of its
        // user and rule: the "since the last one" its text reports.
        `with won as (
           update anomalies a set delivery = ?, decided_at = ?,
             -- Only an alert on record (a dedup key outliving a restored database names none).
             suppressed_into = (select h.id from anomalies h where h.id = ?::bigint),
             suppressed_before = case when ? = 'delivered' then (
               select count(*) from anomalies s where s.suppressed_into = (
                 select p.id from anomalies p
                 where p.user_id = a.user_id and p.rule = a.rule and p.delivery = 'delivered'
                   and p.id <> a.id and p.created_at <= a.created_at
                 order by p.created_at desc, p.id desc limit 1))
               else 0 end
           where a.id = ? and a.delivery = 'pending'
           returning a.delivery)
         select delivery from won
         union all select delivery from anomalies where id = ? and not exists (select 1 from won)`,
        [decision, at.toISOString(), into, decision, id, id],
      );
      return (row?.delivery as AnomalyRecord["delivery"] | undefined) ?? decision;
    },
    async preferences(userId) {
      const [row] = await sql(
        "select telegram, email, websocket from alert_preferences where user_id = ?",
        [userId],
      );
      if (!row) return { ...DEFAULT_PREFERENCES };
      return {
        telegram: row.telegram === true,
        email: row.email === true,
        websocket: row.websocket === true,
      };
    },
    async setPreferences(userId, p: AlertPreferences) {
      await sql(
        `insert into alert_preferences (user_id, telegram, email, websocket) values (?, ?, ?, ?)
         on conflict (user_id) do update set telegram = excluded.telegram, email = excluded.email,
           websocket = excluded.websocket, updated_at = now()`,
        [userId, p.telegram, p.email, p.websocket],
      );
    },
    async recipient(userId) {
      if (!isId(userId)) return null;
      const [row] = await sql(
        // An unconfirmed address gets no alert mail.
        `select id::text as id, telegram_user_id,
           case when email_confirmed_at is not null then email end as email
         from users where id = ?`,
        [userId],
      );
      if (!row) return null;
      return {
        userId: row.id as string,
        telegramUserId: row.telegram_user_id === null ? null : Number(row.telegram_user_id),
        email: (row.email as string | null) ?? null,
      };
    },
    async admins() {
      const rows = await sql(
        `select id::text as id, telegram_user_id,
           case when email_confirmed_at is not null then email end as email from users
         where role = 'admin' or telegram_user_id = any(?::bigint[]) order by id`,
        [`{${opts.adminTelegramIds.join(",")}}`],
      );
      const out: Recipient[] = rows.map((r) => ({
        userId: r.id as string,
        telegramUserId: r.telegram_user_id === null ? null : Number(r.telegram_user_id),
        email: (r.email as string | null) ?? null,
      }));
      // A configured admin who never opened the bot still gets the Telegram copy.
      for (const tg of opts.adminTelegramIds) {
        if (!out.some((r) => r.telegramUserId === tg)) {
          out.push({ userId: null, telegramUserId: tg, email: null });
        }
      }
      return out;
    },
    async logDelivery(d) {
      await sql(
        `insert into alert_deliveries (anomaly_id, audience, recipient_user_id, channel, attempt, outcome, detail, final)
         values (?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          d.anomalyId,
          d.audience,
          d.recipientUserId,
          d.channel,
          d.attempt,
          d.outcome,
          d.detail?.slice(0, 500) ?? null,
          d.outcome === "failed" && d.final === true,
        ],
      );
    },
    async alreadyDelivered(anomalyId, audience, recipientKey, channel) {
      const [row] = await sql(
        `select 1 as hit from alert_deliveries where ${COPY_ROWS}
           and outcome in ('sent', 'queued') limit 1`,
        copyParams(anomalyId, audience, channel, recipientKey),
      );
      return Boolean(row);
    },
    async copyState(anomalyId, audience, recipientKey, channel) {
      const [row] = await sql(
        `select count(*)::int as n, coalesce(bool_or(outcome = 'sent'), false) as sent,
           coalesce(bool_or(final), false) as final
         from alert_deliveries where ${COPY_ROWS}`,
        copyParams(anomalyId, audience, channel, recipientKey),
      );
      const state: CopyState =
        row?.sent === true
          ? "sent"
          : row?.final === true
            ? "final"
            : Number(row?.n) > 0
              ? "open"
              : "none";
      return state;
    },
    async lostCopies(quietMs, withinMs, limit) {
      // The log's clock (created_at defaults to the database's now()), not the domain's: the
      // quiet time is measured between entries and now on one clock.
      const rows = await sql(
        `with recent as (
           select distinct anomaly_id from alert_deliveries
           where created_at > now() - ? * interval '1 millisecond' and channel in ('telegram', 'email')),
         copies as (
           select d.anomaly_id, max(d.created_at) as last,
             bool_or(d.outcome = 'sent') as sent, bool_or(d.final) as final
           from alert_deliveries d
           join recent r on r.anomaly_id = d.anomaly_id
           join anomalies a on a.id = d.anomaly_id and a.delivery = 'delivered'
           where d.channel in ('telegram', 'email')
           group by d.anomaly_id, d.audience, d.channel,
             coalesce(d.recipient_user_id::text, split_part(d.detail, ' ', 1)))
         select anomaly_id::text as id from copies
         where not sent and not final and last < now() - ? * interval '1 millisecond'
         group by anomaly_id order by min(last), anomaly_id limit ?`,
        [withinMs, quietMs, limit],
      );
      return rows.map((r) => r.id as string);
    },
    async setVerdict(anomalyId, userId, verdict, at, opts) {
      if (!isId(anomalyId)) return false;
      const rows = await sql(
        `update anomalies set verdict = ?, verdict_at = ? where id = ? and user_id = ?
           and (not ? or verdict is distinct from 'not_me') returning id`,
        [verdict, at.toISOString(), anomalyId, userId, opts?.keepNotMe === true],
      );
      return rows.length === 1;
    },
    async recentFor(userId, limit) {
      if (!isId(userId)) return [];
      const rows = await sql(
        `select ${COLUMNS} from anomalies where user_id = ?
         order by anomalies.created_at desc, anomalies.id desc limit ?`,
        [userId, Math.min(limit, 100)],
      );
      return rows.map(toAnomaly);
    },
    async recent(limit) {
      const rows = await sql(
        `select ${COLUMNS} from anomalies order by anomalies.created_at desc, anomalies.id desc limit ?`,
        [Math.min(limit, 100)],
      );
      return rows.map(toAnomaly);
    },
  };
}

/**
 * Dedup per (user, rule): the key holds "<last delivery ms>:<anomaly id>", checked and set in
 * one Lua script with the caller's `now`; it answers with the alert holding the window. Decided on the domain clock, not on Redis TTLs: the
 * window is measured between the findings' own times (so a redelivered job decides the same
 * way), and tests can drive it. The key's TTL (window + 1 h, real time) only collects garbage.
 */
const CLAIM = `
local v = redis.call('GET', KEYS[1])
if v then
  local sep = string.find(v, ':', 1, true)
  local last = tonumber(string.sub(v, 1, sep - 1))
  local owner = string.sub(v, sep + 1)
  if owner == ARGV[2] then return {1, owner} end
  if tonumber(ARGV[1]) - last < tonumber(ARGV[3]) then return {0, owner} end
end
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. ARGV[2], 'PX', tonumber(ARGV[3]) + 3600000)
return {1, ARGV[2]}
`;

export function createAlertDedup(redis: Redis): AlertDedup {
  return {
    async claim(userId, rule, claimant, nowMs, windowMs) {
      const [won, holder] = (await redis.eval(
        CLAIM,
        1,
        `alerts:dedup:${userId}:${rule}`,
        String(Math.floor(nowMs)),
        claimant,
        String(windowMs),
      )) as [number, string];
      return { won: won === 1, holder };
    },
  };
}
