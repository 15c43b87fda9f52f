// Wiring of trading from configuration: the venues, the key vault and the append-only audit
// log (./trade-records.ts), for the signer, which decrypts the keys.
import { createTrading } from "../domain/trading/trading";
import type { ExchangeKeyRing } from "../domain/vault";
import { createActionStateReader } from "../infra/action-state";
import type { Config } from "../infra/config";
import { createCredentialsRepo } from "../infra/credentials-repo";
import { type createOrm, preparedSqlOf } from "../infra/database";
import { createPauseStore } from "../infra/pause-store";
import type { createVenues } from "../infra/venues";
import type { createKeys } from "./keys";
import { createTradeRecords } from "./trade-records";

/** Trading: the venues, the key vault and the append-only audit log, for bot and API alike. */
export function createTradingFromConfig(
  config: Omit<Config, "masterKeys" | "accountKeys" | "secretValues">,
  parts: {
    /** Decrypts the user's keys for each venue call. */
    keyRing: ExchangeKeyRing;
    orm: Awaited<ReturnType<typeof createOrm>>;
    keys: ReturnType<typeof createKeys>;
    venues: ReturnType<typeof createVenues>;
    /** The clock of the activity feed the anomaly scan reads. */
    now?: () => number;
  },
) {
  const records = createTradeRecords(config, parts);
  // Every trade action reads the kill switch and the user's keys: prepared statements, as the
  // trading store's own (the statements PostgreSQL would otherwise plan on every action).
  const hot = preparedSqlOf(parts.orm);
  const tradeCredentials = createCredentialsRepo(hot);
  const trading = createTrading({
    store: records.store,
    pauses: createPauseStore(hot),
    keyRing: parts.keyRing,
    venues: parts.venues,
    credentials: (userId) => tradeCredentials.list(userId),
    actionState: createActionStateReader(hot),
  });
  return { trading, ...records };
}
