// Transport and browser hardening (S9.1): helmet configured explicitly (no library defaults we
// have not read), a locked-down Permissions-Policy, and the CSP violation report endpoint.
import express, { type RequestHandler, Router } from "express";
import helmet from "helmet";
import type { Logger } from "../infra/logger";

/**
 * Where browsers send CSP violation reports. The policy names it with `report-uri` only: in
 * Chromium a policy that also has `report-to` ignores `report-uri` and hands reports to the
 * Reporting API, which batches them for up to a minute (in our headless runs it never sent
 * them), and Firefox has no `report-to` at all. The endpoint still accepts the Reporting API's
 * `application/reports+json` batches, so adding `report-to` later needs no server change.
 */
export const CSP_REPORT_PATH = "/api/csp-report";

/**
 * Telegram's web clients, which embed a Mini App in an iframe. Only the Mini App route allows
 * them as frame ancestors; every other page refuses all framing.
 */
export const TELEGRAM_FRAME_ANCESTORS = [
  "https://web.telegram.org",
  "https://webk.telegram.org",
  "https://webz.telegram.org",
] as const;

/** Every powerful feature off: the pages need none of them. */
export const PERMISSIONS_POLICY = [
  "accelerometer=()",
  "autoplay=()",
  "bluetooth=()",
  "camera=()",
  "display-capture=()",
  "encrypted-media=()",
  "fullscreen=()",
  "geolocation=()",
  "gyroscope=()",
  "hid=()",
  "idle-detection=()",
  "magnetometer=()",
  "microphone=()",
  "midi=()",
  "payment=()",
  "picture-in-picture=()",
  "publickey-credentials-get=()",
  "screen-wake-lock=()",
  "serial=()",
  "usb=()",
  "xr-spatial-tracking=()",
].join(", ");

function cspDirectives(frameAncestors: readonly string[]) {
  return {
    defaultSrc: ["'self'"],
    scriptSrc: ["'self'"],
    styleSrc: ["'self'"],
    // The 2FA QR code is a PNG data: URL; images cannot run code.
    imgSrc: ["'self'", "data:"],
    // 'self' covers the same-origin WebSocket (ws:/wss:) in CSP Level 3 browsers.
    connectSrc: ["'self'"],
    fontSrc: ["'self'"],
    objectSrc: ["'none'"],
    baseUri: ["'none'"],
    frameAncestors: frameAncestors.length > 0 ? [...frameAncestors] : ["'none'"],
    formAction: ["'self'"],
    reportUri: [CSP_REPORT_PATH],
  };
}

function helmetWith(opts: { frameAncestors: readonly string[]; frameDeny: boolean }) {
  return helmet({
    contentSecurityPolicy: { useDefaults: false, directives: cspDirectives(opts.frameAncestors) },
    strictTransportSecurity: { maxAge: 63_072_000, includeSubDomains: true, preload: true },
    xFrameOptions: opts.frameDeny ? { action: "deny" } : false,
    referrerPolicy: { policy: "strict-origin-when-cross-origin" },
    crossOriginOpenerPolicy: { policy: "same-origin" },
    crossOriginResourcePolicy: { policy: "same-origin" },
    // Would block the data: QR image in some browsers for no gain: every asset is same-origin.
    crossOriginEmbedderPolicy: false,
    originAgentCluster: true,
    xContentTypeOptions: true,
    xDnsPrefetchControl: { allow: false },
    xDownloadOptions: true,
    xPermittedCrossDomainPolicies: { permittedPolicies: "none" },
    xXssProtection: true,
  });
}

/**
 * The headers of every response (pages, API, errors). `miniAppPaths` are the Telegram Mini App
 * entry points: Telegram Web frames them, so they get its origins as frame-ancestors and no
 * X-Frame-Options (which cannot express an allow-list).
 */
export function securityHeaders(opts: { miniAppPaths?: readonly string[] } = {}): RequestHandler {
  const strict = helmetWith({ frameAncestors: [], frameDeny: true });
  const framed = helmetWith({ frameAncestors: TELEGRAM_FRAME_ANCESTORS, frameDeny: false });
  const miniApp = new Set(opts.miniAppPaths ?? []);
  return (req, res, next) => {
    res.setHeader("Permissions-Policy", PERMISSIONS_POLICY);
    (miniApp.has(req.path) ? framed : strict)(req, res, next);
  };
}

/** One violation as logged: the fields of a CSP report that say what was blocked where. */
export interface CspViolation {
  documentUri: string | null;
  effectiveDirective: string | null;
  blockedUri: string | null;
  sourceFile: string | null;
  lineNumber: number | null;
  disposition: string | null;
}

const str = (v: unknown) => (typeof v === "string" ? v.slice(0, 512) : null);
const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : null);

/** Accepts `application/csp-report` (report-uri) and `application/reports+json` (report-to). */
export function parseCspReports(body: unknown): CspViolation[] {
  const items: unknown[] = Array.isArray(body) ? body : [body];
  const out: CspViolation[] = [];
  for (const item of items.slice(0, 20)) {
    if (typeof item !== "object" || item === null) continue;
    const legacy = (item as { "csp-report"?: unknown })["csp-report"];
    if (typeof legacy === "object" && legacy !== null) {
      const r = legacy as Record<string, unknown>;
      out.push({
        documentUri: str(r["document-uri"]),
        effectiveDirective: str(r["effective-directive"] ?? r["violated-directive"]),
        blockedUri: str(r["blocked-uri"]),
        sourceFile: str(r["source-file"]),
        lineNumber: num(r["line-number"]),
        disposition: str(r.disposition),
      });
      continue;
    }
    const { type, body: b } = item as { type?: unknown; body?: unknown };
    if (type !== "csp-violation" || typeof b !== "object" || b === null) continue;
    const r = b as Record<string, unknown>;
    out.push({
      documentUri: str(r.documentURL),
      effectiveDirective: str(r.effectiveDirective),
      blockedUri: str(r.blockedURL),
      sourceFile: str(r.sourceFile),
      lineNumber: num(r.lineNumber),
      disposition: str(r.disposition),
    });
  }
  return out;
}

/**
 * POST /api/csp-report: logs each violation at warn level and answers 204. Anyone can post here,
 * so at most `maxPerMinute` violations are logged per minute (per process); the rest are counted
 * and summed up in one line when the next minute starts.
 */
export function cspReportRoutes(deps: {
  logger: Logger;
  maxPerMinute?: number;
  now?: () => number;
}): Router {
  const router = Router();
  const max = deps.maxPerMinute ?? 120;
  const now = deps.now ?? Date.now;
  let minute = 0;
  let logged = 0;
  let dropped = 0;
  const admit = (): boolean => {
    const current = Math.floor(now() / 60_000);
    if (current !== minute) {
      if (dropped > 0) deps.logger.warn({ dropped }, "csp violation reports dropped (flood)");
      minute = current;
      logged = 0;
      dropped = 0;
    }
    if (logged >= max) {
      dropped += 1;
      return false;
    }
    logged += 1;
    return true;
  };
  router.post(
    "/",
    express.json({
      limit: "16kb",
      type: ["application/csp-report", "application/reports+json", "application/json"],
    }),
    (req, res) => {
      const violations = parseCspReports(req.body);
      for (const v of violations) {
        if (admit()) deps.logger.warn({ csp: v }, "csp violation reported");
      }
      res.setHeader("Cache-Control", "no-store");
      res.status(204).end();
    },
  );
  return router;
}
