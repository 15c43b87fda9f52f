// scrubEvent: the whole Sentry event through the shared scrubber (S1.4), field by field.
import { type Event, Scope } from "@sentry/node";
import { describe, expect, it } from "vitest";
import { createScrubber } from "../../../src/infra/scrub";
import { scrubEvent } from "../../../src/infra/sentry";

const configured = "cfg-secret-3f9a1c7e5b2d4068";

function event(overrides: Partial<Event> = {}): Event {
  return {
    event_id: "0123456789abcdef0123456789abcdef",
    exception: {
      values: [
        {
          type: "Error",
          value: `login failed for password=hunter2hunter2 with ${configured}`,
          stacktrace: {
            frames: [
              { function: "handler", vars: { password: "p4ss", body: { otp: "864209" }, n: 3 } },
            ],
          },
        },
      ],
    },
    ...overrides,
  };
}

describe("error report scrubbing (S1.4)", () => {
  it("when an event carries secrets in every place the SDK fills, then none survives and the rest does", () => {
    const scrubber = createScrubber([configured]);
    const out = scrubEvent(
      event({
        request: {
          url: "https://warden.example/api/auth/reset?token=abcdef123456&page=2",
          method: "POST",
          query_string: "token=abcdef123456&page=2",
          headers: {
            Authorization: "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
            Cookie: "__Secure-warden_refresh=r3fr3shr3fr3sh",
            "X-MBX-APIKEY": "binance-api-key-value",
            "User-Agent": "curl/8",
          },
          cookies: { "__Secure-warden_refresh": "r3fr3shr3fr3sh" },
          data: JSON.stringify({ email: "a@b.c", password: "correct horse battery staple" }),
        },
        extra: { config: { jwtSecret: "j", note: `uses ${configured}` } },
        contexts: { venue: { apiKey: "venue-key", name: "bybit" } },
        tags: { source: "api" },
        breadcrumbs: [
          {
            category: "http",
            data: { url: "https://api.bybit.com/v5/order?api_key=K123&sign=S456&symbol=BTC" },
          },
          { message: `connected with ${configured}` },
        ],
      }),
      scrubber,
    );
    const text = JSON.stringify(out);
    for (const secret of [
      "hunter2hunter2",
      configured,
      "p4ss",
      "864209",
      "abcdef123456",
      "eyJhbGciOiJIUzI1NiJ9",
      "r3fr3sh",
      "binance-api-key-value",
      "correct horse",
      "battery staple",
      "venue-key",
      "K123",
      "S456",
    ]) {
      expect(text, secret).not.toContain(secret);
    }
    expect(out.exception?.values?.[0]?.stacktrace?.frames?.[0]?.vars).toEqual({
      password: "[redacted]",
      body: { otp: "[redacted]" },
      n: 3,
    });
    expect(JSON.parse(String(out.request?.data))).toEqual({
      email: "a@b.c",
      password: "[redacted]",
    });
    expect(out.request?.headers?.["User-Agent"]).toBe("curl/8");
    expect(out.request?.url).toContain("page=2");
    expect(out.contexts?.venue).toEqual({ apiKey: "[redacted]", name: "bybit" });
    expect(out.tags).toEqual({ source: "api" });
  });

  it("when the exception passed through withDecryptedExchangeKeys, then every frame loses its locals but keeps its place", () => {
    const out = scrubEvent(
      event({
        exception: {
          values: [
            {
              type: "Error",
              value: "venue refused",
              stacktrace: {
                frames: [
                  { function: "withDecryptedExchangeKeys", vars: { buffers: "[…]" } },
                  { function: "placeOrder", lineno: 12, vars: { material: "ak:sk-plain" } },
                ],
              },
            },
          ],
        },
      }),
      createScrubber(),
    );
    const frames = out.exception?.values?.[0]?.stacktrace?.frames ?? [];
    expect(frames.map((f) => [f.function, f.vars])).toEqual([
      ["withDecryptedExchangeKeys", undefined],
      ["placeOrder", undefined],
    ]);
    expect(frames[1]?.lineno).toBe(12);
  });

  it("when the SDK's processing metadata is present, then it is passed through untouched", () => {
    const scope = new Scope();
    const out = scrubEvent(
      event({ sdkProcessingMetadata: { capturedSpanScope: scope, token: "kept-for-the-sdk" } }),
      createScrubber(),
    );
    expect(out.sdkProcessingMetadata?.capturedSpanScope).toBe(scope);
    expect(out.sdkProcessingMetadata?.token).toBe("kept-for-the-sdk");
  });
});
