import { describe, expect, it } from "vitest";
import { createLogger } from "../../../src/infra/logger";
import { createScrubber, isSensitiveKey } from "../../../src/infra/scrub";
import { captureLogs } from "../../support/log-capture";

const SECRETS = {
  apiKey: "AKIA-visible-api-key-1234567890",
  secret: "s3cr3t-value-that-must-not-show",
  password: "correct horse battery staple",
  token: "tok_abcdefghijklmnopqrstuvwxyz",
  privateKey: "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318",
  nested_api_key: "nested-api-key-value-0987654321",
};

describe("scrubber and logger (S1.4)", () => {
  it("when an object with nested apiKey, secret, password and token fields is logged, then none of their values is printed", () => {
    const logs = captureLogs();
    const logger = createLogger({
      level: "info",
      pretty: false,
      scrubber: createScrubber(),
      destination: logs.stream,
    });
    logger.info(
      {
        user: { id: 7, credentials: { apiKey: SECRETS.apiKey, secret: SECRETS.secret } },
        body: { password: SECRETS.password, deeper: [{ token: SECRETS.token }] },
        wallet: { privateKey: SECRETS.privateKey, NESTED_API_KEY: SECRETS.nested_api_key },
        Authorization: "Bearer abc.def.ghi",
      },
      "logging a request",
    );
    const out = logs.text();
    expect(out).toContain("logging a request");
    expect(out).toContain('"id":7');
    for (const value of Object.values(SECRETS)) expect(out).not.toContain(value);
    expect(out).not.toContain("abc.def.ghi");
    expect(out).toContain("[redacted]");
  });

  it("when an error's message echoes a request with secrets, then the logged error is scrubbed", () => {
    const logs = captureLogs();
    const logger = createLogger({
      level: "info",
      pretty: false,
      scrubber: createScrubber(),
      destination: logs.stream,
    });
    const err = new Error(
      `binanceusdm GET https://fapi.binance.com/fapi/v3/account?timestamp=1&signature=${"ab".repeat(32)} headers X-MBX-APIKEY: ${SECRETS.apiKey}`,
    );
    Object.assign(err, {
      config: { headers: { "X-MBX-APIKEY": SECRETS.apiKey }, apiSecret: SECRETS.secret },
    });
    logger.error({ err }, "venue call failed");
    const out = logs.text();
    expect(out).toContain("venue call failed");
    expect(out).toContain("binanceusdm GET");
    expect(out).not.toContain(SECRETS.apiKey);
    expect(out).not.toContain(SECRETS.secret);
    expect(out).not.toContain("ab".repeat(32));
  });

  it("when a registered secret appears anywhere in free text, then it is redacted", () => {
    const scrubber = createScrubber(["plain-config-secret-value"]);
    const logs = captureLogs();
    const logger = createLogger({
      level: "info",
      pretty: false,
      scrubber,
      destination: logs.stream,
    });
    logger.info(
      { note: "the value plain-config-secret-value leaked" },
      "msg plain-config-secret-value",
    );
    expect(logs.text()).not.toContain("plain-config-secret-value");
  });

  it("when text holds a bot token, JWT, Fernet token or PEM key, then each is masked", () => {
    const s = createScrubber();
    const botToken = `123456789:${"A".repeat(35)}`;
    const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl";
    const fernet = `gAAAAAB${"x".repeat(60)}`;
    // Built at run time so no key-like literal sits in the repository.
    const marker = ["PRIVATE", "KEY"].join(" ");
    const pem = `-----BEGIN ${marker}-----\nMIIEvQ\n-----END ${marker}-----`;
    const out = s.scrubString(`url /bot${botToken}/getMe ${jwt} ${fernet} ${pem}`);
    for (const v of [botToken, jwt, fernet, "MIIEvQ"]) expect(out).not.toContain(v);
  });

  it("when a logged error carries the locals Sentry captured at the throw, then the log line omits them", () => {
    const logs = captureLogs();
    const logger = createLogger({
      level: "info",
      pretty: false,
      scrubber: createScrubber(),
      destination: logs.stream,
    });
    const err = new Error("venue refused");
    // What the SDK's inspector worker writes onto a thrown error (any variable name at all).
    Object.assign(err, {
      __SENTRY_ERROR_LOCAL_VARIABLES__: [{ function: "place", vars: { material: SECRETS.secret } }],
    });
    logger.error({ err }, "request failed");
    expect(logs.text()).toContain("venue refused");
    expect(logs.text()).not.toContain(SECRETS.secret);
    expect(logs.text()).not.toContain("__SENTRY_ERROR_LOCAL_VARIABLES__");
  });

  it("when values are cyclic, buffers or deep, then scrubbing terminates and hides bytes", () => {
    const s = createScrubber();
    const a: Record<string, unknown> = { name: "a", buf: Buffer.from("secret bytes") };
    a.self = a;
    expect(s.scrub(a)).toEqual({ name: "a", buf: "[binary]", self: "[circular]" });
  });

  it("when key names vary in case and separators, then the S1.4 names are all sensitive", () => {
    for (const k of [
      "api_key",
      "apiKey",
      "APIKEY",
      "x-api-key",
      "client_secret",
      "accessToken",
      "private_key",
      "privateKey",
      "newPassword",
      "passphrase",
      "totp",
      "otpCode",
      "cookie",
      "Authorization",
    ]) {
      expect(isSensitiveKey(k), k).toBe(true);
    }
    for (const k of ["id", "venue", "symbol", "userId", "createdAt"])
      expect(isSensitiveKey(k), k).toBe(false);
  });
});
