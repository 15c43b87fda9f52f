// S9.1 and S9.4 against the running service: every header's exact value on the pages, the API
// and error responses; the Mini App route's frame-ancestors; no-referrer on the reset page; the
// CSP report endpoint logs violations; /.well-known/security.txt (RFC 9116) and /security.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestWarden, type TestWarden } from "../../support/warden-harness";

const CSP =
  "default-src 'self';script-src 'self';style-src 'self';img-src 'self' data:;" +
  "connect-src 'self';font-src 'self';object-src 'none';base-uri 'none';" +
  "frame-ancestors 'none';form-action 'self';report-uri /api/csp-report";
const MINI_APP_CSP = CSP.replace(
  "frame-ancestors 'none'",
  "frame-ancestors https://web.telegram.org https://webk.telegram.org https://webz.telegram.org",
);
const PERMISSIONS =
  "accelerometer=(), autoplay=(), bluetooth=(), camera=(), display-capture=(), " +
  "encrypted-media=(), fullscreen=(), geolocation=(), gyroscope=(), hid=(), idle-detection=(), " +
  "magnetometer=(), microphone=(), midi=(), payment=(), picture-in-picture=(), " +
  "publickey-credentials-get=(), screen-wake-lock=(), serial=(), usb=(), xr-spatial-tracking=()";

const EXPECTED: Record<string, string> = {
  "strict-transport-security": "max-age=63072000; includeSubDomains; preload",
  "content-security-policy": CSP,
  "x-frame-options": "DENY",
  "referrer-policy": "strict-origin-when-cross-origin",
  "permissions-policy": PERMISSIONS,
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
  "x-content-type-options": "nosniff",
  // helmet's remaining headers, each chosen explicitly in security-headers.ts.
  "x-xss-protection": "0",
  "x-dns-prefetch-control": "off",
  "x-download-options": "noopen",
  "x-permitted-cross-domain-policies": "none",
  "origin-agent-cluster": "?1",
};

let w: TestWarden;
const EXPIRES = new Date(Date.now() + 100 * 24 * 3600_000);
EXPIRES.setUTCMilliseconds(0);

beforeAll(async () => {
  w = await startTestWarden({
    env: {
      SECURITY_CONTACT: "mailto:security@warden.example, https://warden.example/report",
      SECURITY_TXT_EXPIRES: EXPIRES.toISOString(),
      SECURITY_LANGUAGES: "en, de",
    },
  });
});
afterAll(async () => {
  await w.stop();
});

interface LogEntry {
  msg?: string;
  csp?: Record<string, unknown>;
}
const logEntries = (): LogEntry[] => w.logs.lines.map((l) => JSON.parse(l) as LogEntry);
const violations = () => logEntries().filter((e) => e.msg === "csp violation reported");

const expected = (): Record<string, string> => EXPECTED;

function headersOf(res: Response): Record<string, string | null> {
  return Object.fromEntries(Object.keys(expected()).map((k) => [k, res.headers.get(k)]));
}

describe("security headers", () => {
  const cases: Array<[string, string, RequestInit | undefined, number]> = [
    ["the settings page", "/settings", undefined, 200],
    ["the security page", "/security", undefined, 200],
    ["security.txt", "/.well-known/security.txt", undefined, 200],
    ["a page script", "/assets/settings.js", undefined, 200],
    ["the stylesheet", "/assets/warden.css", undefined, 200],
    ["an API health check", "/healthz", undefined, 200],
    ["an API call without a token (401)", "/api/auth/sessions", undefined, 401],
    ["an unknown path (404)", "/no/such/page", undefined, 404],
    ["an unknown asset (404)", "/assets/nope.js", undefined, 404],
    [
      "a malformed JSON body (400)",
      "/api/auth/login",
      { method: "POST", headers: { "content-type": "application/json" }, body: "{" },
      400,
    ],
    [
      "a body over the size limit (413)",
      "/api/auth/login",
      {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ email: "a@example.com", password: "x".repeat(64_000) }),
      },
      413,
    ],
  ];
  for (const [what, path, init, status] of cases) {
    it(`when ${what} is fetched, then every security header has its exact value`, async () => {
      const res = await fetch(`${w.base}${path}`, init);
      await res.arrayBuffer();
      expect(res.status).toBe(status);
      expect(headersOf(res)).toEqual(expected());
      expect(res.headers.get("x-powered-by")).toBeNull();
    });
  }

  it("when the reset page is fetched, then its Referrer-Policy is no-referrer and the rest is unchanged", async () => {
    const res = await fetch(`${w.base}/reset-password`);
    expect(res.status).toBe(200);
    expect(headersOf(res)).toEqual({ ...expected(), "referrer-policy": "no-referrer" });
    expect(await res.text()).toContain('<meta name="referrer" content="no-referrer">');
  });

  it("when the Mini App route is fetched, then only Telegram Web may frame it and there is no X-Frame-Options", async () => {
    const res = await fetch(`${w.base}/settings/telegram`);
    expect(res.status).toBe(200);
    const { "x-frame-options": xfo, ...rest } = headersOf(res);
    const { "x-frame-options": _x, ...others } = expected();
    expect(xfo).toBeNull();
    expect(rest).toEqual({ ...others, "content-security-policy": MINI_APP_CSP });
  });

  it("when any page is served, then it has no inline script or style", async () => {
    for (const path of ["/settings", "/reset-password", "/security"]) {
      const html = await (await fetch(`${w.base}${path}`)).text();
      expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/i);
      expect(html).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i);
    }
  });
});

