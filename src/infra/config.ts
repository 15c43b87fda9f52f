// Configuration: one schema, parsed once at start-up from an env object that is passed in.
// Every error names the variable; secret values never appear in an error or a log line.
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { z } from "zod";
import { RESEND_AFTER_MS } from "../domain/alerts/resend";
import type { AccountKeys } from "../domain/vault/account-secrets";
import {
  type AccountKeyRing,
  type ExchangeKeyRing,
  type KeyRing,
  parseKeyRing,
  RING_VARIABLE,
  type RingName,
} from "../domain/vault/key-ring";
import { type IntakeKeyRing, parseIntakeKeys } from "../domain/vault/sealed-intake";

/**
 * `signer` runs key intake (and, with the signer-intents queue, trade execution) in this
 * process; api and bot in a process without it seal pasted keys to the signer (issue 19).
 */
export const ROLES = ["api", "bot", "worker", "signer"] as const;
export type Role = (typeof ROLES)[number];

/** Variables that hold secrets: each also accepts NAME_FILE, and none is ever logged. */
export const SECRET_VARIABLES = [
  "MASTER_KEYS",
  "SIGNER_INTAKE_KEY",
  "ACCOUNT_KEYS",
  "BACKUP_ENCRYPTION_KEY",
  "JWT_SECRET",
  "PASSWORD_PEPPER",
  "AUDIT_PEPPER",
  "TELEGRAM_BOT_TOKEN",
  "TELEGRAM_WEBHOOK_SECRET",
  "SMTP_URL",
  "SENTRY_DSN",
] as const;
export type SecretVariable = (typeof SECRET_VARIABLES)[number];

/** Secrets without which production refuses to start (the others enable optional features). */
export const REQUIRED_SECRETS = [
  "MASTER_KEYS",
  "ACCOUNT_KEYS",
  "BACKUP_ENCRYPTION_KEY",
  "JWT_SECRET",
  "PASSWORD_PEPPER",
  "AUDIT_PEPPER",
] as const satisfies readonly SecretVariable[];

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    reason: string,
  ) {
    super(`${variable}: ${reason}`);
    this.name = "ConfigError";
  }
}

