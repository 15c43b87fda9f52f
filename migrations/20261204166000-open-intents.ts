// Opens that reached (or may have reached) a venue without their trade being recorded (issue
// 18): each open notes its intent before the venue is called, so a recovery job can ask the
// venue by client order id what became of it and record the trade, or free the request.
// The paper venue keeps its orders by client order id, as a real venue does.
import { Migration } from "@mikro-orm/migrations";

export class Migration20261204166000OpenIntents extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table open_intents (
        client_order_id text primary key check (length(client_order_id) between 1 and 64),
        user_id bigint not null references users (id) on delete cascade,
        credential_id bigint not null,
        idempotency_key text,
        symbol text not null check (length(symbol) between 1 and 40),
        base_symbol text not null check (length(base_symbol) between 1 and 20),
        side text not null check (side in ('long', 'short')),
        size numeric not null,
        leverage numeric,
        stop_loss numeric,
        take_profit numeric,
        source text not null,
        ip inet,
        created_at timestamptz not null default now()
      );
    `);
    this.addSql("create index open_intents_created_idx on open_intents (created_at);");
    this.addSql("grant select, insert, update, delete on open_intents to warden_app;");
    // One trade per venue order: a recovered open and a late original cannot both be recorded.
    this.addSql("alter table trades add column client_order_id text;");
    this.addSql(
      "create unique index trades_client_order_id_idx on trades (client_order_id) where client_order_id is not null;",
    );
    this.addSql(`
      create table paper_orders (
        account text not null,
        client_order_id text not null,
        order_id text not null,
        symbol text not null,
        side text not null check (side in ('long', 'short')),
        size numeric not null,
        price numeric not null,
        created_at timestamptz not null default now(),
        primary key (account, client_order_id)
      );
    `);
    this.addSql("grant select, insert, update, delete on paper_orders to warden_app;");
  }

  override async down(): Promise<void> {
    this.addSql("drop table if exists open_intents, paper_orders;");
    this.addSql("alter table trades drop column client_order_id;");
  }
}
