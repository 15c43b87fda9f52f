// The BreachChecker port on Have-I-Been-Pwned's range API (S2.3): k-anonymity, so only the
// first 5 hex characters of the password's SHA-1 ever leave the process.
import { createHash } from "node:crypto";
import { type BreachChecker, BreachCheckUnavailable } from "../domain/accounts/password";

export const HIBP_DEFAULT_API_URL = "https://api.pwnedpasswords.com";
export const HIBP_DEFAULT_TIMEOUT_MS = 2000;

export interface HibpOptions {
  /** HIBP_API_URL; tests point it at test/support/hibp/server.ts. */
  apiUrl?: string;
  timeoutMs?: number;
  fetch?: typeof globalThis.fetch;
}

export function createHibpChecker(opts: HibpOptions = {}): BreachChecker {
  const apiUrl = (opts.apiUrl ?? HIBP_DEFAULT_API_URL).replace(/\/+$/, "");
  const timeoutMs = opts.timeoutMs ?? HIBP_DEFAULT_TIMEOUT_MS;
  const fetchFn = opts.fetch ?? globalThis.fetch;

  return {
    async timesBreached(password) {
      const sha1 = createHash("sha1").update(password, "utf8").digest("hex").toUpperCase();
      const prefix = sha1.slice(0, 5);
      const suffix = sha1.slice(5);
      // One signal for the whole exchange: a server that sends headers promptly and then
      // trickles the body must also hit the 2 s limit.
      const signal = AbortSignal.timeout(timeoutMs);
      let body: string;
      try {
        const res = await fetchFn(`${apiUrl}/range/${prefix}`, {
          headers: { "Add-Padding": "true", "User-Agent": "warden-password-check" },
          signal,
        });
        if (res.status !== 200) {
          await res.body?.cancel().catch(() => {});
          throw new BreachCheckUnavailable(`HIBP range API answered HTTP ${res.status}`);
        }
        body = await res.text();
      } catch (err) {
        if (err instanceof BreachCheckUnavailable) throw err;
        // Messages name neither the URL (it holds the prefix) nor anything about the password.
        if (signal.aborted) {
          throw new BreachCheckUnavailable(`HIBP range API did not answer within ${timeoutMs} ms`);
        }
        throw new BreachCheckUnavailable("HIBP range API could not be reached", { cause: err });
      }
      return countIn(body, suffix);
    },
  };
}

/** The count of the suffix's `SUFFIX:COUNT` line; 0 when absent or padding (count 0). */
function countIn(body: string, suffix: string): number {
  let found = 0;
  for (const line of body.split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const count = Number.parseInt(line.slice(colon + 1).trim(), 10);
    if (!(count > 0)) continue;
    // Not a secret comparison: both sides are public hash fragments, and the prefix is sent.
    if (line.slice(0, colon).trim().toUpperCase() === suffix) found = count;
  }
  return found;
}