export interface Config {
  nodeEnv: "development" | "production" | "test";
  port: number;
  publicUrl: string;
  databaseUrl: string;
  /** The schema owner, for migrations; the service logs in as DATABASE_URL's role. */
  databaseOwnerUrl: string | undefined;
  databaseSslCa: string | undefined;
  redisUrl: string;
  redisPrefix: string;
  roles: Role[];
  telegram: {
    botToken: string | undefined;
    apiRoot: string;
    webhookSecret: string | undefined;
    adminIds: number[];
  };
  /**
   * MASTER_KEYS: exchange keys (exchange_credentials) only. Required where the signer role runs,
   * absent elsewhere (issue 19); in production the api and bot roles refuse to hold it.
   */
  masterKeys: ExchangeKeyRing | undefined;
  /** ACCOUNT_KEYS: account secrets (TOTP secrets, queued mail, reset requests). */
  accountKeys: AccountKeyRing;
  /**
   * SIGNER_INTAKE_KEY: the signer's X25519 intake private keys (VERSION:KEY); the api and the
   * bot seal pasted keys to their published public halves. Needed where the signer role runs.
   */
  signerIntakeKey: IntakeKeyRing | undefined;
  backupEncryptionKey: string;
  jwtSecret: Buffer;
  passwordPepper: Buffer;
  auditPepper: Buffer;
  smtpUrl: string | undefined;
  mailFrom: string;
  /** Where mail goes without SMTP_URL (development): .eml files the /sandbox/mail page lists. */
  mailOutboxDir: string;
  sentryDsn: string | undefined;
  trustedProxies: string[];
  /** Warden's outbound IPs, shown to users binding their exchange keys to IPs. */
  egressIps: string[];
  /** Venue origins overriding the real APIs (tests, testnets). */
  venueUrls: {
    hyperliquid?: string;
    binanceusdm?: string;
    bybit?: string;
    /** Where testnet keys go; unset means the venue's own testnet. */
    testnet: { hyperliquid?: string; binanceusdm?: string; bybit?: string };
  };
  /** Paper prices: `ticker` (venues' public tickers, production) or `feed` (deterministic). */
  paperPrices: "ticker" | "feed";
  keyReverifyHours: number;
  hibpApiUrl: string;
  hibpFailMode: "closed" | "open";
  bcryptCost: number;
  /** Origins allowed to refresh tokens and open WebSockets: PUBLIC_URL's plus ALLOWED_ORIGINS. */
  allowedOrigins: string[];
  /** When the scheduled re-encryption runs (UTC); it does work only if a newer key exists. */
  vaultRotationCron: string;
  backup: {
    /** Who pg_dump logs in as: BACKUP_DATABASE_URL, else DATABASE_OWNER_URL, else DATABASE_URL. */
    databaseUrl: string;
    /** Where the scheduled backup writes (an off-cluster volume); no scheduled backup when unset. */
    dir: string | undefined;
    /** How many scheduled backups to keep in `dir`. */
    keep: number;
    /** When the scheduled backup runs (UTC cron). */
    cron: string;
    /** Directory of pg_dump/pg_restore; PATH when unset. */
    pgBinDir: string | undefined;
  };
  /** The anomaly scan (S8.3): schedule, rule thresholds, which rules alert, and the dedup. */
  anomaly: {
    scanEveryMinutes: number;
    rapidFireOpens: number;
    rapidFireMinutes: number;
    newIpDays: number;
    alertRules: Array<"rapid_fire" | "new_ip" | "new_symbol">;
    dedupMinutes: number;
    /** How long a queued alert copy may go unsent before the scan hands it over again. */
    resendAfterSeconds: number;
  };
  /**
   * Caps every queue's job lock (ms): how soon a job whose worker died is redelivered. Unset:
   * each queue's own lock (src/jobs/registry.ts).
   */
  jobLockMaxMs: number | undefined;
  logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  /** /.well-known/security.txt (RFC 9116) and the /security page. */
  securityTxt: { contacts: string[]; expires: Date; policyUrl: string; languages: string[] };
  /**
   * The local web sandbox (/sandbox with the Telegram emulator): development without
   * TELEGRAM_BOT_TOKEN only, never in production.
   */
  sandbox: boolean;
  /** Every secret value, so the scrubber can redact them wherever they appear. */
  secretValues: string[];
}

export type Env = Record<string, string | undefined>;
export type ReadSecretFile = (path: string) => string;

const defaultReadFile: ReadSecretFile = (path) => readFileSync(path, "utf8");

/**
 * Resolves NAME / NAME_FILE for every secret variable. Setting both is refused, because an
 * operator who mounts a file and forgets an old variable would otherwise run with the stale one.
 */
export function resolveSecretFiles(env: Env, readFile: ReadSecretFile = defaultReadFile): Env {
  const out: Env = { ...env };
  for (const name of SECRET_VARIABLES) {
    const filePath = env[`${name}_FILE`];
    if (filePath === undefined || filePath === "") continue;
    if (env[name] !== undefined && env[name] !== "") {
      throw new ConfigError(name, `set either ${name} or ${name}_FILE, not both`);
    }
    let contents: string;
    try {
      contents = readFile(filePath);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? "unreadable";
      throw new ConfigError(`${name}_FILE`, `cannot read the file (${code})`);
    }
    out[name] = contents.replace(/\r?\n$/, "");
  }
  return out;
}

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === "" ? undefined : v.trim()));

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/** Every role, in one process: what WARDEN_ROLES (and --roles) default to. */
const DEFAULT_ROLES = "api,bot,worker,signer";

