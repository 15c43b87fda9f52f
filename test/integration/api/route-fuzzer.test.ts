// A fuzzer over every API route: each is called signed out and signed in (stepped up), with a
// malformed refresh cookie, malformed query values, malformed path ids and malformed bodies.
// Nothing a client sends may answer 5xx: bad input is the client's fault and gets a 4xx with the
// usual error body. The routes come from the route files themselves, so a new route is fuzzed
// without anyone listing it here.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestWarden, type TestWarden } from "../../support/warden-harness";
import { AuthClient, createSecrets, freshIp, TRUSTED_LOOPBACK } from "./auth-support";

const API_DIR = join(import.meta.dirname, "../../../src/api");
/** Where main.ts mounts each route file's router. */
const MOUNTS: Record<string, string> = {
  "auth-routes.ts": "/api/auth",
  "keys-routes.ts": "/api/keys",
  "alerts-routes.ts": "/api/alerts",
  "trading-routes.ts": "/api",
  "reports-routes.ts": "/api",
  "notifications-routes.ts": "/api",
};

interface Route {
  method: string;
  path: string;
}

/** `router.get(` … `"/path"` in each route file, joined to its mount path. */
function apiRoutes(): Route[] {
  const routes: Route[] = [];
  for (const file of readdirSync(API_DIR)) {
    const mount = MOUNTS[file];
    if (mount === undefined) continue;
    const text = readFileSync(join(API_DIR, file), "utf8");
    const re = /router\.(get|post|put|patch|delete)\(\s*(\[[^\]]*\]|"[^"]*")/g;
    for (const m of text.matchAll(re)) {
      const paths = [...(m[2] ?? "").matchAll(/"([^"]*)"/g)].map((p) => p[1]!);
      for (const p of paths) {
        routes.push({ method: m[1]!.toUpperCase(), path: `${mount}${p === "/" ? "" : p}` });
      }
    }
  }
  return routes;
}

const BAD_IDS = ["abc", "-1", "0", "99999999999999999999999999", "1.5", "%E0%A4%A", "%00"];
const BAD_QUERIES = [
  "limit=-5",
  "limit=abc&before=xyz",
  "limit=1e309&before=-1",
  "days=-3&n=abc&page=%E0%A4%A",
  "limit[]=1&before[x]=2",
];
const BAD_BODIES = [
  "{",
  "[]",
  '"text"',
  "null",
  "123",
  '{"a":',
  JSON.stringify({
    email: 1,
    password: [],
    size: {},
    symbol: null,
    token: 5,
    code: {},
    keyId: [1],
  }),
];
const BAD_COOKIES = [
  "__Secure-warden_refresh=%E0%A4%A",
  "__Secure-warden_refresh=%",
  `__Secure-warden_refresh=${"x".repeat(5000)}`,
  "=; ;;=;__Secure-warden_refresh",
];

let w: TestWarden;
let token: string;

beforeAll(async () => {
  w = await startTestWarden({ env: TRUSTED_LOOPBACK });
  const c = new AuthClient(w, createSecrets());
  const u = c.as(freshIp());
  const { accessToken } = await u.signedUp("fuzz");
  token = accessToken;
});
afterAll(async () => {
  await w?.stop();
});

describe("route fuzzer", () => {
  it("when every API route gets malformed cookies, query strings, path ids and bodies, signed out and signed in, then none answers 5xx", async () => {
    const routes = apiRoutes();
    expect(routes.length).toBeGreaterThan(35);
    const failures: string[] = [];
    const send = async (
      method: string,
      path: string,
      opts: { body?: string; cookie?: string; auth?: boolean },
    ) => {
      const res = await fetch(`${w.base}${path}`, {
        method,
        headers: {
          "content-type": "application/json",
          origin: w.origin,
          "x-forwarded-for": freshIp(),
          ...(opts.auth ? { authorization: `Bearer ${token}` } : {}),
          ...(opts.cookie ? { cookie: opts.cookie } : {}),
        },
        body: method === "GET" || method === "HEAD" ? undefined : opts.body,
      });
      const text = await res.text();
      if (res.status >= 500)
        failures.push(
          `${res.status} ${method} ${path} ${opts.auth ? "(signed in)" : ""} ${opts.cookie ? `cookie ${opts.cookie.slice(0, 40)}` : ""} body ${String(opts.body).slice(0, 40)} → ${text.slice(0, 120)}`,
        );
    };
    for (const r of routes) {
      const paths = r.path.includes(":")
        ? BAD_IDS.map((id) => r.path.replace(/:[a-zA-Z]+/g, id))
        : [r.path];
      for (const auth of [false, true]) {
        for (const p of paths) {
          for (const q of BAD_QUERIES) await send(r.method, `${p}?${q}`, { auth, body: "{}" });
          for (const body of BAD_BODIES) await send(r.method, p, { auth, body });
        }
        for (const cookie of BAD_COOKIES)
          await send(r.method, paths[0]!, { auth, cookie, body: "{}" });
      }
    }
    expect(failures).toEqual([]);
  }, 240_000);
});
