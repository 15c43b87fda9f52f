// Pre-trade checks, shared by the bot and the API: an order is measured against the market's
// rules, the account's free margin and the user's own limit before anything is sent, and each
// refusal names its rule and the numbers. `quoteOrder` returns what the user confirms.

import { withDecryptedExchangeKeys } from "../vault/decrypt-scope";
import type { ExchangeKeyRing } from "../vault/key-ring";
import type { CredentialRecord } from "../venues/keys";
import type { Venue, VenueId } from "../venues/types";
import { VenueError } from "../venues/types";
import {
  checkOrder,
  type OrderQuote,
  type OrderRequest,
  orderCredential,
  PreTradeError,
  type TradingSettingsStore,
} from "./pre-trade-rules";
import { baseSizeOf } from "./sizing";
import { displaySymbol, perpetualOf, settleOf, untradableReason } from "./symbols";
import { TradingError } from "./types";

export * from "./pre-trade-rules";

export interface PreTradeDeps {
  keyRing: ExchangeKeyRing;
  venues: Record<VenueId, Venue>;
  credentials: (userId: string) => Promise<CredentialRecord[]>;
  settings: TradingSettingsStore;
}

/**
 * Resolves the symbol and size, reads the market and the free margin, and runs every rule. The
 * open use case re-checks nothing of this: callers quote, confirm, then open the quoted size.
 */
export async function quoteOrder(
  deps: PreTradeDeps,
  userId: string,
  req: OrderRequest,
): Promise<OrderQuote> {
  const c = await orderCredential(await deps.credentials(userId), req.credentialId);
  if (!c) {
    // Not a rule of the order: the same refusal (409 no_key) as the open itself would give.
    throw new TradingError(
      "no_key",
      req.credentialId
        ? `No usable key #${req.credentialId}. /keys lists your keys.`
        : "Connect a key first (/connect, or POST /api/keys).",
    );
  }
  const untradable = untradableReason(req.symbol, c.venue);
  if (untradable !== null) throw new PreTradeError("symbol", untradable);
  const symbol = perpetualOf(req.symbol, c.venue);
  if (!symbol) throw new PreTradeError("symbol", `${req.symbol.slice(0, 30)} is not a symbol.`);
  const venue = deps.venues[c.venue];
  if (!venue.market) {
    // No market data from this adapter yet: coins only, and the venue's own checks apply.
    if (req.size.kind !== "base") {
      throw new PreTradeError(
        "symbol",
        `Sizing in ${req.size.kind === "quote" ? "order value" : "percent"} needs market data ${c.venue} does not give Warden yet; give the size in coins.`,
      );
    }
    const lev = req.leverage ?? 1;
    return {
      credentialId: c.id,
      venue: c.venue,
      symbol,
      display: displaySymbol(symbol),
      currency: settleOf(symbol),
      side: req.side,
      size: req.size.value,
      markPrice: Number.NaN,
      notional: Number.NaN,
      margin: Number.NaN,
      fee: Number.NaN,
      leverage: lev,
      liquidationPrice: Number.NaN,
      stopLoss: req.stopLoss ?? null,
      takeProfit: req.takeProfit ?? null,
      freeMargin: Number.NaN,
    };
  }
  const settings = await deps.settings.get(userId);
  const { market, free } = await withDecryptedExchangeKeys(
    deps.keyRing,
    c.encrypted,
    async (keys) => {
      try {
        const market = await venue.market!(keys, symbol);
        const balances = await venue.balance(keys);
        const currency = settleOf(market.symbol);
        return { market, free: balances.find((b) => b.currency === currency)?.free ?? 0 };
      } catch (err) {
        if (err instanceof VenueError && err.code === "unknown_symbol") {
          throw new PreTradeError(
            "symbol",
            `${displaySymbol(symbol)} is not listed on ${c.venue}.`,
          );
        }
        // The venue could not be asked (a rate limit, an outage): nothing was sent, and the user
        // is told the venue's reason (e.g. how long to wait), as for the order itself.
        if (err instanceof VenueError)
          throw new TradingError("venue_failed", err.message, err.code);
        throw err;
      }
    },
  );
  const leverage = req.leverage ?? 1;
  const size = baseSizeOf(req.size, {
    markPrice: market.markPrice,
    lotStep: market.lotStep,
    freeMargin: free,
    leverage,
  });
  const quote = checkOrder(
    market,
    {
      side: req.side,
      size,
      leverage,
      stopLoss: req.stopLoss ?? null,
      takeProfit: req.takeProfit ?? null,
    },
    {
      freeMargin: free,
      currency: settleOf(market.symbol),
      maxOrderNotional: settings.maxOrderNotional,
    },
  );
  return { ...quote, credentialId: c.id, venue: c.venue, freeMargin: free };
}
