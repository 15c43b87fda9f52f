// The start-up banner: one block, printed once the API would answer /readyz, saying where
// everything is. Never a password: URLs are shown by host only.
import { relative } from "node:path";
import type { Config, Role } from "../infra/config";
import { devMailboxOn } from "./dev-mailbox";

export interface BannerFacts {
  config: Config;
  roles: Role[];
  /** The API's port when the api role runs. */
  port: number | undefined;
  sandbox: unknown;
  /** The embedded database's data directory when it is in use. */
  embeddedDatabase: string | undefined;
  privateRedis: string | undefined;
  cwd?: string;
}

function hostOnly(url: string): string {
  try {
    const u = new URL(url);
    const path = u.pathname.length > 1 ? u.pathname : "";
    return `${u.protocol}//${u.host}${path}`;
  } catch {
    return "(unparseable URL)";
  }
}

export function startupBanner(f: BannerFacts): string {
  const c = f.config;
  const cwd = f.cwd ?? process.cwd();
  const rel = (dir: string) => relative(cwd, dir) || dir;
  const devMailbox = devMailboxOn(c) && f.roles.includes("api");
  const lines: Array<[string, string]> = [];
  if (f.roles.includes("api")) {
    lines.push(["Settings", `${c.publicUrl}/settings`]);
    if (f.sandbox) lines.push(["Sandbox", `${c.publicUrl}/sandbox (chat with the bot here)`]);
    if (devMailbox) lines.push(["Mailbox", `${c.publicUrl}/sandbox/mail (development mail)`]);
  }
  lines.push([
    "Database",
    f.embeddedDatabase
      ? `embedded PostgreSQL at ${rel(f.embeddedDatabase)}`
      : `PostgreSQL at ${hostOnly(c.databaseUrl)}`,
  ]);
  lines.push([
    "Redis",
    f.privateRedis
      ? `private redis-server at ${rel(f.privateRedis)} (${hostOnly(c.redisUrl)})`
      : hostOnly(c.redisUrl),
  ]);
  const bot = !f.roles.includes("bot")
    ? "not in this process"
    : f.sandbox
      ? "sandbox (local Telegram emulator)"
      : !c.telegram.botToken
        ? "off (set TELEGRAM_BOT_TOKEN)"
        : c.telegram.webhookSecret
          ? `webhook at ${c.publicUrl}/telegram/webhook`
          : "long polling";
  lines.push(["Bot", bot]);
  lines.push([
    "Mail",
    c.smtpUrl
      ? `SMTP (${hostOnly(c.smtpUrl)})`
      : devMailbox
        ? `development mailbox (${c.mailOutboxDir})`
        : `written to ${c.mailOutboxDir} (no SMTP_URL)`,
  ]);
  lines.push(["Roles", `${f.roles.join(", ")} (${c.nodeEnv})`]);
  const width = Math.max(...lines.map(([k]) => k.length));
  const body = lines.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join("\n");
  return `\nWarden is running\n${body}\n\n`;
}