const schema = z.object({
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  PUBLIC_URL: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).default("postgres://127.0.0.1:5432/warden"),
  DATABASE_OWNER_URL: optionalString.pipe(z.url({ protocol: /^postgres(ql)?$/ }).optional()),
  DATABASE_SSL_CA: optionalString,
  REDIS_URL: z.url({ protocol: /^rediss?$/ }).default("redis://127.0.0.1:6379"),
  REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9:_-]{1,64}$/, "must be 1-64 characters of letters, digits, : _ -")
    .default("warden:"),
  // Development runs every role in one process; production names each unit's roles (below).
  WARDEN_ROLES: optionalString,
  TELEGRAM_BOT_TOKEN: optionalString.pipe(
    z
      .string()
      .regex(/^\d{3,}:[A-Za-z0-9_-]{30,}$/, "must look like 123456789:AA… (from @BotFather)")
      .optional(),
  ),
  TELEGRAM_API_ROOT: z.url({ protocol: /^https?$/ }).default("https://api.telegram.org"),
  TELEGRAM_WEBHOOK_SECRET: optionalString.pipe(
    z
      .string()
      .regex(/^[A-Za-z0-9_-]{32,256}$/, "must be 32 to 256 characters of A-Z, a-z, 0-9, _ and -")
      .optional(),
  ),
  ADMIN_TELEGRAM_IDS: z.string().default(""),
  MASTER_KEYS: optionalString,
  SIGNER_INTAKE_KEY: optionalString,
  ACCOUNT_KEYS: optionalString,
  BACKUP_ENCRYPTION_KEY: optionalString,
  JWT_SECRET: optionalString,
  PASSWORD_PEPPER: optionalString,
  AUDIT_PEPPER: optionalString,
  SMTP_URL: optionalString.pipe(z.url({ protocol: /^smtps?$/ }).optional()),
  MAIL_FROM: z.string().default("Warden <no-reply@localhost>"),
  MAIL_OUTBOX_DIR: z.string().min(1).default(".data/outbox"),
  SENTRY_DSN: optionalString.pipe(z.url().optional()),
  TRUSTED_PROXIES: z.string().default(""),
  HIBP_API_URL: z.url({ protocol: /^https?$/ }).default("https://api.pwnedpasswords.com"),
  // Default: open in development (offline work), closed elsewhere.
  HIBP_FAIL_MODE: optionalString.pipe(z.enum(["closed", "open"]).optional()),
  BCRYPT_COST: z.coerce.number().int().min(4).max(15).default(12),
  ALLOWED_ORIGINS: z.string().default(""),
  WARDEN_EGRESS_IPS: z.string().default(""),
  VENUE_URL_HYPERLIQUID: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),
  VENUE_URL_BINANCEUSDM: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),
  VENUE_URL_BYBIT: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),
  PAPER_PRICES: optionalString.pipe(z.enum(["ticker", "feed"]).optional()),
  VENUE_TESTNET_URL_HYPERLIQUID: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),
  VENUE_TESTNET_URL_BINANCEUSDM: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),
  VENUE_TESTNET_URL_BYBIT: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),
  KEY_REVERIFY_HOURS: z.coerce.number().min(0.01).max(168).default(6),
  VAULT_ROTATION_CRON: z
    .string()
    .regex(/^\S+( \S+){4,5}$/, "must be a cron pattern such as '17 3 * * *'")
    .default("17 3 * * *"),
  LOG_LEVEL: optionalString.pipe(z.enum(LOG_LEVELS).optional()),
  SECURITY_CONTACT: optionalString,
  SECURITY_TXT_EXPIRES: optionalString.pipe(z.iso.datetime({ offset: true }).optional()),
  SECURITY_POLICY_URL: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),
  SECURITY_LANGUAGES: z
    .string()
    .regex(
      /^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*(\s*,\s*[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*)*$/,
      "must be language tags such as en, de",
    )
    .default("en"),
  SANDBOX: z.enum(["auto", "off"]).default("auto"),
  BACKUP_DATABASE_URL: optionalString.pipe(z.url({ protocol: /^postgres(ql)?$/ }).optional()),
  BACKUP_DIR: optionalString,
  BACKUP_KEEP: z.coerce.number().int().min(1).max(1000).default(14),
  BACKUP_CRON: z
    .string()
    .regex(/^\S+( \S+){4,5}$/, "must be a cron pattern such as '40 2 * * *'")
    .default("40 2 * * *"),
  BACKUP_PG_BIN_DIR: optionalString,
  ANOMALY_SCAN_EVERY_MINUTES: z.coerce.number().int().min(1).max(60).default(5),
  ANOMALY_RAPID_FIRE_OPENS: z.coerce.number().int().min(1).max(10_000).default(10),
  ANOMALY_RAPID_FIRE_MINUTES: z.coerce.number().int().min(1).max(1440).default(5),
  ANOMALY_NEW_IP_DAYS: z.coerce.number().int().min(1).max(365).default(30),
  ANOMALY_ALERT_RULES: z.string().default("rapid_fire,new_ip"),
  ALERT_DEDUP_MINUTES: z.coerce.number().int().min(1).max(1440).default(30),
  // Tests shorten it; production keeps the domain's RESEND_AFTER_MS.
  ALERT_RESEND_AFTER_SECONDS: z.coerce
    .number()
    .int()
    .min(5)
    .max(3600)
    .default(RESEND_AFTER_MS / 1000),
  JOB_LOCK_MAX_MS: optionalString.pipe(
    z.coerce
      .number<string>()
      .int()
      .min(2_000, "must be at least 2000 (a shorter lock redelivers jobs that are still running)")
      .max(60_000, "must be at most 60000 (the longest queue lock; higher changes nothing)")
      .optional(),
  ),
});

