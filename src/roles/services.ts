// The use cases one process builds once and its roles share: accounts, venues and keys,
// trading and the cockpit, alerts. Built from the master key ring given here and nowhere else.
import { createCockpit } from "../cockpit";
import type { KeyRing } from "../domain/vault";
import type { Logger } from "../infra/logger";
import { createTelegramSender } from "../infra/telegram";
import { createVenuesFor } from "../infra/venues";
import { paperPriceFeedFromConfig } from "../infra/venues/paper-tickers";
import { createWebSocketPublisher } from "../infra/ws-hub";
import { createEmailOutbox } from "../jobs/email-outbox";
import { createAccounts } from "../wiring/accounts";
import { createAlertsFromConfig } from "../wiring/alerts";
import { createCallerTrading, type TradingMode } from "../wiring/caller-trading";
import { createKeys } from "../wiring/keys";
import { createTradingFromConfig } from "../wiring/trading";
import type { RoleConfig, Shared } from "./shared";

/**
 * The services, every one of which holds the master key ring today: accounts (TOTP secrets,
 * sealed mail), keys (encrypt at onboarding, decrypt to re-verify), trading and the cockpit
 * (decrypt to call the venue), alerts (sealed mail).
 */
export async function startServices(
  config: RoleConfig,
  deps: {
    shared: Pick<Shared, "orm" | "redis" | "appRedis" | "tokens" | "queues" | "rateLimiter">;
    keyRing: KeyRing;
    logger: Logger;
    now: () => number;
    /** How the api and bot roles trade (see tradingModeFor); direct when not given. */
    tradingMode?: TradingMode;
  },
) {
  const { keyRing, logger, now } = deps;
  const { orm, appRedis, queues } = deps.shared;
  const accounts = createAccounts(config, {
    keyRing,
    orm,
    redis: appRedis,
    tokens: deps.shared.tokens,
    queues,
    rateLimiter: deps.shared.rateLimiter,
    logger,
  });
  // Admin status follows ADMIN_TELEGRAM_IDS on every start, demotions included.
  await accounts.syncAdminRoles();
  // One registry: the key service and trading share the adapters and their market caches.
  const paperPrices = paperPriceFeedFromConfig(config, logger);
  const venues = createVenuesFor(config, { orm, redis: appRedis, paperPrices });
  const keys = createKeys(config, { keyRing, orm, logger, venues });
  const trade = createTradingFromConfig(config, { keyRing, orm, keys, venues, now });
  const cockpit = createCockpit({
    orm,
    warn: (fields, message) => logger.warn(fields, message),
    paperPrices,
    keyRing,
    venues,
    tradingStore: trade.store,
    alertsQueue: queues.get("alerts"),
    emailOutbox: createEmailOutbox({ queue: queues.get("email"), keyRing }),
    webPush: (() => {
      const publish = createWebSocketPublisher(appRedis);
      return async (userId: string, event: object) => {
        await publish(Number(userId), event);
      };
    })(),
  });
  // What the api and bot roles trade through: the use cases here, or intents to the signer.
  const tradingMode = deps.tradingMode ?? "direct";
  const callerTrading = createCallerTrading(tradingMode, {
    cockpit,
    trade,
    orm,
    queue: tradingMode === "remote" ? queues.get("signerIntents") : undefined,
    eventsConnection: () => deps.shared.redis.create("worker", "signer-events"),
    bullPrefix: deps.shared.redis.bullPrefix,
    redis: appRedis,
    warn: (fields, message) => logger.warn(fields, message),
  });
  const alerts = createAlertsFromConfig(config, {
    keyRing,
    orm,
    redis: appRedis,
    queues,
    keys,
    now,
    // Publishing is an ordinary command: the app connection carries it (same key prefix).
    wsPublisher: appRedis,
    telegram: config.telegram.botToken
      ? createTelegramSender({
          token: config.telegram.botToken,
          apiRoot: config.telegram.apiRoot,
          // Telegram's overall limit holds for all worker processes together.
          redis: appRedis,
        })
      : undefined,
  });
  return {
    accounts,
    keys,
    trade,
    cockpit,
    callerTrading,
    alerts,
  };
}

/**
 * The api and bot roles send their trades to a separate signer when SIGNER_MODE=remote; a
 * process running neither role never does (its worker jobs use the use cases directly).
 */
export function tradingModeFor(config: Pick<RoleConfig, "signerMode">, roles: readonly string[]) {
  const caller = roles.includes("api") || roles.includes("bot");
  return config.signerMode === "remote" && caller ? ("remote" as const) : ("direct" as const);
}

export type Services = Awaited<ReturnType<typeof startServices>>;
