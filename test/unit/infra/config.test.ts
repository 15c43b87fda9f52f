import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../../src/infra/config";
import { fernetKey, randomSecret } from "../../support/context";

// The signer's process (with a worker): in production only it may hold MASTER_KEYS (issue 19;
// config-signer.test.ts covers the api and bot roles).
const prodEnv = (over: Record<string, string | undefined> = {}) => ({
  NODE_ENV: "production",
  WARDEN_ROLES: "worker,signer",
  PUBLIC_URL: "https://warden.example",
  MASTER_KEYS: `1:${fernetKey()}`,
  ACCOUNT_KEYS: `1:${fernetKey()}`,
  BACKUP_ENCRYPTION_KEY: fernetKey(),
  JWT_SECRET: randomSecret(),
  PASSWORD_PEPPER: randomSecret(),
  AUDIT_PEPPER: randomSecret(),
  SMTP_URL: "smtp://relay.internal:25",
  DATABASE_URL: "postgres://127.0.0.1:5432/warden",
  ...over,
});

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error("expected a ConfigError");
}

const noFiles = (path: string): string => {
  throw Object.assign(new Error(`ENOENT ${path}`), { code: "ENOENT" });
};

describe("loadConfig: backups", () => {
  it("when no backup variables are set, then there is no scheduled backup, 14 are kept at 02:40 UTC, and pg_dump logs in as the owner", () => {
    const c = loadConfig(
      prodEnv({ DATABASE_OWNER_URL: "postgres://owner@127.0.0.1/warden" }),
      noFiles,
    );
    expect(c.backup).toEqual({
      databaseUrl: "postgres://owner@127.0.0.1/warden",
      dir: undefined,
      keep: 14,
      cron: "40 2 * * *",
      pgBinDir: undefined,
    });
    expect(loadConfig(prodEnv(), noFiles).backup.databaseUrl).toBe(
      "postgres://127.0.0.1:5432/warden",
    );
  });

  it("when BACKUP_DATABASE_URL carries a password, then it is used and redacted like the others", () => {
    const c = loadConfig(
      prodEnv({
        BACKUP_DATABASE_URL: "postgres://backup:s3cret-backup-pw@db.internal/warden",
        DATABASE_SSL_CA: "/ca.pem",
      }),
      (path) =>
        path === "/ca.pem"
          ? "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
          : noFiles(path),
    );
    expect(c.backup.databaseUrl).toBe("postgres://backup:s3cret-backup-pw@db.internal/warden");
    expect(c.secretValues).toContain("s3cret-backup-pw");
  });

  it("when BACKUP_DATABASE_URL asks for less than verify-full or names another host in its parameters, then start-up fails naming it", () => {
    const ca = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    for (const query of ["sslmode=require", "sslrootcert=/tmp/other.pem", "host=evil.example"]) {
      const err = configError(() =>
        loadConfig(
          prodEnv({
            BACKUP_DATABASE_URL: `postgres://backup@db.internal/warden?${query}`,
            DATABASE_SSL_CA: "/ca.pem",
          }),
          (path) => (path === "/ca.pem" ? ca : noFiles(path)),
        ),
      );
      expect(err.variable).toBe("BACKUP_DATABASE_URL");
    }
  });

  it("when BACKUP_DATABASE_URL is remote in production without DATABASE_SSL_CA, then start-up fails naming DATABASE_SSL_CA", () => {
    const err = configError(() =>
      loadConfig(prodEnv({ BACKUP_DATABASE_URL: "postgres://backup@db.internal/warden" }), noFiles),
    );
    expect(err.variable).toBe("DATABASE_SSL_CA");
  });

  it.each([
    ["BACKUP_KEEP", "0"],
    ["BACKUP_KEEP", "two"],
    ["BACKUP_CRON", "daily"],
    ["BACKUP_DATABASE_URL", "mysql://db/warden"],
  ])("when %s is %s, then start-up fails naming it", (name, value) => {
    expect(configError(() => loadConfig(prodEnv({ [name]: value }), noFiles)).variable).toBe(name);
  });

  it("when BACKUP_ENCRYPTION_KEY is a master key written without its padding, then it is still refused", () => {
    const k = fernetKey();
    const err = configError(() =>
      loadConfig(
        prodEnv({ MASTER_KEYS: `1:${k}`, BACKUP_ENCRYPTION_KEY: k.replace(/=$/, "") }),
        noFiles,
      ),
    );
    expect(err.variable).toBe("BACKUP_ENCRYPTION_KEY");
  });
});

