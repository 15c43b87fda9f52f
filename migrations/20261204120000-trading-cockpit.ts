// The trader's cockpit: a P&L ledger on closed trades (exit, fees, funding, realised P&L, why it
// closed), the actor `venue` for changes the venue made (a stop that fired, a liquidation, a
// manual close in the exchange's app), per-user trading settings, and paper price overrides
// for development and tests.
import { Migration } from "@mikro-orm/migrations";

export class Migration20261204120000TradingCockpit extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      alter table trades
        add column fees numeric,
        add column funding numeric,
        add column realized_pnl numeric,
        add column close_reason text check (close_reason is null or close_reason in
          ('manual', 'stop_loss', 'take_profit', 'liquidation', 'venue'));
    `);
    this.addSql(
      "create index trades_user_closed_idx on trades (user_id, closed_at) where status = 'closed';",
    );
    for (const table of ["trade_audit_log", "trade_activity"]) {
      this.addSql(`alter table ${table} drop constraint ${table}_source_check;`);
      this.addSql(
        `alter table ${table} add constraint ${table}_source_check check (source in ('telegram', 'api', 'system', 'venue'));`,
      );
    }
    this.addSql(`
      create table trading_settings (
        user_id bigint primary key references users (id) on delete cascade,
        max_order_notional numeric check (max_order_notional is null or max_order_notional > 0),
        confirm_below_notional numeric check (confirm_below_notional is null or confirm_below_notional > 0),
        updated_at timestamptz not null default now()
      );
    `);
    this.addSql("grant select, insert, update, delete on trading_settings to warden_app;");
    this.addSql(`
      create table paper_price_overrides (
        symbol text primary key check (length(symbol) between 1 and 40),
        price numeric not null check (price > 0),
        set_at timestamptz not null default now()
      );
    `);
    this.addSql("grant select, insert, update, delete on paper_price_overrides to warden_app;");
    // The paper venue's own record of closes (its "fills"), so reconciliation reads the exit
    // price and the reason from the venue as it would from a real one.
    this.addSql(`
      create table paper_closes (
        id bigint generated always as identity primary key,
        account text not null,
        symbol text not null,
        side text not null check (side in ('long', 'short')),
        size numeric not null,
        entry_price numeric not null,
        price numeric not null,
        reason text not null check (reason in ('manual', 'stop_loss', 'take_profit', 'liquidation')),
        closed_at timestamptz not null default now()
      );
    `);
    this.addSql("create index paper_closes_account_idx on paper_closes (account, symbol, id);");
  }

  override async down(): Promise<void> {
    this.addSql("drop table if exists paper_closes, paper_price_overrides, trading_settings;");
    for (const table of ["trade_audit_log", "trade_activity"]) {
      this.addSql(`alter table ${table} drop constraint ${table}_source_check;`);
      this.addSql(
        `alter table ${table} add constraint ${table}_source_check check (source in ('telegram', 'api', 'system'));`,
      );
    }
    this.addSql(
      "alter table trades drop column fees, drop column funding, drop column realized_pnl, drop column close_reason;",
    );
  }
}
