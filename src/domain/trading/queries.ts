// Reading a user's trades and, per usable key, the positions and balances the venues report.
import type { Balance, Position, VenueId } from "../venues/types";
import { VenueError } from "../venues/types";
import type { ActionContext } from "./action-context";
import type { TradingDeps } from "./types";

export function createTradeQueries(deps: TradingDeps, ctx: ActionContext) {
  const { store } = deps;
  const { onVenue } = ctx;

  return {
    listTrades: (
      userId: string,
      opts: { limit: number; beforeId?: string; status?: "open" | "closed" },
    ) => store.listTrades(userId, opts),

    /** Positions and balances as the venues report them, per usable key. */
    async portfolio(userId: string): Promise<
      Array<{
        credentialId: string;
        venue: VenueId;
        /** A testnet key's account: its positions are test positions, shown apart. */
        testnet: boolean;
        positions?: Position[];
        balances?: Balance[];
        error?: string;
      }>
    > {
      const out = [];
      for (const c of (await deps.credentials(userId)).filter(
        (x) => !x.revokedAt && !x.disabledAt,
      )) {
        try {
          const [positions, balances] = await onVenue(
            c,
            async (v, keys) => [await v.positions(keys), await v.balance(keys)] as const,
          );
          out.push({ credentialId: c.id, venue: c.venue, testnet: c.testnet, positions, balances });
        } catch (err) {
          if (!(err instanceof VenueError)) throw err;
          out.push({ credentialId: c.id, venue: c.venue, testnet: c.testnet, error: err.message });
        }
      }
      return out;
    },
  };
}