/** Every variable the schema reads (secrets also as NAME_FILE), e.g. for deploy/.env.example. */
export const CONFIG_VARIABLES = Object.keys(schema.shape) as ReadonlyArray<
  keyof typeof schema.shape
>;

const DAY_MS = 24 * 3600_000;

function parseSecurityContacts(raw: string | undefined, publicUrl: string): string[] {
  if (raw === undefined) return [`mailto:security@${new URL(publicUrl).hostname}`];
  return parseList(raw, "SECURITY_CONTACT", (p) => {
    if (!/^(mailto|https|tel):/.test(p)) return false;
    try {
      new URL(p);
      return true;
    } catch {
      return false;
    }
  });
}

/** RFC 9116 §2.5.5: a date in the future, recommended less than a year away. */
function parseExpires(raw: string | undefined, now: number): Date {
  if (raw === undefined) return new Date(Math.floor((now + 180 * DAY_MS) / DAY_MS) * DAY_MS);
  const at = new Date(raw);
  if (at.getTime() <= now) throw new ConfigError("SECURITY_TXT_EXPIRES", "is in the past");
  if (at.getTime() > now + 366 * DAY_MS) {
    throw new ConfigError("SECURITY_TXT_EXPIRES", "must be less than a year away (RFC 9116)");
  }
  return at;
}

const ANOMALY_RULE_NAMES = ["rapid_fire", "new_ip", "new_symbol"] as const;

function parseAlertRules(raw: string): Array<(typeof ANOMALY_RULE_NAMES)[number]> {
  const rules = parseList(raw, "ANOMALY_ALERT_RULES", (p) =>
    (ANOMALY_RULE_NAMES as readonly string[]).includes(p),
  ) as Array<(typeof ANOMALY_RULE_NAMES)[number]>;
  if (rules.length === 0) {
    throw new ConfigError(
      "ANOMALY_ALERT_RULES",
      "must name at least one of rapid_fire, new_ip, new_symbol",
    );
  }
  return [...new Set(rules)];
}

/** At least 32 bytes and not a trivially repetitive value. */
/**
 * The keys account secrets are sealed and opened with: ACCOUNT_KEYS, and MASTER_KEYS only to
 * open those sealed before the split, until `account-key migrate` has moved them.
 */
export function accountKeysOf(config: Pick<Config, "masterKeys" | "accountKeys">): AccountKeys {
  return { ring: config.accountKeys, legacy: config.masterKeys };
}

/**
 * MASTER_KEYS where an operation needs it (the signer's consumers, `master-key` commands): a
 * process configured without it (no signer role) stops here with the variable's name.
 */
export function requireMasterKeys(config: Pick<Config, "masterKeys">): ExchangeKeyRing {
  if (!config.masterKeys) {
    throw new ConfigError("MASTER_KEYS", "is required for this (only the signer role holds it)");
  }
  return config.masterKeys;
}

/** A ring's variable parsed; a missing, malformed or weak one is a ConfigError naming it. */
function keyRingOf<R extends RingName>(raw: string | undefined, ring: R): KeyRing<R> {
  const variable = RING_VARIABLE[ring];
  if (raw === undefined) throw new ConfigError(variable, "is required");
  try {
    return parseKeyRing(raw, ring);
  } catch (err) {
    throw new ConfigError(
      variable,
      (err as Error).message.replace(new RegExp(`^${variable}:?\\s*`), ""),
    );
  }
}

