// One open trade per key and coin, enforced before the venue call: a slot is reserved
// atomically, bound to the trade when it is written, and freed when the trade closes (or the
// open fails). An unbound reservation older than two minutes (a crashed process) can be taken.
import { Migration } from "@mikro-orm/migrations";

export class Migration20261124150000TradeSlots extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table trade_slots (
        credential_id bigint not null references exchange_credentials (id) on delete cascade,
        base_symbol text not null check (length(base_symbol) between 1 and 20),
        trade_id bigint references trades (id) on delete cascade,
        reserved_at timestamptz not null default now(),
        primary key (credential_id, base_symbol)
      );
    `);
    this.addSql("create index trade_slots_trade_idx on trade_slots (trade_id);");
  }

  override async down(): Promise<void> {
    this.addSql("drop table if exists trade_slots;");
  }
}
