// The paper venue's book in PostgreSQL, so every process sees the same simulated account.
import type { PaperPosition, PaperStore } from "../../domain/venues/paper";
import type { Sql } from "../vault-store";

const num = (v: unknown) => Number(v);

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
    async deletePosition(account, symbol) {
      await sql("delete from paper_positions where account = ? and symbol = ?", [account, symbol]);
    },
    async adjustBalance(account, delta) {
      await sql("update paper_balances set total = greatest(0, total + ?) where account = ?", [
        delta,
        account,
      ]);
    },
  };
}
