// Anomaly detection and alerts (S8.3): the per-user trade activity feed the scan reads, the
// findings, per-user alert channels, and a log of every delivery attempt.
import { Migration } from "@mikro-orm/migrations";

export class Migration20261125090000Anomalies extends Migration {
  override async up(): Promise<void> {
    // One row per audit entry, written in the same transaction right after the audit append
    // (so under the audit chain's lock: ids are assigned in commit order, and a scan watermark
    // on `id` never skips a row that commits late). The audit log's subjects are keyed and
    // cannot be grouped per user without the pepper; this feed carries the user id and the
    // application clock's time. What the rules need from history is settled when the row is
    // written, from two small per-account tables: `ip_last_seen` (this IP's previous sighting
    // on the account) and `coin_new` (the account's first open of this coin). The scan then
    // reads its window and nothing older, however long the history grows.
    this.addSql(`
      create table activity_ip_sightings (
        user_id bigint not null references users (id) on delete cascade,
        ip inet not null,
        last_seen timestamptz not null,
        primary key (user_id, ip)
      );
    `);
    this.addSql(`
      create table activity_coins (
        user_id bigint not null references users (id) on delete cascade,
        coin text not null check (length(coin) between 1 and 40),
        first_at timestamptz not null,
        primary key (user_id, coin)
      );
    `);
    // On an existing installation, history the feed never saw still counts: every IP an account
    // traded from over the API and every coin it opened are known from the start, so the first
    // trade after the upgrade does not alert as "new".
    this.addSql(`
      insert into activity_ip_sightings (user_id, ip, last_seen)
      select user_id, ip, last_seen from account_ips
      on conflict do nothing;
    `);
    this.addSql(`
      insert into activity_coins (user_id, coin, first_at)
      select user_id, coin, min(opened_at) from (
        select user_id, opened_at,
          coalesce(nullif(regexp_replace(upper(split_part(split_part(symbol, '/', 1), ':', 1)),
            '(USDT|USDC)$', ''), ''), upper(split_part(split_part(symbol, '/', 1), ':', 1))) as coin
        from trades) t
      where length(coin) between 1 and 40
      group by user_id, coin
      on conflict do nothing;
    `);
    this.addSql(`
      create table trade_activity (
        id bigint generated always as identity primary key,
        user_id bigint not null references users (id) on delete cascade,
        occurred_at timestamptz not null,
        action text not null check (action in ('open', 'modify', 'close')),
        outcome text not null check (outcome in ('ok', 'failed', 'refused')),
        source text not null check (source in ('telegram', 'api', 'system')),
        ip inet check (ip is null or masklen(ip) = case family(ip) when 4 then 32 else 128 end),
        symbol text not null check (length(symbol) between 1 and 40),
        coin text not null check (length(coin) between 1 and 40),
        trade_id bigint,
        ip_last_seen timestamptz,
        coin_new boolean not null default false,
        -- The writing transaction: trade statements commit in any order (per-user audit chains,
        -- no global lock), so the scan's watermark is (xid, id) below the oldest transaction
        -- still running, never an id alone (a lower id may commit after a higher one).
        xid xid8 not null default pg_current_xact_id()
      );
    `);
    this.addSql("create index trade_activity_xid_idx on trade_activity (xid, id);");
    // A user's activity (forensics, and the cascade when an account is deleted).
    this.addSql("create index trade_activity_user_idx on trade_activity (user_id, id);");
    // rapid_fire: the opens of the minutes just before a window.
    this.addSql(
      "create index trade_activity_open_time_idx on trade_activity (occurred_at) where action = 'open';",
    );

    this.addSql(`
      create table anomalies (
        id bigint generated always as identity primary key,
        user_id bigint not null references users (id) on delete cascade,
        rule text not null check (rule in ('rapid_fire', 'new_ip', 'new_symbol')),
        window_start timestamptz not null,
        window_end timestamptz not null check (window_end >= window_start),
        evidence jsonb not null check (jsonb_typeof(evidence) = 'object'),
        created_at timestamptz not null,
        alert boolean not null,
        delivery text not null default 'pending'
          check (delivery in ('pending', 'delivered', 'suppressed', 'silent')),
        decided_at timestamptz,
        verdict text check (verdict in ('me', 'not_me')),
        verdict_at timestamptz,
        unique (user_id, rule, window_start)
      );
    `);
    this.addSql("create index anomalies_created_idx on anomalies (created_at desc, id desc);");
    this.addSql(
      "create index anomalies_pending_idx on anomalies (created_at) where delivery = 'pending';",
    );

    this.addSql(`
      create table alert_preferences (
        user_id bigint primary key references users (id) on delete cascade,
        telegram boolean not null default true,
        email boolean not null default true,
        websocket boolean not null default true,
        updated_at timestamptz not null default now()
      );
    `);

    this.addSql(`
      create table alert_deliveries (
        id bigint generated always as identity primary key,
        anomaly_id bigint not null references anomalies (id) on delete cascade,
        audience text not null check (audience in ('user', 'admin')),
        recipient_user_id bigint,
        channel text not null check (channel in ('telegram', 'email', 'websocket')),
        attempt integer not null check (attempt >= 1),
        outcome text not null check (outcome in ('sent', 'queued', 'failed', 'skipped')),
        detail text check (length(detail) <= 500),
        created_at timestamptz not null default now()
      );
    `);
    this.addSql(
      "create index alert_deliveries_anomaly_idx on alert_deliveries (anomaly_id, channel);",
    );

    // The default privileges of the audit-log migration grant warden_app read/write on new
    // tables. Evidence is never rewritten by the application: activity and the delivery log
    // are insert-only for it, and findings are never deleted (only their outcome is set).
    this.addSql(`
      do $$ begin
        if exists (select 1 from pg_roles where rolname = 'warden_app') then
          revoke update, delete, truncate on trade_activity, alert_deliveries from warden_app;
          revoke delete, truncate on anomalies from warden_app;
        end if;
      end $$;
    `);
  }

  override async down(): Promise<void> {
    this.addSql(
      "drop table if exists alert_deliveries, alert_preferences, anomalies, trade_activity, activity_coins, activity_ip_sightings;",
    );
    this.addSql("delete from app_state where key = 'anomaly_scan';");
  }
}
