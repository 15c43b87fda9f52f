// Which trading the api and bot roles get (issue 19): the use cases in the process by default,
// intents to a separate signer with SIGNER_MODE=remote; a process without those roles never
// sends intents.
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../../src/infra/config";
import { tradingModeFor } from "../../../src/roles/services";
import { fernetKey, randomSecret } from "../../support/context";

const env = (over: Record<string, string> = {}) => ({
  NODE_ENV: "production",
  PUBLIC_URL: "https://warden.example",
  MASTER_KEYS: `1:${fernetKey()}`,
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

describe("trading mode of the caller roles", () => {
  it("when SIGNER_MODE is not set, then every role trades directly", () => {
    const c = loadConfig(env(), noFiles);
    expect(c.signerMode).toBe("local");
    expect(tradingModeFor(c, ["api", "bot", "worker"])).toBe("direct");
  });

  it("when SIGNER_MODE=remote, then a process running api or bot sends intents, and a worker-only process does not", () => {
    const c = loadConfig(env({ SIGNER_MODE: "remote" }), noFiles);
    expect(tradingModeFor(c, ["api"])).toBe("remote");
    expect(tradingModeFor(c, ["bot"])).toBe("remote");
    expect(tradingModeFor(c, ["api", "worker"])).toBe("remote");
    expect(tradingModeFor(c, ["worker"])).toBe("direct");
  });

  it("when SIGNER_MODE is anything else, then start-up fails naming the variable", () => {
    let err: unknown;
    try {
      loadConfig(env({ SIGNER_MODE: "queue" }), noFiles);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/^SIGNER_MODE/);
  });
});
