// Tells a dependency that is briefly away (PostgreSQL restarting, Redis failing over, a pool
// that cannot connect) from a bug: the first is answered 503 "try again", the second 500.
// PostgreSQL's codes are its SQLSTATE classes 08 (connection exception) and 57P (operator
// intervention: admin/crash shutdown, cannot connect now); https://www.postgresql.org/docs/15/errcodes-appendix.html

const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENOTCONN",
  "EAI_AGAIN",
]);

const MESSAGES = [
  /Connection terminated/i,
  /Connection is closed/i,
  /connection timeout/i,
  /timeout exceeded when trying to connect/i,
  /Client has encountered a connection error/i,
  /the database system is (starting up|shutting down|in recovery mode)/i,
  /is not currently accepting connections/i,
  /terminating connection due to administrator command/i,
  /Reached the max retries per request limit/i,
  /Stream isn't writeable/i,
  /LOADING Redis is loading/i,
  /READONLY You can't write against a read only replica/i,
];

/** True when err (or an error it wraps) says a database or Redis could not be reached. */
export function isServiceUnavailable(err: unknown): boolean {
  const seen = new Set<unknown>();
  let current: unknown = err;
  while (current && typeof current === "object" && !seen.has(current)) {
    seen.add(current);
    const e = current as { code?: unknown; message?: unknown; name?: unknown; cause?: unknown };
    const code = typeof e.code === "string" ? e.code : "";
    if (NETWORK_CODES.has(code) || code.startsWith("08") || code.startsWith("57P")) return true;
    if (e.name === "ConnectionException" || e.name === "MaxRetriesPerRequestError") return true;
    const message = typeof e.message === "string" ? e.message : "";
    if (MESSAGES.some((re) => re.test(message))) return true;
    current = e.cause ?? (e as { previous?: unknown }).previous;
  }
  return false;
}
