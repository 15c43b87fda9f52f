// The venue registry: one adapter per venue id, each pointed at its configured origin. A live
// venue has two adapters, mainnet and testnet; the credential's `testnet` flag picks one per
// call, so a testnet key never reaches the mainnet and its positions never mix with mainnet ones.
// With Redis, every adapter's rate-limit pauses are shared by all processes (redis-pauses.ts).
import type { Redis } from "ioredis";
import { createPaperVenue, type PaperPriceFeed } from "../../domain/venues/paper";
import type { Venue, VenueCredentials, VenueId } from "../../domain/venues/types";
import type { Config } from "../config";
import { preparedSqlOf } from "../database";
import type { Sql } from "../vault-store";
import { createBinanceUsdmVenue } from "./binanceusdm";
import { createBybitVenue } from "./bybit";
import { createHyperliquidVenue } from "./hyperliquid";
import { createPaperStore } from "./paper-store";
import { createRedisPauses } from "./redis-pauses";

type LiveVenueId = Exclude<VenueId, "paper">;
export type VenueUrls = Partial<Record<LiveVenueId, string>>;

/** The venues' own test networks (their API docs), used when no testnet URL is configured. */
export const TESTNET_ORIGINS: Record<LiveVenueId, string> = {
  // Binance USD-M Futures testnet: https://testnet.binancefuture.com (same /fapi paths).
  binanceusdm: "https://testnet.binancefuture.com",
  // Bybit V5 testnet: https://api-testnet.bybit.com (same /v5 paths).
  bybit: "https://api-testnet.bybit.com",
  // Hyperliquid testnet: https://api.hyperliquid-testnet.xyz (same /info and /exchange).
  hyperliquid: "https://api.hyperliquid-testnet.xyz",
};

/** One Venue whose every call goes to `testnet` when the credentials say so, else `mainnet`. */
export function byNetwork(mainnet: Venue, testnet: Venue): Venue {
  const pick = (creds: VenueCredentials) => (creds.testnet === true ? testnet : mainnet);
  const routed: Record<string, unknown> = { id: mainnet.id };
  for (const [name, fn] of Object.entries(mainnet)) {
    if (typeof fn !== "function") continue;
    routed[name] = (creds: VenueCredentials, ...rest: unknown[]) =>
      (pick(creds) as unknown as Record<string, (...a: unknown[]) => unknown>)[name]!(
        creds,
        ...rest,
      );
  }
  return routed as unknown as Venue;
}

export function createVenues(opts: {
  sql: Sql;
  /** VENUE_URL_*; `testnet` holds VENUE_TESTNET_URL_* (tests: a second fake of each venue). */
  urls: VenueUrls & { testnet?: VenueUrls };
  /** Live paper prices (PAPER_PRICES=ticker); without it, the deterministic feed. */
  paperPrices?: PaperPriceFeed;
  /**
   * The app's Redis client (its keyPrefix set): a venue's limit or ban answer then pauses the
   * key in every process. Without it (single-process tests) a pause holds in this one only.
   */
  redis?: Redis;
}): Record<VenueId, Venue> {
  const main = opts.urls;
  const test = opts.urls.testnet ?? {};
  // ccxt's limiter stays on against a real venue (no URL override), off against a local fake.
  const limit = (url: string | undefined) => url === undefined;
  // A test network's limits and bans are its own: its pauses are kept apart from the mainnet's.
  const pauses = (scope: string) =>
    opts.redis === undefined ? undefined : createRedisPauses(opts.redis, scope);
  return {
    hyperliquid: byNetwork(
      createHyperliquidVenue({ origin: main.hyperliquid, pauses: pauses("hyperliquid") }),
      createHyperliquidVenue({
        origin: test.hyperliquid ?? TESTNET_ORIGINS.hyperliquid,
        enableRateLimit: limit(test.hyperliquid),
        testnet: true,
        pauses: pauses("hyperliquid:testnet"),
      }),
    ),
    binanceusdm: byNetwork(
      createBinanceUsdmVenue({ origin: main.binanceusdm, pauses: pauses("binanceusdm") }),
      createBinanceUsdmVenue({
        origin: test.binanceusdm ?? TESTNET_ORIGINS.binanceusdm,
        enableRateLimit: limit(test.binanceusdm),
        testnet: true,
        pauses: pauses("binanceusdm:testnet"),
      }),
    ),
    bybit: byNetwork(
      createBybitVenue({ origin: main.bybit, pauses: pauses("bybit") }),
      createBybitVenue({
        origin: test.bybit ?? TESTNET_ORIGINS.bybit,
        enableRateLimit: limit(test.bybit),
        pauses: pauses("bybit:testnet"),
      }),
    ),
    paper: createPaperVenue({ store: createPaperStore(opts.sql), livePrice: opts.paperPrices }),
  };
}

/**
 * The registry as a service process builds it: the configured URLs, rate-limit pauses shared
 * through Redis, and the paper book on prepared statements (it is on the trade path).
 */
export function createVenuesFor(
  config: Pick<Config, "venueUrls">,
  parts: { orm: Parameters<typeof preparedSqlOf>[0]; redis: Redis; paperPrices?: PaperPriceFeed },
): Record<VenueId, Venue> {
  return createVenues({
    sql: preparedSqlOf(parts.orm),
    urls: config.venueUrls,
    redis: parts.redis,
    paperPrices: parts.paperPrices,
  });
}
