// S1.4 for error reports: what the Sentry SDK actually sends, read back from an ingestion
// endpoint on 127.0.0.1, holds the error but none of the secrets around it.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testEnv } from "../../support/context";
import { baseEnv, type Spawned, spawnProcess } from "../../support/process";
import { eventOf, type SentryServer, startSentryServer } from "../../support/sentry/server";

const marker = `harmless-${randomBytes(6).toString("hex")}`;
const exchangeApiKey = `AK${randomBytes(12).toString("hex")}`;
const exchangeSecret = `SK${randomBytes(18).toString("hex")}`;
const password = `Pw${randomBytes(10).toString("hex")}`;
const bearer = `opaque${randomBytes(12).toString("hex")}`;
const refreshCookie = randomBytes(24).toString("base64url");
const webhookSecret = randomBytes(24).toString("base64url");

let sentry: SentryServer;
let fixture: Spawned;
let base: string;
let env: Record<string, string | undefined>;

beforeAll(async () => {
  sentry = await startSentryServer();
  env = testEnv({ SENTRY_DSN: sentry.dsn, LOG_LEVEL: "info" });
  fixture = spawnProcess(
    "node",
    ["--import", "tsx", "test/support/sentry/report-fixture.ts"],
    baseEnv({
      ...env,
      FIXTURE_API_KEY: exchangeApiKey,
      FIXTURE_SECRET: exchangeSecret,
      FIXTURE_MARKER: marker,
    }),
  );
  const line = await fixture.waitForOutput(/fixture listening on \d+/);
  base = `http://127.0.0.1:${/\d+$/.exec(line)?.[0]}/fixture`;
});

afterAll(async () => {
  fixture?.kill("SIGTERM");
  await fixture?.exited;
  await sentry?.close();
});

type Frame = { function?: string; vars?: Record<string, unknown> };
const framesOf = (event: Record<string, unknown>): Frame[] =>
  (
    (event.exception as { values: Array<{ stacktrace?: { frames?: Frame[] } }> }).values ?? []
  ).flatMap((v) => v.stacktrace?.frames ?? []);
const messageOf = (event: Record<string, unknown>) =>
  JSON.stringify((event.exception as { values: Array<{ value?: string }> }).values);

/** Every secret the test planted, by name, for readable failures. */
function secrets(): Record<string, string> {
  const masterKey = (env.MASTER_KEYS ?? "").split(":")[1] ?? "";
  return {
    password,
    bearer,
    refreshCookie,
    webhookSecret,
    exchangeApiKey,
    exchangeSecret,
    jwtSecret: env.JWT_SECRET ?? "",
    masterKey,
    dsnPublicKey: new URL(sentry.dsn).username,
  };
}

function leaked(text: string, except: string[] = []): string[] {
  return Object.entries(secrets())
    .filter(([name, value]) => !except.includes(name) && value !== "" && text.includes(value))
    .map(([name]) => name);
}

describe("error reports (S1.4)", () => {
  it("when an HTTP handler receiving a password throws, then the envelope sent to Sentry holds the error and its harmless locals but no secret", async () => {
    const res = await fetch(`${base}/login`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${bearer}`,
        cookie: `__Secure-warden_refresh=${refreshCookie}`,
        "x-telegram-bot-api-secret-token": webhookSecret,
      },
      body: JSON.stringify({ email: "trader@example.com", password }),
    });
    expect(res.status).toBe(500);
    const envelope = await sentry.waitForEvent((e) => messageOf(e).includes("login relay refused"));
    const event = eventOf(envelope);

    // The error is there, with the request's method and path as tags.
    expect(messageOf(event)).toContain("trader@example.com");
    expect(event.tags).toMatchObject({ source: "api", method: "POST", path: "/fixture/login" });
    // Local variables were really captured (the harmless one is there), and the sensitive
    // ones are redacted by name, nested objects included.
    const handler = framesOf(event).find((f) => f.vars && "loginRequest" in f.vars);
    expect(handler?.vars).toMatchObject({
      harmless: marker,
      password: "[redacted]",
      loginRequest: { email: "trader@example.com", password: "[redacted]" },
    });
    // The DSN's public key is in the envelope header by protocol; nowhere in the event.
    expect(leaked(envelope.raw, ["dsnPublicKey"])).toEqual([]);
    expect(leaked(JSON.stringify(event))).toEqual([]);
  });

  it("when a venue call throws inside withDecryptedExchangeKeys, then the envelope holds the error but neither the key nor any frame's locals", async () => {
    const res = await fetch(`${base}/trade`, { method: "POST" });
    expect(res.status).toBe(500);
    const envelope = await sentry.waitForEvent((e) =>
      messageOf(e).includes("venue refused the order"),
    );
    const event = eventOf(envelope);

    const frames = framesOf(event);
    expect(frames.map((f) => f.function).join(" ")).toContain("withDecryptedExchangeKeys");
    // Inside the scope any local may hold plaintext under any name: none is sent.
    expect(frames.filter((f) => f.vars !== undefined)).toEqual([]);
    expect(envelope.raw).not.toContain(marker);
    expect(leaked(envelope.raw, ["dsnPublicKey"])).toEqual([]);
  });

  it("when errors were reported, then the process's own log lines hold no secret and no captured locals, and the inspector port is closed again", async () => {
    // Both errors above were logged by the API's error handler before being reported.
    expect(fixture.output()).toContain("request failed");
    expect(leaked(fixture.output(), ["dsnPublicKey"])).toEqual([]);
    expect(fixture.output()).not.toContain(new URL(sentry.dsn).username);
    expect(fixture.output()).not.toContain("__SENTRY_ERROR_LOCAL_VARIABLES__");
    expect(fixture.output()).not.toContain(marker);
    const inspector = (await (await fetch(`${base}/inspector`)).json()) as { url: string | null };
    expect(inspector.url).toBeNull();
    expect(sentry.refused).toBe(0);
  });
});
