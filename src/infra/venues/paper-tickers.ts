// Live paper prices: the last price of Binance USD-M's public ticker for the paper symbol,
// through ccxt (no key), briefly cached. When the venue cannot be reached the paper venue falls
// back to its deterministic feed, and this says so once per outage (and once when it is back).
import ccxt from "ccxt";
import type { PaperPriceFeed } from "../../domain/venues/paper";
import type { Config } from "../config";
import type { Logger } from "../logger";
import { CCXT_BASE_OPTIONS, rebaseUrls } from "./ccxt-common";

export type PaperPricesMode = "ticker" | "feed";

export interface TickerFeedOptions {
  /** VENUE_URL_BINANCEUSDM: tests point the public ticker at a fake. */
  origin?: string;
  /** How long a price is reused (default 2 s: the trigger job runs every 5 s). */
  ttlMs?: number;
  /** After a failure, how long the deterministic feed is used before asking again (30 s). */
  retryAfterMs?: number;
  timeoutMs?: number;
  now?: () => number;
  /** Told when the ticker becomes unreachable and when it answers again. */
  report: (event: "unavailable" | "recovered", detail: string) => void;
}

export function createTickerPriceFeed(opts: TickerFeedOptions): PaperPriceFeed {
  const now = opts.now ?? Date.now;
  const ttl = opts.ttlMs ?? 2_000;
  const retryAfter = opts.retryAfterMs ?? 30_000;
  const client = new ccxt.binanceusdm({
    ...CCXT_BASE_OPTIONS,
    timeout: opts.timeoutMs ?? 5_000,
    enableRateLimit: opts.origin === undefined,
    options: { fetchCurrencies: false },
    ...(opts.origin === undefined
      ? {}
      : {
          urls: {
            api: rebaseUrls(
              new ccxt.binanceusdm().urls.api as Parameters<typeof rebaseUrls>[0],
              opts.origin,
            ),
          },
        }),
  });
  const cache = new Map<string, { price: number; at: number }>();
  const inFlight = new Map<string, Promise<number | null>>();
  /** Symbols the venue does not list: reported once, then the deterministic feed for them. */
  const unlisted = new Set<string>();
  let downSince: number | null = null;

  async function ask(symbol: string): Promise<number | null> {
    try {
      const t = await client.fetchTicker(symbol);
      const price = typeof t.last === "number" && t.last > 0 ? t.last : null;
      if (price === null) throw new Error("no last price");
      if (downSince !== null) {
        downSince = null;
        opts.report("recovered", "Binance's public ticker answers again: paper prices are live.");
      }
      cache.set(symbol, { price, at: now() });
      return price;
    } catch (err) {
      if (err instanceof ccxt.BadSymbol) {
        unlisted.add(symbol);
        opts.report(
          "unavailable",
          `Binance lists no ${symbol}: its paper price comes from the deterministic feed.`,
        );
        return null;
      }
      if (downSince === null) {
        opts.report(
          "unavailable",
          `Binance's public ticker cannot be reached (${err instanceof Error ? err.constructor.name : "error"}): paper prices come from the deterministic feed until it answers.`,
        );
      }
      downSince = now();
      return null;
    }
  }

  return async (symbol) => {
    if (unlisted.has(symbol)) return null;
    const hit = cache.get(symbol);
    if (hit && now() - hit.at < ttl) return hit.price;
    if (downSince !== null && now() - downSince < retryAfter) return null;
    let pending = inFlight.get(symbol);
    if (!pending) {
      pending = ask(symbol).finally(() => inFlight.delete(symbol));
      inFlight.set(symbol, pending);
    }
    return pending;
  };
}

/** The feed for PAPER_PRICES: live tickers, or none (the deterministic feed). */
export function paperPriceFeedFor(
  mode: PaperPricesMode,
  opts: TickerFeedOptions,
): PaperPriceFeed | undefined {
  return mode === "ticker" ? createTickerPriceFeed(opts) : undefined;
}

/** PAPER_PRICES from the config, its outages in the log (a warning; back to normal, info). */
export function paperPriceFeedFromConfig(
  config: Pick<Config, "paperPrices" | "venueUrls">,
  logger: Pick<Logger, "warn" | "info">,
): PaperPriceFeed | undefined {
  return paperPriceFeedFor(config.paperPrices, {
    origin: config.venueUrls.binanceusdm,
    report: (event, detail) =>
      event === "unavailable"
        ? logger.warn({ event: "paper_prices_unavailable" }, detail)
        : logger.info({ event: "paper_prices_recovered" }, detail),
  });
}
