// The venue registry: one adapter per venue id, each pointed at its configured origin.
import { createPaperVenue } from "../../domain/venues/paper";
import type { Venue, VenueId } from "../../domain/venues/types";
import type { Sql } from "../vault-store";
import { createBinanceUsdmVenue } from "./binanceusdm";
import { createBybitVenue } from "./bybit";
import { createHyperliquidVenue } from "./hyperliquid";
import { createPaperStore } from "./paper-store";

export function createVenues(opts: {
  sql: Sql;
  urls: { hyperliquid?: string; binanceusdm?: string; bybit?: string };
}): Record<VenueId, Venue> {
  return {
    hyperliquid: createHyperliquidVenue({ origin: opts.urls.hyperliquid }),
    binanceusdm: createBinanceUsdmVenue({ origin: opts.urls.binanceusdm }),
    bybit: createBybitVenue({ origin: opts.urls.bybit }),
    paper: createPaperVenue({ store: createPaperStore(opts.sql) }),
  };
}
