// Trading use cases, shared by the bot and the API: authorise → decrypt keys in scope → venue
// call → the trade row and its audit entry in one transaction (S8.1). A failed venue call is
// audited too, with no trade change; an idempotency key makes a retried open open once.
// Each use case lives in its own module (open.ts, changes.ts, queries.ts); this one puts them
// together and is what the bot, the API and the stores import.
import { createActionContext } from "./action-context";
import { createTradeChanges } from "./changes";
import { createOpenTrade } from "./open";
import { createTradeQueries } from "./queries";
import type { TradingDeps } from "./types";

export * from "./types";

export function createTrading(deps: TradingDeps) {
  const ctx = createActionContext(deps);
  return {
    /** The kill switch alone, so a paused user is told before an order is quoted. */
    assertNotPaused: ctx.assertNotPaused,
    ...createOpenTrade(deps, ctx),
    ...createTradeChanges(deps, ctx),
    ...createTradeQueries(deps, ctx),
  };
}

export type Trading = ReturnType<typeof createTrading>;
