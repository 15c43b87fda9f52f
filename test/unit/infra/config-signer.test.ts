// MASTER_KEYS belongs to the signer (issue 19): required where the signer role runs, optional
// elsewhere, and refused in production for any process that serves the api or the bot, so a
// compromised api or bot process holds no key that decrypts an exchange key.
import { describe, expect, it } from "vitest";
import {
  accountKeysOf,
  ConfigError,
  loadConfig,
  requireMasterKeys,
} from "../../../src/infra/config";
import { fernetKey, randomSecret } from "../../support/context";

const env = (over: Record<string, string | undefined> = {}) => ({
  NODE_ENV: "production",
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
const noFiles = (path: string): string => {
  throw Object.assign(new Error(`ENOENT ${path}`), { code: "ENOENT" });
};

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error("expected a ConfigError");
}

const REFUSED =
  "MASTER_KEYS: must not be set for the api or bot role in production: only the signer holds it";

describe("MASTER_KEYS and the roles (issue 19)", () => {
  it("when a production process runs the api or the bot role and MASTER_KEYS is set, then start-up is refused naming MASTER_KEYS", () => {
    for (const roles of ["api", "bot", "api,bot", "api,worker", "bot,worker"]) {
      const err = configError(() => loadConfig(env({ WARDEN_ROLES: roles }), noFiles));
      expect(err.variable, roles).toBe("MASTER_KEYS");
      expect(err.message, roles).toBe(REFUSED);
    }
  });

  it("when a production process runs the signer with the api or the bot, then start-up is refused naming WARDEN_ROLES, with or without MASTER_KEYS", () => {
    for (const roles of ["api,signer", "bot,signer", "all", "api,bot,worker,signer"]) {
      for (const masterKeys of [undefined, "keep"]) {
        const over = masterKeys
          ? { WARDEN_ROLES: roles }
          : { WARDEN_ROLES: roles, MASTER_KEYS: undefined };
        const err = configError(() => loadConfig(env(over), noFiles));
        expect(err.variable, roles).toBe("WARDEN_ROLES");
        expect(err.message, roles).toBe(
          "WARDEN_ROLES: must not run the signer with the api or bot role in production: run it in a process of its own (deploy/systemd/warden-signer.service)",
        );
      }
    }
  });

  it("when a production process names no roles, then start-up is refused naming WARDEN_ROLES; development runs all four", () => {
    const err = configError(() => loadConfig(env({ WARDEN_ROLES: undefined }), noFiles));
    expect(err.variable).toBe("WARDEN_ROLES");
    expect(err.message).toContain("WARDEN_ROLES: is required in production");
    const dev = loadConfig(env({ WARDEN_ROLES: undefined, NODE_ENV: "development" }), noFiles);
    expect(dev.roles).toEqual(["api", "bot", "worker", "signer"]);
  });

  it("when MASTER_KEYS_FILE gives the ring to a production api process, then it is refused the same way without echoing the key", () => {
    const key = fernetKey();
    const err = configError(() =>
      loadConfig(
        env({ WARDEN_ROLES: "api", MASTER_KEYS: undefined, MASTER_KEYS_FILE: "/run/master" }),
        () => `1:${key}\n`,
      ),
    );
    expect(err.message).toBe(REFUSED);
    expect(err.message).not.toContain(key);
  });

  it("when production api, bot and worker run without MASTER_KEYS, then they start with no exchange-key ring and account secrets opened by ACCOUNT_KEYS alone", () => {
    for (const roles of ["api,bot", "api", "bot", "worker", "api,bot,worker"]) {
      const c = loadConfig(env({ WARDEN_ROLES: roles, MASTER_KEYS: undefined }), noFiles);
      expect(c.masterKeys, roles).toBeUndefined();
      const keys = accountKeysOf(c);
      expect(keys.legacy, roles).toBeUndefined();
      expect(keys.ring.ring).toBe("account");
    }
  });

  it("when the signer role runs without MASTER_KEYS, then start-up fails naming MASTER_KEYS, in production and in development", () => {
    for (const over of [
      { WARDEN_ROLES: "signer" },
      { WARDEN_ROLES: "worker,signer" },
      { WARDEN_ROLES: "signer", NODE_ENV: "development" },
      { NODE_ENV: "development" }, // the default: every role in one process
    ]) {
      const err = configError(() => loadConfig(env({ ...over, MASTER_KEYS: undefined }), noFiles));
      expect(err.message).toBe("MASTER_KEYS: is required");
    }
  });

  it("when the signer runs alone in production with MASTER_KEYS, then it has the ring", () => {
    const c = loadConfig(env({ WARDEN_ROLES: "signer" }), noFiles);
    expect(requireMasterKeys(c).currentVersion).toBe(1);
  });

  it("when development runs every role in one process with MASTER_KEYS, then it starts as before", () => {
    for (const roles of [undefined, "all", "api,bot"]) {
      const c = loadConfig(env({ NODE_ENV: "development", WARDEN_ROLES: roles }), noFiles);
      expect(requireMasterKeys(c).ring).toBe("master");
    }
  });

  it("when an operation needs MASTER_KEYS in a process configured without it, then it fails naming MASTER_KEYS", () => {
    const c = loadConfig(env({ WARDEN_ROLES: "api", MASTER_KEYS: undefined }), noFiles);
    const err = configError(() => requireMasterKeys(c));
    expect(err.variable).toBe("MASTER_KEYS");
  });
});
