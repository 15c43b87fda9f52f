// The development mailbox is served in development without SMTP_URL only (never in production).
import { resolve } from "node:path";
import type { Router } from "express";
import type { Config } from "../infra/config";
import { createMailboxRoutes } from "../sandbox/mailbox";

export const devMailboxOn = (config: Pick<Config, "nodeEnv" | "smtpUrl">): boolean =>
  config.nodeEnv === "development" && config.smtpUrl === undefined;

/** The mailer's settings: SMTP_URL when set, else the outbox directory the mailbox reads. */
export const mailerOptions = (config: Pick<Config, "smtpUrl" | "mailFrom" | "mailOutboxDir">) => ({
  smtpUrl: config.smtpUrl,
  from: config.mailFrom,
  outboxDir: config.mailOutboxDir,
});

/** The /sandbox/mail routes when the mailbox is on; none otherwise. */
export function devMailboxRoutes(
  config: Pick<Config, "nodeEnv" | "smtpUrl" | "mailOutboxDir" | "publicUrl">,
): Router[] {
  if (!devMailboxOn(config)) return [];
  return [
    createMailboxRoutes({
      outboxDir: resolve(config.mailOutboxDir),
      publicUrl: config.publicUrl,
      publicHost: new URL(config.publicUrl).hostname,
    }),
  ];
}
