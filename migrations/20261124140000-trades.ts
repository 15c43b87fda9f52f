// Trades, the idempotency of trade requests, and the IPs each account acts from (S8.3's new-IP
// rule reads these).
import { Migration } from "@mikro-orm/migrations";

export class Migration20261124140000Trades extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table trades (
        id bigint generated always as identity primary key,
        user_id bigint not null references users (id) on delete cascade,
        credential_id bigint not null references exchange_credentials (id),
        venue text not null,
        symbol text not null check (length(symbol) between 1 and 40),
        side text not null check (side in ('long', 'short')),
        size numeric(24, 8) not null check (size > 0),
        entry_price numeric(24, 8),
        exit_price numeric(24, 8),
        leverage integer check (leverage between 1 and 125),
        stop_loss numeric(24, 8),
        take_profit numeric(24, 8),
        status text not null default 'open' check (status in ('open', 'closed')),
        source text not null check (source in ('telegram', 'api', 'system')),
        venue_order_id text,
        opened_at timestamptz not null default now(),
        updated_at timestamptz not null default now(),
        closed_at timestamptz
      );
    `);
    this.addSql("create index trades_user_idx on trades (user_id, id desc);");
    this.addSql(`
      create table trade_requests (
        user_id bigint not null references users (id) on delete cascade,
        idempotency_key text not null check (length(idempotency_key) between 1 and 128),
        created_at timestamptz not null default now(),
        trade_id bigint references trades (id),
        result jsonb,
        primary key (user_id, idempotency_key)
      );
    `);
    this.addSql(`
      create table account_ips (
        user_id bigint not null references users (id) on delete cascade,
        ip inet not null,
        first_seen timestamptz not null default now(),
        last_seen timestamptz not null default now(),
        primary key (user_id, ip)
      );
    `);
    // The application role reads the migration history but never writes it.
    this.addSql(`
      do $$ begin
        if exists (select 1 from pg_roles where rolname = 'warden_app') then
          revoke insert, update, delete, truncate on mikro_orm_migrations from warden_app;
        end if;
      end $$;
    `);
  }

  override async down(): Promise<void> {
    this.addSql("drop table if exists account_ips, trade_requests, trades;");
  }
}
