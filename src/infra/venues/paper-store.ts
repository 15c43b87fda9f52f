// The paper venue's book in PostgreSQL, so every process sees the same simulated account.
import type {
  PaperClose,
  PaperCloseReason,
  PaperPosition,
  PaperStore,
  PriceSource,
} from "../../domain/venues/paper";

/** Sets (or with null, clears) the development/test price of a paper symbol. */
export async function setPaperPriceOverride(sql: Sql, symbol: string, price: number | null) {
  if (price === null) {
    await sql("delete from paper_price_overrides where symbol = ?", [symbol]);
    return;
  }
  await sql(
    `insert into paper_price_overrides (symbol, price) values (?, ?)
     on conflict (symbol) do update set price = excluded.price, set_at = now()`,
    [symbol, price],
  );
}

import type { Sql } from "../vault-store";

const num = (v: unknown) => Number(v);

/** A fill's price: the one given, or the symbol's override when the source allows it. */
const PRICE = `select coalesce((select o.price from paper_price_overrides o
  where o.symbol = ?::text and ?::boolean), ?::numeric) as price`;
const priceParams = (symbol: string, price: number, s: PriceSource) => [
  symbol,
  s.overridable === true,
  price,
];

export function createPaperStore(sql: Sql): PaperStore {
  const toPosition = (r: Record<string, unknown>): PaperPosition => ({
    symbol: r.symbol as string,
    side: r.side as PaperPosition["side"],
    size: num(r.size),
    entryPrice: num(r.entry_price),
    leverage: num(r.leverage),
    stopLoss: r.stop_loss === null ? null : num(r.stop_loss),
    takeProfit: r.take_profit === null ? null : num(r.take_profit),
  });
  return {
    async ensureAccount(account, initial) {
      await sql(
        "insert into paper_balances (account, total) values (?, ?) on conflict do nothing",
        [account, initial],
      );
    },
    async balance(account) {
      const rows = await sql("select total from paper_balances where account = ?", [account]);
      return num(rows[0]?.total ?? 0);
    },
    async position(account, symbol) {
      const rows = await sql("select * from paper_positions where account = ? and symbol = ?", [
        account,
        symbol,
      ]);
      return rows[0] ? toPosition(rows[0]) : null;
    },
    async positions(account) {
      return (
        await sql("select * from paper_positions where account = ? order by symbol", [account])
      ).map(toPosition);
    },
    async addToPosition(account, initial, f, order) {
      // One statement: create the account if new, then open or grow the position and keep the
      // order (if it has a client id) with it. The CTE's balance row satisfies the foreign key,
      // which is checked at the end of the statement. A client id already used refuses the
      // whole statement, as a venue refuses a duplicate client order id.
      const rows = await sql(
        `with px as (${PRICE}), account as (
           insert into paper_balances (account, total) values (?, ?) on conflict do nothing
         ), pos as (
           insert into paper_positions as p (account, symbol, side, size, entry_price, leverage,
             stop_loss, take_profit)
           values (?, ?, ?, ?, (select price from px), ?, ?, ?)
           on conflict (account, symbol) do update set
             size = p.size + excluded.size,
             entry_price = round((p.entry_price * p.size + excluded.entry_price * excluded.size)
               / (p.size + excluded.size), 8),
             leverage = excluded.leverage,
             stop_loss = coalesce(excluded.stop_loss, p.stop_loss),
             take_profit = coalesce(excluded.take_profit, p.take_profit)
           where p.side = excluded.side
           returning p.*
         ), kept as (
           insert into paper_orders (account, client_order_id, order_id, symbol, side, size, price)
           select ?, ?::text, ?, ?, ?, ?, (select price from px) from pos where ?::text is not null
         )
         select pos.*, (select price from px) as fill_price from pos`,
        [
          ...priceParams(f.symbol, f.price, f),
          account,
          initial,
          account,
          f.symbol,
          f.side,
          f.size,
          f.leverage,
          f.stopLoss,
          f.takeProfit,
          account,
          order?.clientOrderId ?? null,
          order?.orderId ?? null,
          f.symbol,
          f.side,
          f.size,
          order?.clientOrderId ?? null,
        ],
      );
      return rows[0] ? { ...toPosition(rows[0]), fillPrice: num(rows[0].fill_price) } : null;
    },
    async findOrder(account, clientOrderId) {
      const rows = await sql(
        `select order_id, symbol, side, size, price from paper_orders
          where account = ? and client_order_id = ?`,
        [account, clientOrderId],
      );
      const r = rows[0];
      if (!r) return null;
      return {
        orderId: r.order_id as string,
        symbol: r.symbol as string,
        side: r.side as PaperPosition["side"],
        size: num(r.size),
        price: num(r.price),
      };
    },
    async closePosition(account, symbol, price, reason = "manual", source = {}) {
      // Removing the row and crediting its result in one statement: of two concurrent closes,
      // only the one whose DELETE found the row credits anything.
      const rows = await sql(
        `with px as (${PRICE}), closed as (
           delete from paper_positions where account = ? and symbol = ? returning *
         ), credited as (
           update paper_balances b set total = greatest(0, b.total
             + ((select price from px) - c.entry_price) * c.size * case c.side when 'long' then 1 else -1 end)
           from closed c where b.account = c.account
         ), logged as (
           insert into paper_closes (account, symbol, side, size, entry_price, price, reason)
           select account, symbol, side, size, entry_price, (select price from px), ? from closed
         )
         select closed.*, (select price from px) as fill_price from closed`,
        [...priceParams(symbol, price, source), account, symbol, reason],
      );
      return rows[0] ? { ...toPosition(rows[0]), fillPrice: num(rows[0].fill_price) } : null;
    },
    async lastClose(account, symbol, since) {
      const rows = await sql(
        `select side, size, entry_price, price, reason, closed_at from paper_closes
         where account = ? and symbol = ? and closed_at >= ? order by id desc limit 1`,
        [account, symbol, since],
      );
      const r = rows[0];
      if (!r) return null;
      return {
        side: r.side as PaperClose["side"],
        size: num(r.size),
        entryPrice: num(r.entry_price),
        price: num(r.price),
        reason: r.reason as PaperCloseReason,
        at: r.closed_at instanceof Date ? r.closed_at : new Date(String(r.closed_at)),
      };
    },
    async allPositions() {
      return (await sql("select * from paper_positions order by account, symbol", [])).map((r) => ({
        ...toPosition(r),
        account: r.account as string,
      }));
    },
    async priceOverride(symbol) {
      const rows = await sql("select price from paper_price_overrides where symbol = ?", [symbol]);
      return rows[0] ? num(rows[0].price) : null;
    },
    async savePosition(account, p) {
      await sql(
        `insert into paper_positions (account, symbol, side, size, entry_price, leverage, stop_loss, take_profit)
         values (?, ?, ?, ?, ?, ?, ?, ?)
         on conflict (account, symbol) do update set side = excluded.side, size = excluded.size,
           entry_price = excluded.entry_price, leverage = excluded.leverage,
           stop_loss = excluded.stop_loss, take_profit = excluded.take_profit`,
        [account, p.symbol, p.side, p.size, p.entryPrice, p.leverage, p.stopLoss, p.takeProfit],
      );
    },
    async adjustBalance(account, delta) {
      await sql("update paper_balances set total = greatest(0, total + ?) where account = ?", [
        delta,
        account,
      ]);
    },
  };
}
