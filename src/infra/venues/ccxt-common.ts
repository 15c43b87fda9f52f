// What every ccxt adapter shares: rebasing a client's API URLs onto a configured origin (tests,
// testnets), and turning ccxt's errors into Warden's VenueError without echoing the request.
import ccxt from "ccxt";
import { VenueError } from "../../domain/venues/types";

type UrlTree = string | { [key: string]: UrlTree };

/** Every URL in `api` with its origin replaced by `origin` (path and query kept). */
export function rebaseUrls(api: UrlTree, origin: string): UrlTree {
  if (typeof api === "string") {
    try {
      const u = new URL(api);
      return `${origin.replace(/\/+$/, "")}${u.pathname === "/" ? "" : u.pathname}${u.search}`;
    } catch {
      return api;
    }
  }
  return Object.fromEntries(Object.entries(api).map(([k, v]) => [k, rebaseUrls(v, origin)]));
}

/**
 * Maps a ccxt error to a VenueError. ccxt messages often contain the request URL or body (with
 * signatures), so the message shown is ours; the venue's own short code is kept when present.
 */
export function toVenueError(err: unknown, venue: string): VenueError {
  if (err instanceof VenueError) return err;
  const name = err instanceof Error ? err.constructor.name : "Error";
  if (err instanceof ccxt.RateLimitExceeded || err instanceof ccxt.DDoSProtection) {
    return new VenueError("rate_limited", `${venue} is rate-limiting requests; try again shortly.`);
  }
  if (err instanceof ccxt.AuthenticationError) {
    return new VenueError(
      "invalid_key",
      `${venue} rejected this key (invalid key, signature or IP).`,
    );
  }
  if (err instanceof ccxt.PermissionDenied) {
    return new VenueError(
      "permission_denied",
      `${venue} says this key lacks a permission for that.`,
    );
  }
  if (err instanceof ccxt.InsufficientFunds) {
    return new VenueError("insufficient_funds", `${venue}: insufficient margin for this order.`);
  }
  if (err instanceof ccxt.BadSymbol) {
    return new VenueError("unknown_symbol", `${venue} does not list that symbol.`);
  }
  if (err instanceof ccxt.InvalidOrder) {
    return new VenueError("invalid_order", `${venue} refused the order as invalid.`);
  }
  if (err instanceof ccxt.NetworkError) {
    return new VenueError("network", `${venue} could not be reached; try again shortly.`);
  }
  if (err instanceof ccxt.ExchangeError) {
    return new VenueError("venue_error", `${venue} refused the request.`);
  }
  return new VenueError("venue_error", `${venue}: unexpected ${name}.`, false);
}

/** Options every adapter passes to its ccxt client. Never `verbose`: it would print keys. */
export const CCXT_BASE_OPTIONS = { enableRateLimit: true, timeout: 15_000 } as const;
