// Wiring of key onboarding from configuration: venues, vault, scope policy and the Telegram
// notice when a key is disabled. Nothing here decrypts a stored key (./keys.ts adds the checks
// that do), so the api, bot and worker processes build it.
import { randomBytes } from "node:crypto";
import { Api } from "grammy";
import type { ExchangeKeyRing } from "../domain/vault";
import { createKeyService, type KeyServiceDeps } from "../domain/venues/keys";
import { evaluateScopes } from "../domain/venues/scope-policy";
import { createAccountsRepo } from "../infra/accounts-repo";
import { inTransaction } from "../infra/audit-log";
import type { Config } from "../infra/config";
import { createCredentialsRepo } from "../infra/credentials-repo";
import { type createOrm, sqlOf } from "../infra/database";
import { createIntakeClaims } from "../infra/intake-store";
import type { Logger } from "../infra/logger";
import type { createVenues } from "../infra/venues";

/**
 * Key onboarding alone (list, connect, rotate, revoke, margin mode): nothing in it decrypts a
 * stored key, so a process without the exchange-key ring holds it (connects go to the signer).
 */
export function createKeyRecords(
  config: Omit<Config, "masterKeys" | "accountKeys" | "secretValues">,
  parts: Parameters<typeof keyServiceDeps>[1],
) {
  return createKeyService(keyServiceDeps(config, parts));
}

/** The venues, the vault, and a Telegram notice when a key is disabled. */
export function keyServiceDeps(
  config: Omit<Config, "masterKeys" | "accountKeys" | "secretValues">,
  parts: {
    /** Encrypts keys at onboarding; decrypts them to re-verify. */
    keyRing: ExchangeKeyRing;
    orm: Awaited<ReturnType<typeof createOrm>>;
    logger: Logger;
    venues: ReturnType<typeof createVenues>;
  },
) {
  const sql = sqlOf(parts.orm);
  const users = createAccountsRepo(sql);
  const telegram = config.telegram.botToken
    ? new Api(config.telegram.botToken, { apiRoot: config.telegram.apiRoot })
    : undefined;
  return {
    repo: createCredentialsRepo(sql),
    // A key stored, its event and its sealed intake request's answer: one commit.
    atomically: (fn) =>
      inTransaction(parts.orm, (tx) =>
        fn({
          repo: createCredentialsRepo(tx),
          recordEvent: (e) => createAccountsRepo(tx).recordEvent(e),
          settleIntake: (requestId, answer) => createIntakeClaims(tx).settle(requestId, answer),
        }),
      ),
    keyRing: parts.keyRing,
    venues: parts.venues,
    evaluate: (report) => evaluateScopes(report, { egressIps: config.egressIps }),
    recordEvent: (e) => users.recordEvent(e),
    notify: async (userId, text) => {
      const user = await users.findUserById(userId);
      if (!user?.telegramUserId || !telegram) {
        parts.logger.warn({ userId }, "a key was disabled but the user has no Telegram to tell");
        return;
      }
      await telegram.sendMessage(user.telegramUserId, text);
    },
    newPaperAccount: () => `paper-${randomBytes(8).toString("hex")}`,
  } satisfies KeyServiceDeps;
}
