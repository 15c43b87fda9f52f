// Start-up failures as one short paragraph: what went wrong, the variable to set and the fix.
// Never a stack trace; anything echoed from an error is scrubbed first.
import { ConfigError } from "../infra/config";
import { createScrubber } from "../infra/scrub";

/** A start-up failure the operator can fix: names the variable and says how. */
export class StartupError extends Error {
  constructor(
    readonly variable: string,
    readonly problem: string,
    readonly fix: string,
  ) {
    super(`${variable}: ${problem}`);
    this.name = "StartupError";
  }
}

const REDIS_HELP =
  "Install Redis (Debian/Ubuntu: `sudo apt install redis-server`; macOS: `brew install redis`; " +
  "or a container: `docker run -d -p 127.0.0.1:6379:6379 redis:7`), or set REDIS_URL to a " +
  "server you have, e.g. redis://:password@127.0.0.1:6379";

const DB_FORM = "e.g. postgres://user:password@127.0.0.1:5432/warden";

function hostOf(url: string | undefined): string {
  if (!url) return "the database";
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || "5432"}`;
  } catch {
    return "the database";
  }
}

/** The codes of an error and of the errors inside it (AggregateError, `cause`). */
function codesOf(err: unknown, depth = 0): string[] {
  if (!err || typeof err !== "object" || depth > 4) return [];
  const e = err as { code?: unknown; errors?: unknown[]; cause?: unknown };
  const own = typeof e.code === "string" ? [e.code] : [];
  const inner = [...(e.errors ?? []), e.cause].flatMap((x) => codesOf(x, depth + 1));
  return [...own, ...inner];
}

/**
 * Turns what start-up threw into a StartupError when it is a known, fixable cause; undefined
 * for anything else. `context` says which database and Redis were in use.
 */
export function explainStartupError(
  err: unknown,
  context: { databaseUrl?: string; redisUrl?: string; port?: number | string } = {},
): StartupError | undefined {
  if (err instanceof StartupError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const codes = codesOf(err);
  const db = hostOf(context.databaseUrl);
  const has = (...c: string[]) => c.some((x) => codes.includes(x));
  if ((err as { syscall?: string })?.syscall === "listen" && has("EADDRINUSE")) {
    return new StartupError(
      "PORT",
      `port ${context.port ?? ""} is already in use by another program.`,
      "Stop that program or set PORT to a free port, e.g. PORT=3001 npm start",
    );
  }
  if (/redis/i.test(message) || has("NOAUTH", "WRONGPASS")) {
    if (has("NOAUTH", "WRONGPASS") || /NOAUTH|WRONGPASS|invalid password/i.test(message)) {
      return new StartupError(
        "REDIS_URL",
        "Redis refused the credentials.",
        "Put the right password in REDIS_URL, e.g. redis://:password@host:6379",
      );
    }
  }
  if (has("28P01") || /password authentication failed/.test(message)) {
    return new StartupError(
      "DATABASE_URL",
      `PostgreSQL at ${db} refused the user name or password.`,
      `Set DATABASE_URL with a valid user and password, ${DB_FORM}`,
    );
  }
  if (has("28000") || /role ".*" does not exist|no PostgreSQL user name/.test(message)) {
    return new StartupError(
      "DATABASE_URL",
      `PostgreSQL at ${db} has no such role (user).`,
      `Set DATABASE_URL with an existing user, ${DB_FORM}, or create the role (createuser)`,
    );
  }
  if (has("3D000") || /database ".*" does not exist/.test(message)) {
    return new StartupError(
      "DATABASE_URL",
      `the database named in DATABASE_URL does not exist on ${db}.`,
      "Create it (createdb warden) or run the migrations as its owner (npm run migrate)",
    );
  }
  if (
    /does not support SSL|SSL|TLS|certificate|self[- ]signed/i.test(message) ||
    has("DEPTH_ZERO_SELF_SIGNED_CERT", "SELF_SIGNED_CERT_IN_CHAIN", "ERR_TLS_CERT_ALTNAME_INVALID")
  ) {
    return new StartupError(
      "DATABASE_SSL_CA",
      `the TLS connection to PostgreSQL at ${db} was refused or could not be verified.`,
      "Set DATABASE_SSL_CA to the server's CA bundle, or enable ssl on the server",
    );
  }
  if (has("ECONNREFUSED", "ENOTFOUND", "EHOSTUNREACH", "ETIMEDOUT", "EAI_AGAIN")) {
    return new StartupError(
      "DATABASE_URL",
      `nothing answers at ${db} (PostgreSQL is not running there or the host is wrong).`,
      `Start PostgreSQL or set DATABASE_URL to a running server, ${DB_FORM}. In development, leave DATABASE_URL unset to use the embedded database`,
    );
  }
  return undefined;
}

/** One paragraph for stderr. */
export function formatStartupError(e: StartupError, what = "Warden cannot start"): string {
  const fix = e.fix ? `\n  Fix: ${e.fix}.` : "";
  return `${what}: ${e.variable}: ${e.problem}${fix}\n`.replace(/\.\.\n/g, ".\n");
}

/** Writes the start-up failure to stderr (never a stack trace) and returns the exit code. */
export function reportStartupFailure(
  err: unknown,
  context: Parameters<typeof explainStartupError>[1],
  what = "Warden cannot start",
): number {
  const scrub = createScrubber();
  if (err instanceof ConfigError) {
    process.stderr.write(scrub.scrubString(`${what}: configuration error: ${err.message}\n`));
    return 1;
  }
  const known = explainStartupError(err, context);
  if (known) {
    process.stderr.write(scrub.scrubString(formatStartupError(known, what)));
    return 1;
  }
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(
    scrub.scrubString(`${what}: ${message.split("\n")[0]}\n  (the log above has details)\n`),
  );
  return 1;
}

export { REDIS_HELP };
