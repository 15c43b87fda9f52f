// Wiring of the account service from configuration and the shared adapters, for every role
// that signs users in (and the test harnesses).
import { createAccountService } from "../domain/accounts/service";
import type { AccountKeys } from "../domain/vault";
import { createAccountsRepo } from "../infra/accounts-repo";
import { createBcryptHasher } from "../infra/bcrypt-hasher";
import type { Config } from "../infra/config";
import { type createOrm, sqlOf } from "../infra/database";
import { createHibpChecker } from "../infra/hibp";
import { createAccessTokens } from "../infra/jwt";
import type { Logger } from "../infra/logger";
import type { createOneTimeTokenStore } from "../infra/one-time-tokens";
import { createLockout, type createRateLimiter } from "../infra/rate-limit";
import { createWebSocketSessionEnder } from "../infra/ws-hub";
import { createDeferredAccountWork, createEmailOutbox } from "../jobs/email-outbox";
import type { createQueueRegistry } from "../jobs/registry";

/** The account service from configuration and the shared adapters (also used by test harnesses). */
export function createAccounts(
  config: Omit<Config, "masterKeys" | "accountKeys" | "secretValues">,
  parts: {
    /** Seals TOTP secrets and queued mail (the account ring, never MASTER_KEYS for new ones). */
    accountKeys: AccountKeys;
    orm: Awaited<ReturnType<typeof createOrm>>;
    redis: import("ioredis").Redis;
    tokens: ReturnType<typeof createOneTimeTokenStore>;
    queues: ReturnType<typeof createQueueRegistry>;
    rateLimiter: ReturnType<typeof createRateLimiter>;
    logger: Logger;
  },
) {
  return createAccountService({
    repo: createAccountsRepo(sqlOf(parts.orm)),
    password: {
      hasher: createBcryptHasher({ cost: config.bcryptCost }),
      pepper: config.passwordPepper,
    },
    breach: {
      checker: createHibpChecker({ apiUrl: config.hibpApiUrl }),
      failMode: config.hibpFailMode,
      onUnavailable: (report) =>
        parts.logger.warn({ ...report }, "breached-password check unavailable"),
    },
    tokens: parts.tokens,
    accessTokens: createAccessTokens({ secret: config.jwtSecret }),
    accountKeys: parts.accountKeys,
    outbox: createEmailOutbox({ queue: parts.queues.get("email"), accountKeys: parts.accountKeys }),
    sessionEnds: { sessionsEnded: createWebSocketSessionEnder(parts.redis) },
    // Sent by the worker's alerts queue, as every other Telegram notice.
    telegramNotice: config.telegram.botToken
      ? async (chatId, text) => {
          await parts.queues.get("alerts").add("notice", { chatId, text });
        }
      : undefined,
    deferred: createDeferredAccountWork({
      queue: parts.queues.get("email"),
      accountKeys: parts.accountKeys,
    }),
    limiter: parts.rateLimiter,
    lockout: createLockout(parts.redis),
    publicUrl: config.publicUrl,
    adminTelegramIds: config.telegram.adminIds,
    botToken: config.telegram.botToken,
  });
}
