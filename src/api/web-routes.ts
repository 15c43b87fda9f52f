// The api role's web pages: the settings page (also the Telegram Mini App), the password reset
// page, /security and /.well-known/security.txt (RFC 9116). The pages' TypeScript is bundled
// once at start-up by esbuild into static scripts: no inline script or style anywhere.
import { readFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { build } from "esbuild";
import { type Response, Router } from "express";

const WEB_DIR = join(import.meta.dirname, "..", "web");

/** Bundled entry points: /assets/<name>.js. */
const ENTRY_POINTS = {
  settings: "settings/main.ts",
  reset: "reset/main.ts",
  confirm: "confirm/main.ts",
  sandbox: "sandbox/main.ts",
} as const;

export interface Asset {
  body: Buffer;
  contentType: string;
}

export interface WebAssets {
  /** /assets/<file> → content. */
  assets: Map<string, Asset>;
  pages: { settings: string; reset: string; confirm: string; security: string; sandbox: string };
}

/** Bundles the pages' scripts and reads their HTML and CSS. */
export async function buildWebAssets(): Promise<WebAssets> {
  const result = await build({
    entryPoints: Object.fromEntries(
      Object.entries(ENTRY_POINTS).map(([name, path]) => [name, join(WEB_DIR, path)]),
    ),
    bundle: true,
    write: false,
    format: "esm",
    platform: "browser",
    target: ["es2022"],
    minify: true,
    legalComments: "none",
    outdir: "/assets",
    logLevel: "silent",
  });
  const assets = new Map<string, Asset>();
  for (const file of result.outputFiles) {
    assets.set(basename(file.path), {
      body: Buffer.from(file.contents),
      contentType: "text/javascript; charset=utf-8",
    });
  }
  assets.set("warden.css", {
    body: await readFile(join(WEB_DIR, "shared", "warden.css")),
    contentType: "text/css; charset=utf-8",
  });
  const html = (path: string) => readFile(join(WEB_DIR, path), "utf8");
  return {
    assets,
    pages: {
      settings: await html("settings/index.html"),
      reset: await html("reset/index.html"),
      confirm: await html("confirm/index.html"),
      security: await html("security.html"),
      sandbox: await html("sandbox/index.html"),
    },
  };
}

export interface SecurityTxt {
  /** Contact URIs (mailto:, https:, tel:). */
  contacts: string[];
  expires: Date;
  policyUrl: string;
  languages: string[];
  canonicalUrl: string;
}

/** RFC 9116 §2.5: one field per line, CRLF not required; Expires in RFC 3339 UTC. */
export function renderSecurityTxt(t: SecurityTxt): string {
  return [
    ...t.contacts.map((c) => `Contact: ${c}`),
    `Expires: ${t.expires.toISOString().replace(/\.\d{3}Z$/, "Z")}`,
    `Policy: ${t.policyUrl}`,
    `Preferred-Languages: ${t.languages.join(", ")}`,
    `Canonical: ${t.canonicalUrl}`,
    "",
  ].join("\n");
}

const escapeHtml = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c,
  );

/** The Mini App entry (Telegram Web may frame it; see security-headers.ts). */
export const MINI_APP_PATH = "/settings/telegram";

function sendHtml(res: Response, html: string) {
  res.setHeader("Content-Type", "text/html; charset=utf-8");
  res.setHeader("Cache-Control", "no-store");
  res.send(html);
}

export function createWebRoutes(deps: { web: WebAssets; securityTxt: SecurityTxt }): Router {
  const { web } = deps;
  const router = Router();
  const txt = renderSecurityTxt(deps.securityTxt);
  const security = web.pages.security
    .replace("{{CONTACT}}", escapeHtml(deps.securityTxt.contacts.join(", ")))
    .replace("{{LANGUAGES}}", escapeHtml(deps.securityTxt.languages.join(", ")));

  router.get("/", (_req, res) => res.redirect(302, "/settings"));
  router.get(["/settings", MINI_APP_PATH], (_req, res) => sendHtml(res, web.pages.settings));
  router.get("/reset-password", (_req, res) => {
    // The token is in the fragment, but a page holding one never sends a Referer at all.
    res.setHeader("Referrer-Policy", "no-referrer");
    sendHtml(res, web.pages.reset);
  });
  router.get("/confirm-email", (_req, res) => {
    res.setHeader("Referrer-Policy", "no-referrer");
    sendHtml(res, web.pages.confirm);
  });
  router.get("/security", (_req, res) => sendHtml(res, security));
  router.get("/.well-known/security.txt", (_req, res) => {
    res.setHeader("Content-Type", "text/plain; charset=utf-8");
    res.setHeader("Cache-Control", "max-age=86400");
    res.send(txt);
  });
  router.get("/assets/:file", (req, res, next) => {
    const asset = web.assets.get(String(req.params.file));
    if (!asset || req.params.file === "sandbox.js") return next();
    res.setHeader("Content-Type", asset.contentType);
    res.setHeader("Cache-Control", "no-cache");
    res.send(asset.body);
  });
  return router;
}