function strongSecret(name: string, value: string | undefined): Buffer {
  if (value === undefined) throw new ConfigError(name, "is required");
  const bytes = Buffer.from(value, "utf8");
  if (bytes.length < 32) throw new ConfigError(name, "must be at least 32 bytes");
  if (new Set(value).size < 8) throw new ConfigError(name, "is too repetitive to be a secret");
  return bytes;
}

/** The roles WARDEN_ROLES asks for (all when unset), before the rest of the config is read. */
export function rolesOf(env: Env): Role[] {
  return parseRoles(env.WARDEN_ROLES ?? DEFAULT_ROLES);
}

function parseRoles(raw: string): Role[] {
  const parts = raw
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean);
  if (parts.length === 0 || parts.includes("all")) return [...ROLES];
  const roles: Role[] = [];
  for (const part of parts) {
    if (!(ROLES as readonly string[]).includes(part)) {
      throw new ConfigError(
        "WARDEN_ROLES",
        `unknown role "${part}" (use api, bot, worker, signer or all)`,
      );
    }
    if (!roles.includes(part as Role)) roles.push(part as Role);
  }
  return roles;
}

function parseAdminIds(raw: string): number[] {
  return raw
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => {
      if (!/^\d{1,15}$/.test(p)) {
        throw new ConfigError("ADMIN_TELEGRAM_IDS", `"${p}" is not a Telegram user id`);
      }
      return Number(p);
    });
}

function parseTrustedProxies(raw: string): string[] {
  return raw
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => {
      const [addr, bits, ...rest] = p.split("/");
      const family = isIP(addr ?? "");
      const okBits =
        bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= (family === 6 ? 128 : 32));
      if (family === 0 || !okBits || rest.length > 0) {
        throw new ConfigError("TRUSTED_PROXIES", `"${p}" is not an IP address or CIDR range`);
      }
      return p;
    });
}

function parseList(raw: string, variable: string, valid: (p: string) => boolean): string[] {
  const parts = raw
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean);
  for (const p of parts) if (!valid(p)) throw new ConfigError(variable, `"${p}" is not valid`);
  return parts;
}

function parseOrigins(raw: string, publicUrl: string): string[] {
  const origins = [new URL(publicUrl).origin];
  for (const part of raw
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean)) {
    let url: URL;
    try {
      url = new URL(part);
    } catch {
      throw new ConfigError(
        "ALLOWED_ORIGINS",
        `"${part}" is not an origin such as https://app.example`,
      );
    }
    if (!/^https?:$/.test(url.protocol) || url.origin !== part.replace(/\/+$/, "")) {
      throw new ConfigError(
        "ALLOWED_ORIGINS",
        `"${part}" is not an origin such as https://app.example`,
      );
    }
    if (!origins.includes(url.origin)) origins.push(url.origin);
  }
  return origins;
}

/**
 * S9.2: DATABASE_SSL_CA must be a readable PEM certificate bundle, and no database URL may ask
 * for less than verify-full against it: libpq tools (pg_dump) honour a URL's own sslmode and
 * sslrootcert over the environment Warden gives them.
 */
function checkDatabaseTls(
  e: {
    DATABASE_SSL_CA?: string;
    DATABASE_URL: string;
    DATABASE_OWNER_URL?: string;
    BACKUP_DATABASE_URL?: string;
  },
  readFile: ReadSecretFile,
): void {
  let pem: string;
  try {
    pem = readFile(e.DATABASE_SSL_CA ?? "");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "unreadable";
    throw new ConfigError("DATABASE_SSL_CA", `cannot read the file (${code})`);
  }
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
    throw new ConfigError("DATABASE_SSL_CA", "must be a PEM file of CA certificates");
  }
  for (const [variable, url] of [
    ["DATABASE_URL", e.DATABASE_URL],
    ["DATABASE_OWNER_URL", e.DATABASE_OWNER_URL],
    ["BACKUP_DATABASE_URL", e.BACKUP_DATABASE_URL],
  ] as const) {
    if (url === undefined) continue;
    const params = new URL(url).searchParams;
    const mode = params.get("sslmode");
    if (mode !== null && mode !== "verify-full") {
      throw new ConfigError(
        variable,
        `sslmode=${mode} contradicts DATABASE_SSL_CA (verify-full); remove it from the URL`,
      );
    }
    if (params.has("sslrootcert")) {
      throw new ConfigError(variable, "sslrootcert contradicts DATABASE_SSL_CA; remove it");
    }
  }
}

