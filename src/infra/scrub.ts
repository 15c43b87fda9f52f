// The one scrubber for logs and error reports (S1.4): removes values by key name, masks
// secret-looking substrings in free text, and redacts any secret value registered at start-up.

const REDACTED = "[redacted]";

/** Key-name fragments (compared without `_`/`-` and case) whose values are never shown. */
const SENSITIVE_KEY_FRAGMENTS = [
  "apikey",
  "secret",
  "token",
  "privatekey",
  "password",
  "passphrase",
  "otp",
  "cookie",
  "authorization",
  "signature",
  "masterkey",
  "pepper",
  "backupcode",
  "mnemonic",
  "seed",
  "dsn",
  "ticket",
  "challenge",
  // Request payloads echoed by client errors (grammY's GrammyError.payload, …).
  "payload",
];

/**
 * Keys left out of every scrubbed copy. Sentry's local-variable capture stores the variables of
 * the throwing frames on the error object itself under this key; a log line must not carry them
 * (error reports get them through the SDK, scrubbed by name).
 */
const OMITTED_KEYS = new Set(["__SENTRY_ERROR_LOCAL_VARIABLES__"]);

export function isSensitiveKey(key: string): boolean {
  const k = key.toLowerCase().replace(/[_-]/g, "");
  return SENSITIVE_KEY_FRAGMENTS.some((f) => k.includes(f));
}

// Free-text patterns: query/form parameters and headers that carry secrets, bearer tokens,
// JWTs, Telegram bot tokens (also inside /bot<token>/ URLs), Fernet tokens, PEM keys and
// 32-byte hex private keys.
const TEXT_PATTERNS: Array<[RegExp, string]> = [
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g, REDACTED],
  [
    /\b((?:api[_-]?key|apikey|secret|token|password|passphrase|signature|private[_-]?key|otp|sign|ticket|challenge)\s*["']?\s*[=:]\s*["']?)[^&\s"',;}]+/gi,
    `$1${REDACTED}`,
  ],
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, `$1 ${REDACTED}`],
  [
    /\b(X-MBX-APIKEY|X-BAPI-API-KEY|X-BAPI-SIGN|Cookie|Set-Cookie)(\s*[:=]\s*)[^\r\n,}]+/gi,
    `$1$2${REDACTED}`,
  ],
  [/\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g, REDACTED],
  [/(?<![0-9])\d{5,}:[A-Za-z0-9_-]{30,}/g, REDACTED],
  [/\bgAAAAA[A-Za-z0-9_=-]{20,}/g, REDACTED],
  [/\b(0x)?[0-9a-fA-F]{64}\b/g, REDACTED],
];

export interface Scrubber {
  /** Deep copy of `value` with sensitive keys and secret-looking text redacted. */
  scrub(value: unknown): unknown;
  scrubString(text: string): string;
  /** Redact this exact value wherever it appears from now on (config secrets, bot token). */
  addSecret(value: string | undefined): void;
}

const MAX_DEPTH = 12;

export function createScrubber(knownSecrets: Array<string | undefined> = []): Scrubber {
  // Longest first so a secret that contains another is removed whole.
  let secrets: string[] = [];
  const addSecret = (value: string | undefined) => {
    if (value === undefined || value.length < 8 || secrets.includes(value)) return;
    secrets = [...secrets, value].sort((a, b) => b.length - a.length);
  };
  for (const s of knownSecrets) addSecret(s);

  const scrubString = (text: string): string => {
    let out = text;
    for (const s of secrets) if (out.includes(s)) out = out.split(s).join(REDACTED);
    for (const [re, replacement] of TEXT_PATTERNS) out = out.replace(re, replacement);
    return out;
  };

  const scrubValue = (value: unknown, depth: number, seen: WeakSet<object>): unknown => {
    if (typeof value === "string") return scrubString(value);
    if (value === null || typeof value !== "object") {
      return typeof value === "function" || typeof value === "symbol" ? undefined : value;
    }
    if (seen.has(value)) return "[circular]";
    if (depth >= MAX_DEPTH) return "[too deep]";
    seen.add(value);
    try {
      if (Buffer.isBuffer(value) || ArrayBuffer.isView(value) || value instanceof ArrayBuffer) {
        return "[binary]";
      }
      if (value instanceof Date) return value.toISOString();
      if (Array.isArray(value)) return value.map((v) => scrubValue(v, depth + 1, seen));
      if (value instanceof Map) {
        return scrubValue(Object.fromEntries(value), depth, seen);
      }
      const source: Record<string, unknown> =
        value instanceof Error ? errorToObject(value) : (value as Record<string, unknown>);
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(source)) {
        if (OMITTED_KEYS.has(key)) continue;
        if (isSensitiveKey(key)) {
          out[key] = REDACTED;
          continue;
        }
        let v: unknown;
        try {
          v = source[key];
        } catch {
          v = "[unreadable]";
        }
        out[key] = scrubValue(v, depth + 1, seen);
      }
      return out;
    } finally {
      seen.delete(value);
    }
  };

  return {
    scrub: (value) => scrubValue(value, 0, new WeakSet()),
    scrubString,
    addSecret,
  };
}

function errorToObject(err: Error): Record<string, unknown> {
  const own = (err as unknown as { type?: unknown }).type;
  const out: Record<string, unknown> = {
    type: typeof own === "string" ? own : err.name,
    message: err.message,
  };
  if (err.stack) out.stack = err.stack;
  for (const key of Object.keys(err)) {
    out[key] = (err as unknown as Record<string, unknown>)[key];
  }
  if (err.cause !== undefined) out.cause = err.cause;
  return out;
}