describe("CSP violation reports", () => {
  it("when a browser posts a report-uri report, then it is logged with the blocked directive and 204", async () => {
    const res = await fetch(`${w.base}/api/csp-report`, {
      method: "POST",
      headers: { "content-type": "application/csp-report" },
      body: JSON.stringify({
        "csp-report": {
          "document-uri": `${w.base}/settings`,
          "effective-directive": "script-src-elem",
          "blocked-uri": "https://evil.example/x.js",
        },
      }),
    });
    expect(res.status).toBe(204);
    const hit = violations().find((e) => e.csp?.blockedUri === "https://evil.example/x.js");
    expect(hit?.csp).toMatchObject({
      effectiveDirective: "script-src-elem",
      blockedUri: "https://evil.example/x.js",
    });
  });

  it("when a browser posts a Reporting API batch, then each csp-violation is logged", async () => {
    const res = await fetch(`${w.base}/api/csp-report`, {
      method: "POST",
      headers: { "content-type": "application/reports+json" },
      body: JSON.stringify([
        {
          type: "csp-violation",
          body: { documentURL: `${w.base}/security`, effectiveDirective: "style-src-attr" },
        },
        { type: "deprecation", body: { id: "x" } },
      ]),
    });
    expect(res.status).toBe(204);
    const hits = violations().filter((e) => e.csp?.effectiveDirective === "style-src-attr");
    expect(hits).toHaveLength(1);
  });

  it("when the report is not JSON, then it is refused with 400 and nothing is logged as a violation", async () => {
    const before = violations().length;
    const res = await fetch(`${w.base}/api/csp-report`, {
      method: "POST",
      headers: { "content-type": "application/csp-report" },
      body: "not json",
    });
    expect(res.status).toBe(400);
    expect(violations()).toHaveLength(before);
  });
});

describe("security.txt and /security", () => {
  it("when /.well-known/security.txt is fetched, then it has Contact, Expires, Policy, Preferred-Languages and Canonical from configuration", async () => {
    const res = await fetch(`${w.base}/.well-known/security.txt`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    expect((await res.text()).split("\n")).toEqual([
      "Contact: mailto:security@warden.example",
      "Contact: https://warden.example/report",
      `Expires: ${EXPIRES.toISOString().replace(".000Z", "Z")}`,
      `Policy: ${w.origin}/security`,
      "Preferred-Languages: en, de",
      `Canonical: ${w.origin}/.well-known/security.txt`,
      "",
    ]);
  });

  it("when /security is fetched, then it states the disclosure policy with the configured contact", async () => {
    const html = await (await fetch(`${w.base}/security`)).text();
    expect(html).toContain("vulnerability disclosure policy");
    expect(html).toContain("mailto:security@warden.example, https://warden.example/report");
    expect(html).toContain("90 days");
    expect(html).not.toContain("{{");
  });

  it("when the sandbox is asked for outside development, then it is not served", async () => {
    expect((await fetch(`${w.base}/sandbox`)).status).toBe(404);
    expect((await fetch(`${w.base}/sandbox/app.js`)).status).toBe(404);
    expect((await fetch(`${w.base}/assets/sandbox.js`)).status).toBe(404);
  });
});