function isLocalHost(urlString: string): boolean {
  const host = new URL(urlString).hostname;
  return host === "localhost" || host === "127.0.0.1" || host === "::1" || host === "[::1]";
}

/**
 * Parses and validates the whole configuration. Throws ConfigError naming the first bad
 * variable. Pure apart from reading NAME_FILE files through `readFile`.
 */
export function loadConfig(env: Env = process.env, readFile?: ReadSecretFile): Config {
  const resolved = resolveSecretFiles(env, readFile);
  const parsed = schema.safeParse(resolved);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const variable = String(issue.path[0] ?? "configuration");
    // zod messages may echo the input; for secrets give only a generic reason.
    const secret = (SECRET_VARIABLES as readonly string[]).includes(variable);
    throw new ConfigError(variable, secret ? "is malformed" : issue.message);
  }
  const e = parsed.data;

  // In production the signer runs in a process of its own (issue 19), so the development
  // default (every role in one process) cannot start there: each unit names its roles.
  if (e.NODE_ENV === "production" && e.WARDEN_ROLES === undefined) {
    throw new ConfigError(
      "WARDEN_ROLES",
      "is required in production: name this process's roles (e.g. api,bot,worker), with the signer in a process of its own (the systemd units pass --roles)",
    );
  }
  const roles = parseRoles(e.WARDEN_ROLES ?? DEFAULT_ROLES);
  if (
    e.NODE_ENV === "production" &&
    roles.includes("signer") &&
    (roles.includes("api") || roles.includes("bot"))
  ) {
    throw new ConfigError(
      "WARDEN_ROLES",
      "must not run the signer with the api or bot role in production: run it in a process of its own (deploy/systemd/warden-signer.service)",
    );
  }
  // Only the signer decrypts exchange keys: MASTER_KEYS is required where it runs, and in
  // production a process serving the api or the bot must not hold it at all (issue 19).
  if (
    e.NODE_ENV === "production" &&
    e.MASTER_KEYS !== undefined &&
    (roles.includes("api") || roles.includes("bot"))
  ) {
    throw new ConfigError(
      "MASTER_KEYS",
      "must not be set for the api or bot role in production: only the signer holds it",
    );
  }
  const masterKeys =
    e.MASTER_KEYS === undefined && !roles.includes("signer")
      ? undefined
      : keyRingOf(e.MASTER_KEYS, "master");
  const accountKeys = keyRingOf(e.ACCOUNT_KEYS, "account");
  // Independent rings: the process that holds one (the signer, MASTER_KEYS) gains nothing over
  // the other's data.
  if (masterKeys && accountKeys.sharesKeyWith(masterKeys)) {
    throw new ConfigError("ACCOUNT_KEYS", "must not share a key with MASTER_KEYS");
  }

  let signerIntakeKey: IntakeKeyRing | undefined;
  if (e.SIGNER_INTAKE_KEY !== undefined) {
    try {
      signerIntakeKey = parseIntakeKeys(e.SIGNER_INTAKE_KEY);
    } catch (err) {
      const reason = (err as Error).message.replace(/^SIGNER_INTAKE_KEY:?\s*/, "");
      throw new ConfigError("SIGNER_INTAKE_KEY", reason);
    }
  }

  const backupKey = e.BACKUP_ENCRYPTION_KEY;
  if (backupKey === undefined) throw new ConfigError("BACKUP_ENCRYPTION_KEY", "is required");
  const backupBytes = Buffer.from(backupKey.replace(/=+$/, ""), "base64url");
  if (!/^[A-Za-z0-9_-]{43}=?$/.test(backupKey) || backupBytes.length !== 32) {
    throw new ConfigError("BACKUP_ENCRYPTION_KEY", "must be a Fernet key (32 bytes, base64url)");
  }
  if (masterKeys?.containsKeyMaterial(backupKey)) {
    throw new ConfigError("BACKUP_ENCRYPTION_KEY", "must not be one of the MASTER_KEYS");
  }
  if (accountKeys.containsKeyMaterial(backupKey)) {
    throw new ConfigError("ACCOUNT_KEYS", "must not share a key with BACKUP_ENCRYPTION_KEY");
  }

  for (const [variable, url] of [
    ["DATABASE_URL", e.DATABASE_URL],
    ["DATABASE_OWNER_URL", e.DATABASE_OWNER_URL],
    ["BACKUP_DATABASE_URL", e.BACKUP_DATABASE_URL],
  ] as const) {
    // Our connections take the host from the URL itself; libpq tools would honour these instead.
    const params = url === undefined ? undefined : new URL(url).searchParams;
    for (const name of ["host", "hostaddr"]) {
      if (params?.has(name)) {
        throw new ConfigError(variable, `put the host in the URL itself, not in ?${name}=`);
      }
    }
  }
  if (e.DATABASE_SSL_CA !== undefined) checkDatabaseTls(e, readFile ?? defaultReadFile);

  const publicUrl = e.PUBLIC_URL ?? `http://localhost:${e.PORT}`;
  if (e.NODE_ENV === "production") {
    if (e.BCRYPT_COST < 12)
      throw new ConfigError("BCRYPT_COST", "must be at least 12 in production");
    // A job whose worker stalls (GC, a busy loop) longer than half its lock is handed to
    // another worker while it still runs; seconds-long locks are for tests only.
    if (e.JOB_LOCK_MAX_MS !== undefined && e.JOB_LOCK_MAX_MS < 10_000)
      throw new ConfigError("JOB_LOCK_MAX_MS", "must be at least 10000 in production");
    if (e.SMTP_URL === undefined) {
      throw new ConfigError(
        "SMTP_URL",
        "is required in production (reset links and alerts go by email)",
      );
    }
    if (e.PUBLIC_URL === undefined)
      throw new ConfigError("PUBLIC_URL", "is required in production");
    if (!resolved.DATABASE_URL?.trim()) {
      throw new ConfigError(
        "DATABASE_URL",
        "is required in production, e.g. postgres://warden:password@db.internal:5432/warden",
      );
    }
    if (!publicUrl.startsWith("https://")) {
      throw new ConfigError("PUBLIC_URL", "must use https in production");
    }
    const remote = [e.DATABASE_URL, e.BACKUP_DATABASE_URL].some((u) => u && !isLocalHost(u));
    if (e.DATABASE_SSL_CA === undefined && remote) {
      throw new ConfigError(
        "DATABASE_SSL_CA",
        "is required in production when the database is not on localhost",
      );
    }
  }

  return {
    nodeEnv: e.NODE_ENV,
    port: e.PORT,
    publicUrl: publicUrl.replace(/\/+$/, ""),
    databaseUrl: e.DATABASE_URL,
    databaseOwnerUrl: e.DATABASE_OWNER_URL,
    databaseSslCa: e.DATABASE_SSL_CA,
    redisUrl: e.REDIS_URL,
    redisPrefix: e.REDIS_PREFIX,
    roles,
    telegram: {
      botToken: e.TELEGRAM_BOT_TOKEN,
      apiRoot: e.TELEGRAM_API_ROOT.replace(/\/+$/, ""),
      webhookSecret: e.TELEGRAM_WEBHOOK_SECRET,
      adminIds: parseAdminIds(e.ADMIN_TELEGRAM_IDS),
    },
    masterKeys,
    signerIntakeKey,
    accountKeys,
    backupEncryptionKey: backupKey,
    jwtSecret: strongSecret("JWT_SECRET", e.JWT_SECRET),
    passwordPepper: strongSecret("PASSWORD_PEPPER", e.PASSWORD_PEPPER),
    auditPepper: strongSecret("AUDIT_PEPPER", e.AUDIT_PEPPER),
    smtpUrl: e.SMTP_URL,
    mailFrom: e.MAIL_FROM,
    mailOutboxDir: e.MAIL_OUTBOX_DIR,
    sentryDsn: e.SENTRY_DSN,
    trustedProxies: parseTrustedProxies(e.TRUSTED_PROXIES),
    vaultRotationCron: e.VAULT_ROTATION_CRON,
    backup: {
      databaseUrl: e.BACKUP_DATABASE_URL ?? e.DATABASE_OWNER_URL ?? e.DATABASE_URL,
      dir: e.BACKUP_DIR,
      keep: e.BACKUP_KEEP,
      cron: e.BACKUP_CRON,
      pgBinDir: e.BACKUP_PG_BIN_DIR,
    },
    anomaly: {
      scanEveryMinutes: e.ANOMALY_SCAN_EVERY_MINUTES,
      rapidFireOpens: e.ANOMALY_RAPID_FIRE_OPENS,
      rapidFireMinutes: e.ANOMALY_RAPID_FIRE_MINUTES,
      newIpDays: e.ANOMALY_NEW_IP_DAYS,
      alertRules: parseAlertRules(e.ANOMALY_ALERT_RULES),
      dedupMinutes: e.ALERT_DEDUP_MINUTES,
      resendAfterSeconds: e.ALERT_RESEND_AFTER_SECONDS,
    },
    egressIps: parseList(e.WARDEN_EGRESS_IPS, "WARDEN_EGRESS_IPS", (p) => isIP(p) !== 0),
    venueUrls: {
      hyperliquid: e.VENUE_URL_HYPERLIQUID,
      binanceusdm: e.VENUE_URL_BINANCEUSDM,
      bybit: e.VENUE_URL_BYBIT,
      testnet: {
        hyperliquid: e.VENUE_TESTNET_URL_HYPERLIQUID,
        binanceusdm: e.VENUE_TESTNET_URL_BINANCEUSDM,
        bybit: e.VENUE_TESTNET_URL_BYBIT,
      },
    },
    paperPrices: e.PAPER_PRICES ?? (e.NODE_ENV === "production" ? "ticker" : "feed"),
    keyReverifyHours: e.KEY_REVERIFY_HOURS,
    hibpApiUrl: e.HIBP_API_URL.replace(/\/+$/, ""),
    hibpFailMode: e.HIBP_FAIL_MODE ?? (e.NODE_ENV === "development" ? "open" : "closed"),
    bcryptCost: e.BCRYPT_COST,
    allowedOrigins: parseOrigins(e.ALLOWED_ORIGINS, publicUrl),
    jobLockMaxMs: e.JOB_LOCK_MAX_MS,
    logLevel: e.LOG_LEVEL ?? (e.NODE_ENV === "test" ? "warn" : "info"),
    securityTxt: {
      contacts: parseSecurityContacts(e.SECURITY_CONTACT, publicUrl),
      expires: parseExpires(e.SECURITY_TXT_EXPIRES, Date.now()),
      policyUrl: e.SECURITY_POLICY_URL ?? `${publicUrl.replace(/\/+$/, "")}/security`,
      languages: e.SECURITY_LANGUAGES.split(",").map((l) => l.trim()),
    },
    sandbox: e.NODE_ENV === "development" && e.SANDBOX === "auto" && !e.TELEGRAM_BOT_TOKEN,
    secretValues: [
      ...[e.DATABASE_URL, e.DATABASE_OWNER_URL, e.BACKUP_DATABASE_URL, e.REDIS_URL].map((u) =>
        u ? decodeURIComponent(new URL(u).password) : "",
      ),
      ...SECRET_VARIABLES.flatMap((name) => {
        const v = resolved[name];
        if (!v) return [];
        // Key ring entries are also redacted one by one, with and without their version.
        return name === "MASTER_KEYS" || name === "ACCOUNT_KEYS" || name === "SIGNER_INTAKE_KEY"
          ? [
              v,
              ...v
                .split(/[,\n]/)
                .flatMap((entry) => [entry.trim(), entry.split(":")[1]?.trim() ?? ""]),
            ]
          : [v];
      }),
    ].filter((v) => v.length >= 8),
  };
}
