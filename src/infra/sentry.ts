// Error reports to Sentry (enabled by SENTRY_DSN). Every event passes through the shared
// scrubber before it leaves the process (S1.4), stack-frame local variables included.
import * as inspector from "node:inspector";
import * as Sentry from "@sentry/node";
import type { Logger } from "./logger";
import { isSensitiveKey, type Scrubber } from "./scrub";

export interface ReportContext {
  /** Which face saw the error: api, bot, worker, signer or the process itself. */
  source: "api" | "bot" | "worker" | "signer" | "process";
  tags?: Record<string, string | number | undefined>;
  extra?: Record<string, unknown>;
}

export interface ErrorReporter {
  readonly enabled: boolean;
  /** Reports an unexpected error; never throws. */
  capture(err: unknown, context: ReportContext): void;
  /** Sends what is queued (waiting at most `timeoutMs`) and stops reporting. */
  close(timeoutMs?: number): Promise<void>;
}

export const noErrorReporter: ErrorReporter = {
  enabled: false,
  capture: () => {},
  close: async () => {},
};

/**
 * Functions inside which plaintext credentials live (S1.3). Local variables of any frame of an
 * exception thrown there may hold key material under any name, so such an exception keeps its
 * frames but loses every frame's variables.
 */
const PLAINTEXT_SCOPES = ["withDecryptedExchangeKeys"];

type AnyEvent = Sentry.Event;

function passesThroughPlaintextScope(frames: Sentry.StackFrame[]): boolean {
  return frames.some((f) => PLAINTEXT_SCOPES.some((name) => f.function?.includes(name)));
}

/** A request body or query string as sent: JSON or form-encoded text, scrubbed by key. */
function scrubEncoded(text: string, scrubber: Scrubber): string {
  const trimmed = text.trim();
  if (trimmed.startsWith("{") || trimmed.startsWith("[")) {
    try {
      return JSON.stringify(scrubber.scrub(JSON.parse(trimmed)));
    } catch {
      // not JSON after all: fall through to the text rules
    }
  }
  if (/^[^=&\s]+=[^&]*(&[^=&\s]+=[^&]*)*$/.test(trimmed)) {
    const params = new URLSearchParams(trimmed);
    const out = new URLSearchParams();
    for (const [k, v] of params) {
      out.append(k, isSensitiveKey(k) ? "[redacted]" : scrubber.scrubString(v));
    }
    return out.toString();
  }
  return scrubber.scrubString(text);
}

function scrubUrl(url: string, scrubber: Scrubber): string {
  const q = url.indexOf("?");
  if (q < 0) return scrubber.scrubString(url);
  return `${scrubber.scrubString(url.slice(0, q))}?${scrubEncoded(url.slice(q + 1), scrubber)}`;
}

/**
 * The whole event through the scrubber: request (url, query, headers, cookies, body), extra,
 * contexts, tags, breadcrumbs, messages, exception values and every frame's variables.
 * `sdkProcessingMetadata` is the SDK's own bookkeeping (live scope objects); it is never sent,
 * so it is passed through untouched.
 */
export function scrubEvent<T extends AnyEvent>(event: T, scrubber: Scrubber): T {
  const { sdkProcessingMetadata, ...rest } = event;
  for (const ex of rest.exception?.values ?? []) {
    const frames = ex.stacktrace?.frames ?? [];
    if (passesThroughPlaintextScope(frames)) {
      for (const f of frames) delete f.vars;
    }
  }
  const request = rest.request;
  if (request) {
    if (typeof request.data === "string") request.data = scrubEncoded(request.data, scrubber);
    if (typeof request.query_string === "string") {
      request.query_string = scrubEncoded(request.query_string, scrubber);
    }
    if (typeof request.url === "string") request.url = scrubUrl(request.url, scrubber);
  }
  for (const crumb of rest.breadcrumbs ?? []) {
    const url = crumb.data?.url;
    if (typeof url === "string" && crumb.data) crumb.data.url = scrubUrl(url, scrubber);
  }
  const clean = scrubber.scrub(rest) as T;
  if (sdkProcessingMetadata !== undefined) clean.sdkProcessingMetadata = sdkProcessingMetadata;
  return clean;
}