describe("loadConfig", () => {
  it("when JOB_LOCK_MAX_MS is under 10 s in production, then start-up fails naming it; 10 s passes", () => {
    const err = configError(() => loadConfig(prodEnv({ JOB_LOCK_MAX_MS: "5000" }), noFiles));
    expect(err.variable).toBe("JOB_LOCK_MAX_MS");
    expect(err.message).toContain("at least 10000 in production");
    expect(loadConfig(prodEnv({ JOB_LOCK_MAX_MS: "10000" }), noFiles).jobLockMaxMs).toBe(10_000);
  });

  it("when every production secret is given, then it parses with documented defaults", () => {
    const c = loadConfig(prodEnv(), noFiles);
    expect(c.nodeEnv).toBe("production");
    expect(c.databaseUrl).toBe("postgres://127.0.0.1:5432/warden");
    expect(c.redisUrl).toBe("redis://127.0.0.1:6379");
    expect(c.roles).toEqual(["worker", "signer"]);
    expect(c.masterKeys?.currentVersion).toBe(1);
    expect(c.telegram.apiRoot).toBe("https://api.telegram.org");
    // Paper accounts price at the venues' public tickers in production.
    expect(c.paperPrices).toBe("ticker");
    expect(loadConfig(prodEnv({ PAPER_PRICES: "feed" }), noFiles).paperPrices).toBe("feed");
  });

  it("when MASTER_KEYS is missing in production, then the error names MASTER_KEYS", () => {
    const env = prodEnv({ MASTER_KEYS: undefined });
    const err = configError(() => loadConfig(env, noFiles));
    expect(err.variable).toBe("MASTER_KEYS");
    expect(err.message).toBe("MASTER_KEYS: is required");
  });

  it("when MASTER_KEYS is malformed, then it is refused naming MASTER_KEYS and not echoing it", () => {
    for (const bad of [
      "nonsense",
      "1:short",
      `x:${fernetKey()}`,
      `1:${fernetKey()},1:${fernetKey()}`,
    ]) {
      const err = configError(() => loadConfig(prodEnv({ MASTER_KEYS: bad }), noFiles));
      expect(err.variable).toBe("MASTER_KEYS");
      expect(err.message).not.toContain(bad.split(":")[1]?.slice(0, 20) ?? "never");
    }
  });

  it("when MASTER_KEYS_FILE names a file, then its contents are the key ring", () => {
    const k1 = fernetKey();
    const k2 = fernetKey();
    const files: Record<string, string> = { "/run/secrets/master": `1:${k1}\n2:${k2}\n` };
    const c = loadConfig(
      prodEnv({ MASTER_KEYS: undefined, MASTER_KEYS_FILE: "/run/secrets/master" }),
      (p) => {
        const v = files[p];
        if (v === undefined) throw Object.assign(new Error("nope"), { code: "ENOENT" });
        return v;
      },
    );
    expect(c.masterKeys?.currentVersion).toBe(2);
    expect(c.masterKeys?.versions).toEqual([1, 2]);
  });

  it("when MASTER_KEYS_FILE cannot be read, then the error names MASTER_KEYS_FILE", () => {
    const err = configError(() =>
      loadConfig(prodEnv({ MASTER_KEYS: undefined, MASTER_KEYS_FILE: "/nope" }), noFiles),
    );
    expect(err.message).toBe("MASTER_KEYS_FILE: cannot read the file (ENOENT)");
  });

  it("when both a secret and its _FILE are set, then start-up is refused", () => {
    const err = configError(() =>
      loadConfig(prodEnv({ JWT_SECRET_FILE: "/x" }), () => randomSecret()),
    );
    expect(err.variable).toBe("JWT_SECRET");
  });

  it("when a secret is short or repetitive, then it is refused as weak", () => {
    expect(configError(() => loadConfig(prodEnv({ JWT_SECRET: "short" }), noFiles)).message).toBe(
      "JWT_SECRET: must be at least 32 bytes",
    );
    expect(
      configError(() => loadConfig(prodEnv({ AUDIT_PEPPER: "a".repeat(40) }), noFiles)).message,
    ).toBe("AUDIT_PEPPER: is too repetitive to be a secret");
  });

  it("when BACKUP_ENCRYPTION_KEY equals a master key, then it is refused", () => {
    const k = fernetKey();
    const err = configError(() =>
      loadConfig(prodEnv({ MASTER_KEYS: `1:${k}`, BACKUP_ENCRYPTION_KEY: k }), noFiles),
    );
    expect(err.variable).toBe("BACKUP_ENCRYPTION_KEY");
  });

  it("when ACCOUNT_KEYS is missing in production, then start-up fails naming ACCOUNT_KEYS", () => {
    const err = configError(() => loadConfig(prodEnv({ ACCOUNT_KEYS: undefined }), noFiles));
    expect(err.variable).toBe("ACCOUNT_KEYS");
    expect(err.message).toBe("ACCOUNT_KEYS: is required");
  });

  it("when ACCOUNT_KEYS is weak or malformed in production, then it is refused naming ACCOUNT_KEYS without echoing it", () => {
    const zeros = Buffer.alloc(32).toString("base64url");
    const repeated = Buffer.alloc(32, "ab").toString("base64url");
    const short = randomSecret().slice(0, 20);
    for (const key of [zeros, repeated, short, `${fernetKey()}!`]) {
      const err = configError(() => loadConfig(prodEnv({ ACCOUNT_KEYS: `1:${key}` }), noFiles));
      expect(err.variable).toBe("ACCOUNT_KEYS");
      expect(err.message).toMatch(/^ACCOUNT_KEYS: entry 1 \(version 1\)/);
      expect(err.message).not.toContain(key);
    }
    expect(
      configError(() => loadConfig(prodEnv({ ACCOUNT_KEYS: `1:${zeros}` }), noFiles)).message,
    ).toContain("weak key");
  });

  it("when ACCOUNT_KEYS shares a key with MASTER_KEYS or BACKUP_ENCRYPTION_KEY, then it is refused naming ACCOUNT_KEYS", () => {
    const k = fernetKey();
    const withMaster = configError(() =>
      loadConfig(
        prodEnv({ MASTER_KEYS: `1:${fernetKey()},2:${k}`, ACCOUNT_KEYS: `1:${k}` }),
        noFiles,
      ),
    );
    expect(withMaster.variable).toBe("ACCOUNT_KEYS");
    expect(withMaster.message).toBe("ACCOUNT_KEYS: must not share a key with MASTER_KEYS");
    const withBackup = configError(() =>
      loadConfig(
        prodEnv({ ACCOUNT_KEYS: `3:${fernetKey()},4:${k}`, BACKUP_ENCRYPTION_KEY: k }),
        noFiles,
      ),
    );
    expect(withBackup.variable).toBe("ACCOUNT_KEYS");
    expect(withBackup.message).toBe(
      "ACCOUNT_KEYS: must not share a key with BACKUP_ENCRYPTION_KEY",
    );
    // Independent keys: both rings parse, each with its own versions.
    const c = loadConfig(prodEnv({ ACCOUNT_KEYS: `1:${fernetKey()},2:${fernetKey()}` }), noFiles);
    expect([c.masterKeys?.ring, c.masterKeys?.currentVersion]).toEqual(["master", 1]);
    expect([c.accountKeys.ring, c.accountKeys.currentVersion]).toEqual(["account", 2]);
  });

  it("when production has no SMTP_URL, then it is refused naming SMTP_URL", () => {
    expect(configError(() => loadConfig(prodEnv({ SMTP_URL: undefined }), noFiles)).variable).toBe(
      "SMTP_URL",
    );
  });

  it("when production has no PUBLIC_URL or a plain-http one, then it is refused", () => {
    expect(
      configError(() => loadConfig(prodEnv({ PUBLIC_URL: undefined }), noFiles)).variable,
    ).toBe("PUBLIC_URL");
    expect(
      configError(() => loadConfig(prodEnv({ PUBLIC_URL: "http://warden.example" }), noFiles))
        .message,
    ).toBe("PUBLIC_URL: must use https in production");
  });

  it("when production uses a remote database without DATABASE_SSL_CA, then it is refused", () => {
    const err = configError(() =>
      loadConfig(prodEnv({ DATABASE_URL: "postgres://db.internal:5432/warden" }), noFiles),
    );
    expect(err.variable).toBe("DATABASE_SSL_CA");
  });

  it("when production uses a remote database with a readable DATABASE_SSL_CA, then it is accepted", () => {
    const ca = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    const c = loadConfig(
      prodEnv({
        DATABASE_URL: "postgres://warden_service@db.internal:5432/warden",
        DATABASE_SSL_CA: "/run/secrets/db-ca.pem",
      }),
      (path) => (path === "/run/secrets/db-ca.pem" ? ca : noFiles(path)),
    );
    expect(c.databaseSslCa).toBe("/run/secrets/db-ca.pem");
  });

  it("when DATABASE_SSL_CA is unreadable or not PEM, then it is refused naming it", () => {
    expect(
      configError(() => loadConfig(prodEnv({ DATABASE_SSL_CA: "/nope.pem" }), noFiles)).message,
    ).toBe("DATABASE_SSL_CA: cannot read the file (ENOENT)");
    expect(
      configError(() => loadConfig(prodEnv({ DATABASE_SSL_CA: "/ca.pem" }), () => "not a cert"))
        .message,
    ).toBe("DATABASE_SSL_CA: must be a PEM file of CA certificates");
  });

  it("when a database URL names its host in a query parameter, then it is refused (the production TLS rule checks the URL's host)", () => {
    const err = configError(() =>
      loadConfig(
        prodEnv({ DATABASE_URL: "postgres://localhost/warden?host=db.elsewhere.example" }),
        noFiles,
      ),
    );
    expect(err.message).toBe("DATABASE_URL: put the host in the URL itself, not in ?host=");
    expect(
      configError(() =>
        loadConfig(
          prodEnv({ DATABASE_OWNER_URL: "postgres://localhost/warden?hostaddr=10.0.0.9" }),
          noFiles,
        ),
      ).variable,
    ).toBe("DATABASE_OWNER_URL");
  });

  it("when a database URL asks for less than verify-full beside DATABASE_SSL_CA, then it is refused naming the URL", () => {
    const pem = () => "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    for (const mode of ["disable", "allow", "prefer", "require", "verify-ca", "no-verify"]) {
      const err = configError(() =>
        loadConfig(
          prodEnv({
            DATABASE_URL: `postgres://db.internal/warden?sslmode=${mode}`,
            DATABASE_SSL_CA: "/ca.pem",
          }),
          pem,
        ),
      );
      expect(err.variable).toBe("DATABASE_URL");
    }
    const owner = configError(() =>
      loadConfig(
        prodEnv({
          DATABASE_URL: "postgres://db.internal/warden?sslmode=verify-full",
          DATABASE_OWNER_URL: "postgres://db.internal/warden?sslrootcert=/tmp/other.pem",
          DATABASE_SSL_CA: "/ca.pem",
        }),
        pem,
      ),
    );
    expect(owner.variable).toBe("DATABASE_OWNER_URL");
  });

  it("when roles, admin ids or proxies are malformed, then each names its variable", () => {
    expect(
      configError(() => loadConfig(prodEnv({ WARDEN_ROLES: "api,cook" }), noFiles)).message,
    ).toBe('WARDEN_ROLES: unknown role "cook" (use api, bot, worker, signer or all)');
    expect(
      configError(() => loadConfig(prodEnv({ ADMIN_TELEGRAM_IDS: "12,bob" }), noFiles)).variable,
    ).toBe("ADMIN_TELEGRAM_IDS");
    expect(
      configError(() => loadConfig(prodEnv({ TRUSTED_PROXIES: "10.0.0.0/33" }), noFiles)).variable,
    ).toBe("TRUSTED_PROXIES");
    const c = loadConfig(
      prodEnv({ WARDEN_ROLES: "worker", TRUSTED_PROXIES: "10.0.0.0/8, ::1" }),
      noFiles,
    );
    expect(c.roles).toEqual(["worker"]);
    expect(c.trustedProxies).toEqual(["10.0.0.0/8", "::1"]);
  });

  it("when a malformed bot token is given, then the message does not echo it", () => {
    const token = "123:not-a-token";
    const err = configError(() => loadConfig(prodEnv({ TELEGRAM_BOT_TOKEN: token }), noFiles));
    expect(err.message).toBe("TELEGRAM_BOT_TOKEN: is malformed");
  });

  it("when secrets are configured, then every one is listed for the scrubber", () => {
    const env = prodEnv();
    const c = loadConfig(env, noFiles);
    for (const name of ["JWT_SECRET", "PASSWORD_PEPPER", "AUDIT_PEPPER", "BACKUP_ENCRYPTION_KEY"]) {
      expect(c.secretValues).toContain(env[name as keyof typeof env]);
    }
    expect(c.secretValues).toContain(env.MASTER_KEYS.split(":")[1]);
    expect(c.secretValues).toContain(env.ACCOUNT_KEYS.split(":")[1]);
  });

  it("when the anomaly variables are absent, then the documented defaults; when set, then used; when wrong, then named", () => {
    expect(loadConfig(prodEnv(), noFiles).anomaly).toEqual({
      scanEveryMinutes: 5,
      rapidFireOpens: 10,
      rapidFireMinutes: 5,
      newIpDays: 30,
      alertRules: ["rapid_fire", "new_ip"],
      dedupMinutes: 30,
      resendAfterSeconds: 300,
    });
    const c = loadConfig(
      prodEnv({ ANOMALY_ALERT_RULES: "new_ip, new_symbol", ANOMALY_RAPID_FIRE_OPENS: "20" }),
      noFiles,
    );
    expect(c.anomaly).toMatchObject({ alertRules: ["new_ip", "new_symbol"], rapidFireOpens: 20 });
    expect(
      configError(() => loadConfig(prodEnv({ ANOMALY_ALERT_RULES: "rapid_fire,pump" }), noFiles))
        .variable,
    ).toBe("ANOMALY_ALERT_RULES");
    expect(
      configError(() => loadConfig(prodEnv({ ANOMALY_ALERT_RULES: " " }), noFiles)).message,
    ).toContain("at least one");
    expect(
      configError(() => loadConfig(prodEnv({ ALERT_DEDUP_MINUTES: "0" }), noFiles)).variable,
    ).toBe("ALERT_DEDUP_MINUTES");
    expect(
      configError(() => loadConfig(prodEnv({ ALERT_RESEND_AFTER_SECONDS: "1" }), noFiles)).variable,
    ).toBe("ALERT_RESEND_AFTER_SECONDS");
    expect(
      configError(() => loadConfig(prodEnv({ ANOMALY_SCAN_EVERY_MINUTES: "five" }), noFiles))
        .variable,
    ).toBe("ANOMALY_SCAN_EVERY_MINUTES");
  });
});

