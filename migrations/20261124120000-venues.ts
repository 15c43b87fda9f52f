// Venues: a public key hint (so listing keys never decrypts them), re-verification state, and
// the paper venue's simulated accounts and positions.
import { Migration } from "@mikro-orm/migrations";

export class Migration20261124120000Venues extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      alter table exchange_credentials
        add column key_hint text check (length(key_hint) <= 64),
        add column disabled_at timestamptz,
        add column disabled_reason text check (length(disabled_reason) <= 500),
        add column updated_at timestamptz not null default now();
    `);
    this.addSql(`
      create index exchange_credentials_active_idx on exchange_credentials (id)
        where revoked_at is null and disabled_at is null;
    `);
    this.addSql(`
      create table paper_balances (
        account text primary key check (length(account) between 1 and 64),
        currency text not null default 'USDT',
        total numeric(24, 8) not null check (total >= 0)
      );
    `);
    this.addSql(`
      create table paper_positions (
        account text not null references paper_balances (account) on delete cascade,
        symbol text not null check (length(symbol) between 1 and 40),
        side text not null check (side in ('long', 'short')),
        size numeric(24, 8) not null check (size > 0),
        entry_price numeric(24, 8) not null check (entry_price > 0),
        leverage integer not null default 1 check (leverage between 1 and 125),
        stop_loss numeric(24, 8),
        take_profit numeric(24, 8),
        opened_at timestamptz not null default now(),
        primary key (account, symbol)
      );
    `);
  }

  override async down(): Promise<void> {
    this.addSql("drop table if exists paper_positions, paper_balances;");
    this.addSql(`alter table exchange_credentials drop column key_hint, drop column disabled_at,
      drop column disabled_reason, drop column updated_at;`);
  }
}