export interface ErrorReporterOptions {
  dsn: string | undefined;
  environment: string;
  release?: string;
  roles: readonly string[];
  scrubber: Scrubber;
  logger: Logger;
}

/**
 * Starts the Sentry SDK when a DSN is configured. The SDK is process-global: call this once,
 * from the composition root.
 */
export function createErrorReporter(opts: ErrorReporterOptions): ErrorReporter {
  if (opts.dsn === undefined) return noErrorReporter;
  const { scrubber } = opts;
  // The DSN holds the project's key: never logged, and redacted wherever it might appear.
  scrubber.addSecret(opts.dsn);
  const inspectorWasOpen = inspector.url() !== undefined;
  const client = Sentry.init({
    dsn: opts.dsn,
    environment: opts.environment,
    release: opts.release,
    // No IP addresses, cookies or user data; request bodies are not read at all.
    sendDefaultPii: false,
    // Variables of the throwing frames, scrubbed by name in beforeSend (S1.4).
    includeLocalVariables: true,
    // Errors only: no tracing, so no loader hooks patching our modules.
    registerEsmLoaderHooks: false,
    integrations: (defaults) => [
      // Our own process handlers (src/main.ts) log scrubbed, report and stop; the SDK's print
      // the raw error to the console and keep running after a rejected promise. Whatever
      // libraries print to the console does not become breadcrumbs.
      ...defaults.filter(
        (i) =>
          i.name !== "OnUncaughtException" &&
          i.name !== "OnUnhandledRejection" &&
          i.name !== "Console",
      ),
      Sentry.httpIntegration({ maxIncomingRequestBodySize: "none", spans: false }),
      // Caught exceptions too: Express, grammY and BullMQ catch what our handlers throw.
      Sentry.localVariablesIntegration({ captureAllExceptions: true }),
    ],
    beforeSend: (event) => scrubEvent(event, scrubber),
    beforeSendTransaction: (event) => scrubEvent(event, scrubber),
    beforeBreadcrumb: (crumb) => scrubber.scrub(crumb) as Sentry.Breadcrumb,
    initialScope: { tags: { roles: opts.roles.join(",") } },
  });
  if (!inspectorWasOpen) closeInspectorWhenAttached();
  opts.logger.info({ host: safeHost(opts.dsn) }, "error reports go to Sentry");

  let closed = false;
  return {
    enabled: true,
    capture(err, context) {
      if (closed) return;
      try {
        Sentry.withScope((scope) => {
          scope.setTag("source", context.source);
          for (const [k, v] of Object.entries(context.tags ?? {})) {
            if (v !== undefined) scope.setTag(k, v);
          }
          if (context.extra) scope.setExtras(context.extra);
          Sentry.captureException(err);
        });
      } catch (reportErr) {
        opts.logger.warn({ err: reportErr }, "could not report an error to Sentry");
      }
    },
    async close(timeoutMs = 2_000) {
      if (closed) return;
      closed = true;
      const flushed = await (client?.close(timeoutMs) ?? Promise.resolve(true));
      if (!flushed) opts.logger.warn("some error reports were not sent before shutdown");
    },
  };
}

/**
 * The SDK opens the V8 inspector on a TCP port (127.0.0.1, random) so that its worker thread
 * can attach to the main thread. Anyone on the host who can reach that port could run code in
 * this process, and the worker does not need it once attached (connectToMainThread is
 * in-process), so it is closed again as soon as the SDK has opened it.
 */
function closeInspectorWhenAttached(): void {
  const timer = setInterval(() => {
    if (inspector.url() === undefined) return;
    clearInterval(timer);
    inspector.close();
  }, 10);
  timer.unref();
  setTimeout(() => clearInterval(timer), 10_000).unref();
}

function safeHost(dsn: string): string {
  try {
    return new URL(dsn).host;
  } catch {
    return "?";
  }
}
