// createApi: the Express app of the api role. Listening is separate (tests listen on port 0).
import express, {
  type ErrorRequestHandler,
  type Request,
  type RequestHandler,
  type Router,
} from "express";
import { safeEqual } from "../domain/shared/safe-equal";
import type { Logger } from "../infra/logger";
import { isServiceUnavailable } from "../infra/unavailable";
import { CSP_REPORT_PATH, cspReportRoutes, securityHeaders } from "./security-headers";

export const UNAVAILABLE_BODY = {
  error: "unavailable",
  message: "Warden is briefly unavailable. Please try again in a moment.",
} as const;

export type HealthCheck = () => Promise<void>;

export interface ApiDeps {
  logger: Logger;
  /** Named dependency checks for /readyz; each throws (or times out) when its service is down. */
  readiness: Record<string, HealthCheck>;
  trustedProxies: string[];
  /** Wraps every request, e.g. in an ORM RequestContext. */
  around?: RequestHandler;
  telegramWebhook?: { path: string; secret: string; handler: RequestHandler };
  /** Feature routers, mounted under their paths (e.g. /api/auth). */
  routes?: Array<{ path: string; router: Router }>;
  /** Unexpected errors (answered 500) go here too, e.g. to the error reporter. */
  reportError?: (err: unknown, req: Request) => void;
  /** Web pages and their assets (settings, reset, /security, security.txt, the sandbox). */
  pages?: Router[];
  /** Telegram Mini App entry points: Telegram Web may frame these (security-headers.ts). */
  miniAppPaths?: readonly string[];
}

const READY_TIMEOUT_MS = 2_000;

function withTimeout(check: HealthCheck, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    check().then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      (err) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

export function createApi(deps: ApiDeps): express.Express {
  const app = express();
  app.disable("x-powered-by");
  // S3.3: X-Forwarded-For is believed only from the configured proxies.
  app.set("trust proxy", deps.trustedProxies.length > 0 ? deps.trustedProxies : false);
  // S9.1: first, so every response carries them: pages, API, 404s and errors alike.
  app.use(securityHeaders({ miniAppPaths: deps.miniAppPaths }));
  app.use(CSP_REPORT_PATH, cspReportRoutes({ logger: deps.logger }));

  app.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });

  app.get("/readyz", async (_req, res) => {
    const entries = await Promise.all(
      Object.entries(deps.readiness).map(async ([name, check]) => {
        try {
          await withTimeout(check, READY_TIMEOUT_MS);
          return [name, "ok"] as const;
        } catch (err) {
          deps.logger.warn({ dependency: name, err }, "readiness check failed");
          return [name, "down"] as const;
        }
      }),
    );
    const checks = Object.fromEntries(entries);
    const down = entries.filter(([, s]) => s !== "ok").map(([n]) => n);
    res.setHeader("Cache-Control", "no-store");
    if (down.length === 0) {
      res.json({ status: "ready", checks });
    } else {
      res.status(503).json({ status: "unavailable", down, checks });
    }
  });

  if (deps.telegramWebhook) {
    const { path, secret, handler } = deps.telegramWebhook;
    // S6.3: Telegram proves itself with the secret token header; anything else is refused
    // before the update is parsed.
    app.post(
      path,
      (req, res, next) => {
        const header = req.get("X-Telegram-Bot-Api-Secret-Token");
        if (header === undefined || !safeEqual(header, secret)) {
          res
            .status(401)
            .json({ error: "unauthorized", message: "Missing or wrong secret token." });
          return;
        }
        next();
      },
      express.json({ limit: "1mb" }),
      handler,
    );
  }

  for (const pages of deps.pages ?? []) app.use(pages);
  if (deps.around) app.use(deps.around);
  for (const { path, router } of deps.routes ?? []) app.use(path, router);
  app.use(express.json({ limit: "100kb" }));

  app.use((req, res) => {
    // A browser asking for a page gets a small page; API clients keep the JSON error.
    const browser =
      req.method === "GET" &&
      !req.path.startsWith("/api/") &&
      req.accepts(["json", "html"]) === "html";
    if (browser) {
      res.status(404).type("html").setHeader("Cache-Control", "no-store");
      res.send(NOT_FOUND_PAGE);
      return;
    }
    res.status(404).json({ error: "not_found", message: "No such endpoint." });
  });

  const onError: ErrorRequestHandler = (err, req, res, _next) => {
    if (isServiceUnavailable(err)) {
      // PostgreSQL or Redis is briefly away (a restart, a failover): the client may retry; no
      // error report for each request of the outage, one log line each.
      deps.logger.warn({ err, method: req.method, path: req.path }, "dependency unavailable");
      if (res.headersSent) return;
      res.set("Retry-After", "2");
      res.status(503).json(UNAVAILABLE_BODY);
      return;
    }
    const status = typeof err?.status === "number" && err.status < 500 ? err.status : 500;
    if (status >= 500) {
      deps.logger.error({ err, method: req.method, path: req.path }, "request failed");
      deps.reportError?.(err, req);
    }
    if (res.headersSent) return;
    if (status === 400 && err?.type === "entity.parse.failed") {
      res
        .status(400)
        .json({ error: "invalid_json", message: "The request body is not valid JSON." });
      return;
    }
    if (status === 413) {
      res.status(413).json({ error: "too_large", message: "The request body is too large." });
      return;
    }
    res
      .status(status)
      .json(
        status >= 500
          ? { error: "internal", message: "Something went wrong. Please try again." }
          : { error: "bad_request", message: "The request could not be processed." },
      );
  };
  app.use(onError);
  return app;
}

const NOT_FOUND_PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Warden — page not found</title>
  <link rel="stylesheet" href="/assets/warden.css">
</head>
<body>
  <header class="bar"><span class="brand">Warden</span></header>
  <main>
    <section>
      <h1>Page not found</h1>
      <p>There is no page at this address.</p>
      <p><a href="/settings">Go to your settings</a></p>
    </section>
  </main>
</body>
</html>
`;
