// The use cases one process builds once and its roles share: accounts, venues and keys,
// trading and the cockpit, alerts. A process without the signer role builds them with no
// exchange-key ring at all (issue 19); with it, they are the signer's own consumers.
import { createCockpit } from "../cockpit";
import type { AccountKeys } from "../domain/vault";
import type { Role } from "../infra/config";
import type { Logger } from "../infra/logger";
import { createTelegramSender } from "../infra/telegram";
import { createVenuesFor } from "../infra/venues";
import { paperPriceFeedFromConfig } from "../infra/venues/paper-tickers";
import { createWebSocketPublisher } from "../infra/ws-hub";
import { createEmailOutbox } from "../jobs/email-outbox";
import { createAccounts } from "../wiring/accounts";
import { createAlertsFromConfig } from "../wiring/alerts";
import { createCallerTrading } from "../wiring/caller-trading";
import { createKeys } from "../wiring/keys";
import { sealedKeysFromShared } from "../wiring/sealed-keys";
import { signerHeldRing } from "../wiring/signer-held-ring";
import { createTradingFromConfig } from "../wiring/trading";
import type { RoleConfig, Shared } from "./shared";

/**
 * The services and the ring each holds: keys (encrypt at onboarding, decrypt to re-verify),
 * trading and the cockpit (decrypt to call the venue) come from the signer (`direct`, built
 * over MASTER_KEYS) when this process runs it, and otherwise hold no exchange-key ring: api and
 * bot seal keys and send trade intents to the signer. Accounts (TOTP secrets, sealed mail),
 * alerts and the cockpit's mail hold the account keys (ACCOUNT_KEYS, plus MASTER_KEYS where
 * present to open account secrets sealed before the split).
 */
export async function startServices(
  config: RoleConfig,
  deps: {
    shared: Pick<Shared, "orm" | "redis" | "appRedis" | "tokens" | "queues" | "rateLimiter">;
    /** The signer's consumers of MASTER_KEYS, when this process runs the signer role. */
    direct?: DirectConsumers;
    accountKeys: AccountKeys;
    /**
     * This process's roles: without `signer`, api and bot seal pasted keys to the signer
     * (issue 19) instead of connecting them here.
     */
    roles: readonly Role[];
    logger: Logger;
    now: () => number;
  },
) {
  const { accountKeys, logger, now } = deps;
  const { orm, appRedis, queues } = deps.shared;
  const accounts = createAccounts(config, {
    accountKeys,
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
  const {
    keys: directKeys,
    trade,
    cockpit,
  } = deps.direct ?? ringlessConsumers(config, { ...deps, accountKeys });
  const sealed = deps.direct
    ? undefined
    : sealedKeysFromShared(directKeys, {
        orm,
        redis: deps.shared.redis,
        queue: queues.get("signerKeys"),
      });
  const keys = sealed?.keys ?? directKeys;
  // What the api and bot roles trade through: the use cases here, or intents to the signer.
  const tradingMode = tradingModeFor(deps.roles);
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
    accountKeys,
    orm,
    redis: appRedis,
    queues,
    keys: directKeys,
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
    /** What api and bot connect keys with: sealed to the signer unless this process is it. */
    keys,
    /** Connects in this process (the signer's use case; the worker's re-verification). */
    directKeys,
    /** "sealed" when pasted keys go to the signer through the `signer-keys` queue. */
    keyIntake: sealed ? ("sealed" as const) : ("direct" as const),
    /** Closes what the sealed path opened (its queue events connection). */
    stop: async () => {
      await sealed?.stop();
      await callerTrading.close();
    },
    trade,
    cockpit,
    callerTrading,
    alerts,
  };
}

/**
 * The api and bot roles send their trades to the signer (intents on the `signer-intents` queue)
 * when this process does not run the signer role itself, as they seal pasted keys to it; a
 * process running neither api nor bot never does (its jobs use the use cases directly).
 */
export function tradingModeFor(roles: readonly Role[]) {
  const caller = roles.includes("api") || roles.includes("bot");
  return caller && !roles.includes("signer") ? ("remote" as const) : ("direct" as const);
}

export type Services = Awaited<ReturnType<typeof startServices>>;

interface DirectConsumers {
  keys: ReturnType<typeof createKeys>;
  trade: ReturnType<typeof createTradingFromConfig>;
  cockpit: ReturnType<typeof createCockpit>;
}

/**
 * Keys, trading and the cockpit over a ring that holds no key: what api, bot and worker use
 * for lists, stores and queries when the signer runs elsewhere (it alone encrypts and decrypts
 * exchange keys).
 */
function ringlessConsumers(
  config: RoleConfig,
  deps: {
    shared: Pick<Shared, "orm" | "appRedis" | "queues">;
    accountKeys: AccountKeys;
    logger: Logger;
    now: () => number;
  },
): DirectConsumers {
  const { accountKeys, logger, now } = deps;
  const { orm, appRedis, queues } = deps.shared;
  const keyRing = signerHeldRing();
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
    emailOutbox: createEmailOutbox({ queue: queues.get("email"), accountKeys }),
    webPush: (() => {
      const publish = createWebSocketPublisher(appRedis);
      return async (userId: string, event: object) => {
        await publish(Number(userId), event);
      };
    })(),
  });
  return { keys, trade, cockpit };
}
