// The idempotency keys of modifies and closes (issue 19), in trade_requests beside the opens':
// a claim with a lease and its holder's token, the request it was for, and the result written
// with the change (see TradingStore.recordChange). Part of the trading store.
import { randomUUID } from "node:crypto";
import type { TradingStore } from "../domain/trading/types";
import { toTrade } from "./trading-store";
import type { Sql } from "./vault-store";

export function createChangeRequests(
  sql: Sql,
): Pick<TradingStore, "claimChange" | "changeOutcome" | "renewChange"> {
  return {
    async claimChange(userId, key, request, leaseMs) {
      const asked = JSON.stringify(request);
      const token = randomUUID();
      const won = await sql(
        `insert into trade_requests
         (user_id, idempotency_key, action, request, claimed_until, claim_token)
       values (?, ?, ?, ?::jsonb, now() + make_interval(secs => ?), ?::uuid)
       on conflict do nothing returning user_id`,
        [userId, key, request.action, asked, leaseMs / 1000, token],
      );
      if (won.length === 1) return { status: "new", token };
      // An earlier attempt of the same request that died before recording: its lease ran out.
      // The new token makes that attempt's late record (if it was only slow) write nothing.
      const retaken = await sql(
        `update trade_requests
         set claimed_until = now() + make_interval(secs => ?), claim_token = ?::uuid
       where user_id = ? and idempotency_key = ? and request = ?::jsonb and result is null
         and (claimed_until is null or claimed_until < now())
       returning user_id`,
        [leaseMs / 1000, token, userId, key, asked],
      );
      if (retaken.length === 1) return { status: "new", token };
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
    async renewChange(userId, key, token, leaseMs) {
      const rows = await sql(
        `update trade_requests set claimed_until = now() + make_interval(secs => ?)
       where user_id = ? and idempotency_key = ? and claim_token = ?::uuid and result is null
       returning user_id`,
        [leaseMs / 1000, userId, key, token],
      );
      return rows.length === 1;
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
