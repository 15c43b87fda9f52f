// The use cases one process builds once and its roles share: accounts, keys, trade records and
// the cockpit's, alerts. A process without the signer role builds them with no exchange-key ring
// and from modules that never load the decrypt scope (issue 19; test/unit/role-boundary.test.ts
// walks this module's imports); with it, they are the signer's own consumers, built by
// ./signer.ts (imported with import() only in such a process) and passed in.
import { type CockpitRecords, createCockpitRecords } from "../cockpit-records";
import type { Trading } from "../domain/trading/trading";
import type { AccountKeys } from "../domain/vault";
import type { KeyService } from "../domain/venues/keys";
import type { Role } from "../infra/config";
import type { Logger } from "../infra/logger";
import { createTelegramSender } from "../infra/telegram";
import { createVenuesFor } from "../infra/venues";
import { createWebSocketPublisher } from "../infra/ws-hub";
import { createEmailOutbox } from "../jobs/email-outbox";
import { createAccounts } from "../wiring/accounts";
import { createAlertsFromConfig } from "../wiring/alerts";
import { createCallerTrading } from "../wiring/caller-trading";
import { createKeyRecords } from "../wiring/key-records";
import { sealedKeysFromShared } from "../wiring/sealed-keys";
import { signerHeldRing } from "../wiring/signer-held-ring";
import { createTradeRecords, type TradeRecords } from "../wiring/trade-records";
import type { RoleConfig, Shared } from "./shared";
import type { createSignerConsumers } from "./signer";

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
  // A process with neither api nor bot (a worker alone) trades nothing: no caller at all.
  const callerTrading =
    tradingMode === "remote" || deps.direct
      ? createCallerTrading(tradingMode, {
          cockpit,
          trade,
          orm,
          queue: tradingMode === "remote" ? queues.get("signerIntents") : undefined,
          eventsConnection: () => deps.shared.redis.create("worker", "signer-events"),
          bullPrefix: deps.shared.redis.bullPrefix,
          redis: appRedis,
          warn: (fields, message) => logger.warn(fields, message),
        })
      : undefined;
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
      await callerTrading?.close();
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

type DirectConsumers = ReturnType<typeof createSignerConsumers>;

/**
 * What api, bot and worker use when the signer runs elsewhere (it alone encrypts and decrypts
 * exchange keys): the key service for lists, revocation and sealed intake, over a ring that holds
 * no key; the trade records; the cockpit's records and notices. No venue call is made from them.
 */
function ringlessConsumers(
  config: RoleConfig,
  deps: {
    shared: Pick<Shared, "orm" | "appRedis" | "queues">;
    accountKeys: AccountKeys;
    logger: Logger;
    now: () => number;
  },
): {
  keys: KeyService;
  trade: TradeRecords & { trading?: Trading };
  cockpit: CockpitRecords;
} {
  const { accountKeys, logger, now } = deps;
  const { orm, appRedis, queues } = deps.shared;
  // Paper accounts are created at onboarding (no price feed needed: nothing is traded here).
  const venues = createVenuesFor(config, { orm, redis: appRedis });
  const keys = createKeyRecords(config, { keyRing: signerHeldRing(), orm, logger, venues });
  const trade = createTradeRecords(config, { orm, now });
  const cockpit = createCockpitRecords({
    orm,
    warn: (fields, message) => logger.warn(fields, message),
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
