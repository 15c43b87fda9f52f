// Configuration of the web face: security.txt fields (RFC 9116) and when the sandbox may run.
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../../src/infra/config";
import { fernetKey, randomSecret } from "../../support/context";

const env = (over: Record<string, string | undefined> = {}) => ({
  NODE_ENV: "development",
  MASTER_KEYS: `1:${fernetKey()}`,
  ACCOUNT_KEYS: `1:${fernetKey()}`,
  BACKUP_ENCRYPTION_KEY: fernetKey(),
  JWT_SECRET: randomSecret(),
  PASSWORD_PEPPER: randomSecret(),
  AUDIT_PEPPER: randomSecret(),
  ...over,
});
const prod = (over: Record<string, string | undefined> = {}) =>
  env({
    NODE_ENV: "production",
    // Only the signer holds MASTER_KEYS in production (issue 19).
    WARDEN_ROLES: "worker,signer",
    PUBLIC_URL: "https://warden.example",
    SMTP_URL: "smtp://relay.internal:25",
    // Production requires a database URL (issue 14); localhost needs no CA.
    DATABASE_URL: "postgres://warden@127.0.0.1:5432/warden",
    ...over,
  });
const noFiles = (path: string): string => {
  throw Object.assign(new Error(`ENOENT ${path}`), { code: "ENOENT" });
};
const TOKEN = `123456789:${"A".repeat(20)}${"b".repeat(15)}`;

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error("expected a ConfigError");
}

describe("sandbox", () => {
  it("when development runs without a bot token, then the sandbox is on", () => {
    expect(loadConfig(env(), noFiles).sandbox).toBe(true);
  });
  it("when production runs without a bot token, then the sandbox is off", () => {
    expect(loadConfig(prod(), noFiles).sandbox).toBe(false);
  });
  it("when a bot token is set, or SANDBOX=off, or NODE_ENV=test, then the sandbox is off", () => {
    expect(loadConfig(env({ TELEGRAM_BOT_TOKEN: TOKEN }), noFiles).sandbox).toBe(false);
    expect(loadConfig(env({ SANDBOX: "off" }), noFiles).sandbox).toBe(false);
    expect(loadConfig(env({ NODE_ENV: "test" }), noFiles).sandbox).toBe(false);
  });
  it("when SANDBOX has another value, then start-up fails naming it", () => {
    expect(configError(() => loadConfig(env({ SANDBOX: "on" }), noFiles)).variable).toBe("SANDBOX");
  });
});

describe("security.txt", () => {
  it("when nothing is configured, then the contact is security@ the public host, the policy is /security and Expires is within a year", () => {
    const c = loadConfig(prod(), noFiles);
    expect(c.securityTxt.contacts).toEqual(["mailto:security@warden.example"]);
    expect(c.securityTxt.policyUrl).toBe("https://warden.example/security");
    expect(c.securityTxt.languages).toEqual(["en"]);
    const ahead = c.securityTxt.expires.getTime() - Date.now();
    expect(ahead).toBeGreaterThan(0);
    expect(ahead).toBeLessThan(366 * 24 * 3600_000);
  });
  it("when contacts, languages and policy are configured, then they are used as given", () => {
    const c = loadConfig(
      prod({
        SECURITY_CONTACT: "mailto:sec@warden.example,https://warden.example/contact",
        SECURITY_LANGUAGES: "en, de",
        SECURITY_POLICY_URL: "https://warden.example/disclosure",
      }),
      noFiles,
    );
    expect(c.securityTxt.contacts).toEqual([
      "mailto:sec@warden.example",
      "https://warden.example/contact",
    ]);
    expect(c.securityTxt.languages).toEqual(["en", "de"]);
    expect(c.securityTxt.policyUrl).toBe("https://warden.example/disclosure");
  });
  it("when a contact is not a mailto:, https: or tel: URI, then start-up fails naming SECURITY_CONTACT", () => {
    for (const bad of [
      "security@warden.example",
      "http://warden.example/c",
      "javascript:alert(1)",
    ]) {
      expect(configError(() => loadConfig(prod({ SECURITY_CONTACT: bad }), noFiles)).variable).toBe(
        "SECURITY_CONTACT",
      );
    }
  });
  it("when Expires is in the past, more than a year away or not a date, then start-up fails naming it", () => {
    const day = 24 * 3600_000;
    for (const bad of [
      new Date(Date.now() - day).toISOString(),
      new Date(Date.now() + 400 * day).toISOString(),
      "next year",
    ]) {
      expect(
        configError(() => loadConfig(prod({ SECURITY_TXT_EXPIRES: bad }), noFiles)).variable,
      ).toBe("SECURITY_TXT_EXPIRES");
    }
  });
});
