// The idempotency keys of modifies and closes (issue 19), in trade_requests beside the opens':
// a claim with a lease, the request it was for, and the result written with the change (see
// TradingStore.recordChange). Part of the trading store.
import type { TradingStore } from "../domain/trading/types";
import { toTrade } from "./trading-store";
import type { Sql } from "./vault-store";

export function createChangeRequests(
  sql: Sql,
): Pick<TradingStore, "claimChange" | "changeOutcome"> {
  return {
    async claimChange(userId, key, request, leaseMs) {
      const asked = JSON.stringify(request);
      const won = await sql(
        `insert into trade_requests (user_id, idempotency_key, action, request, claimed_until)
       values (?, ?, ?, ?::jsonb, now() + make_interval(secs => ?))
       on conflict do nothing returning user_id`,
        [userId, key, request.action, asked, leaseMs / 1000],
      );
      if (won.length === 1) return { status: "new" };
      // An earlier attempt of the same request that died before recording: its lease ran out.
      const retaken = await sql(
        `update trade_requests set claimed_until = now() + make_interval(secs => ?)
       where user_id = ? and idempotency_key = ? and request = ?::jsonb and result is null
         and (claimed_until is null or claimed_until < now())
       returning user_id`,
        [leaseMs / 1000, userId, key, asked],
      );
      if (retaken.length === 1) return { status: "new" };
      const [row] = await sql(
        `select result, request = ?::jsonb as same from trade_requests
       where user_id = ? and idempotency_key = ?`,
        [asked, userId, key],
      );
      if (!row) return { status: "pending" }; // released meanwhile: a retry claims it
      if (row.same !== true) return { status: "conflict" };
      return row.result
        ? { status: "done", trade: toTrade(row.result as Record<string, unknown>) }
        : { status: "pending" };
    },
    async changeOutcome(userId, key, request) {
      const [row] = await sql(
        `select result from trade_requests where user_id = ? and idempotency_key = ?
         and request = ?::jsonb and result is not null`,
        [userId, key, JSON.stringify(request)],
      );
      return row ? toTrade(row.result as Record<string, unknown>) : null;
    },
  };
}
