// Hyperliquid's refusals in plain words (issue 16): Hyperliquid answers a refused action with a
// sentence, not a code ({"status":"err","response":"…"} or an order status {"error":"…"}), so
// the table matches the sentence's opening words. Each entry names the reason as Hyperliquid's
// docs name it ("Error responses": Tick, MinTradeNtl, PerpMargin, …) and what the user can do;
// the name stays in the message's tail for the log and the audit entry, as Binance's code does.
import ccxt from "ccxt";
import { VenueError, type VenueErrorCode } from "../../domain/venues/types";
import { toVenueError } from "./ccxt-common";

const VENUE = "Hyperliquid";

interface Refusal {
  /** How the venue's sentence starts (its docs, and ccxt's `exceptions.broad` for this venue). */
  starts: string;
  /** Hyperliquid's name for the reason, kept in the log and the audit entry. */
  reason: string;
  code: VenueErrorCode;
  hint: string;
}

export const HYPERLIQUID_REFUSALS: readonly Refusal[] = [
  {
    starts: "Price must be divisible by tick size",
    reason: "Tick",
    code: "invalid_order",
    hint: "Use a price on the market's tick size.",
  },
  {
    starts: "Order must have minimum value of $10",
    reason: "MinTradeNtl",
    code: "invalid_order",
    hint: "Raise the size so that the order is worth at least $10.",
  },
  {
    starts: "Insufficient margin to place order",
    reason: "PerpMargin",
    code: "insufficient_funds",
    hint: "Deposit USDC, lower the size or raise the leverage.",
  },
  {
    starts: "Reduce only order would increase position",
    reason: "ReduceOnly",
    code: "invalid_order",
    hint: "There is no position left to reduce in that direction; check your positions.",
  },
  {
    starts: "Order could not immediately match against any resting orders",
    reason: "IocCancel",
    code: "invalid_order",
    hint: "The book moved beyond the 5 % slippage limit; try again.",
  },
  {
    starts: "Invalid TP/SL price",
    reason: "BadTriggerPx",
    code: "invalid_order",
    hint: "Put the stop loss below and the take profit above the price of a long (the reverse for a short).",
  },
  {
    starts: "No liquidity available for market order",
    reason: "MarketOrderNoLiquidity",
    code: "invalid_order",
    hint: "The market has no liquidity now; try again later or a smaller size.",
  },
  {
    starts: "Order price cannot be more than 80% away from the reference price",
    reason: "Oracle",
    code: "invalid_order",
    hint: "Pick a price closer to the market.",
  },
  {
    starts: "Order has invalid size",
    reason: "InvalidSize",
    code: "invalid_order",
    hint: "Use fewer decimals for the size.",
  },
  {
    starts: "Order has zero size",
    reason: "ZeroSize",
    code: "invalid_order",
    hint: "The size rounds to zero at this market's precision; raise it.",
  },
  {
    starts: "Invalid leverage value",
    reason: "InvalidLeverage",
    code: "invalid_order",
    hint: "Pick a leverage this market allows.",
  },
  {
    starts: "Parent order was not filled",
    reason: "ParentNotFilled",
    code: "invalid_order",
    hint: "The entry did not fill, so its stop loss / take profit were not placed either.",
  },
  {
    starts: "Order was never placed, already canceled, or filled",
    reason: "CancelMissing",
    code: "invalid_order",
    hint: "The order is gone already; check your open orders.",
  },
  {
    starts: "Too many cumulative requests sent",
    reason: "AddressRateLimit",
    code: "rate_limited",
    hint: "This account has used its request allowance (it grows with traded volume); wait and try again.",
  },
];

/** The venue's own sentence from ccxt's error ("hyperliquid {…json…}"), never the request. */
function venueSentence(message: string): string | undefined {
  const body = message.replace(/^hyperliquid\s+/, "");
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  const found: string[] = [];
  const walk = (v: unknown) => {
    if (found.length > 0 || typeof v !== "object" || v === null) return;
    const o = v as Record<string, unknown>;
    if (typeof o.error === "string") found.push(o.error);
    else if (o.status === "err" && typeof o.response === "string") found.push(o.response);
    else for (const x of Object.values(o)) walk(x);
  };
  walk(parsed);
  return found[0]?.replace(/[^\x20-\x7e]/g, "").slice(0, 200);
}

/** A Hyperliquid refusal as a VenueError: its reason, what to do, and its name at the end. */
export function mapHyperliquidError(err: unknown): VenueError {
  if (err instanceof ccxt.BaseError) {
    const sentence = venueSentence(err.message);
    if (sentence !== undefined) {
      const known = HYPERLIQUID_REFUSALS.find((r) => sentence.startsWith(r.starts));
      const reason = sentence.replace(/\s*asset=\d+\s*$/, "");
      if (known !== undefined) {
        const what =
          known.code === "rate_limited"
            ? `${VENUE} is rate-limiting this account: ${reason}`
            : `${VENUE} refused the order: ${reason}`;
        return new VenueError(known.code, `${what} ${known.hint} (reason ${known.reason})`);
      }
      return new VenueError(
        "venue_error",
        `${VENUE} refused the request: ${reason} (reason unlisted)`,
        false,
      );
    }
  }
  return toVenueError(err, VENUE);
}
