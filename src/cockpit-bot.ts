// What the bot's cockpit features take from the cockpit: its stores, and the venue calls from
// the signer's intents when this process is not the signer. Apart from ./cockpit.ts, whose venue
// calls open exchange keys, so that the bot role never loads the decrypt scope (issue 19).
import type { OrdersFeatureDeps } from "./bot/features/orders";
import type { CockpitRecords } from "./cockpit-records";

/** What the bot's cockpit features need. */
export function cockpitBotDeps(
  cockpit: CockpitRecords,
  keys: {
    list(
      userId: string,
    ): Promise<
      Array<{ id: string; label: string; revokedAt: Date | null; disabledAt: Date | null }>
    >;
  },
  /** What calls the venue: the signer's cockpit in this process, or its intents (CallerTrading). */
  venueCalls: Pick<OrdersFeatureDeps, "quote" | "partialClose" | "reconcileKey" | "placeOrder">,
) {
  return {
    quote: venueCalls.quote,
    partialClose: venueCalls.partialClose,
    placeOrder: venueCalls.placeOrder,
    settings: cockpit.settings,
    reconcileKey: venueCalls.reconcileKey,
    ledger: cockpit.ledger,
    notificationSettings: cockpit.notificationSettings,
    liquidationWarnings: cockpit.liquidationWarnings,
    tradeHistory: cockpit.tradeHistory,
    dailySummary: cockpit.dailySummary,
    keyLabels: async (userId: string) =>
      new Map(
        (await keys.list(userId))
          .filter((k) => !k.revokedAt && !k.disabledAt)
          .map((k) => [k.id, k.label ? `"${k.label}" (#${k.id})` : `#${k.id}`] as const),
      ),
  };
}