describe("loadConfig: development and production defaults", () => {
  const devEnv = () => {
    const { NODE_ENV: _p, PUBLIC_URL: _u, SMTP_URL: _s, DATABASE_URL: _d, ...rest } = prodEnv();
    return { ...rest, NODE_ENV: "development", DATABASE_URL: "postgres://127.0.0.1:5432/warden" };
  };

  it("when HIBP_FAIL_MODE is unset, then development fails open and production fails closed; either can be set", () => {
    expect(loadConfig(devEnv(), noFiles).hibpFailMode).toBe("open");
    expect(loadConfig(prodEnv(), noFiles).hibpFailMode).toBe("closed");
    expect(loadConfig({ ...devEnv(), HIBP_FAIL_MODE: "closed" }, noFiles).hibpFailMode).toBe(
      "closed",
    );
    expect(
      configError(() => loadConfig(prodEnv({ HIBP_FAIL_MODE: "maybe" }), noFiles)).variable,
    ).toBe("HIBP_FAIL_MODE");
  });

  it("when production has no DATABASE_URL, then start-up is refused naming it", () => {
    const err = configError(() => loadConfig(prodEnv({ DATABASE_URL: undefined }), noFiles));
    expect(err.message).toMatch(/^DATABASE_URL: is required in production/);
  });
});
