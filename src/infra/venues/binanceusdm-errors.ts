// Binance USD-M refusals by code (Binance's "Error Codes" page for USDⓈ-M futures): each becomes
// a domain error with Binance's own reason and what the user can do, the code kept for the log
// and the audit entry.
import ccxt from "ccxt";
import type { VenueError } from "../../domain/venues/types";
import { toVenueError } from "./ccxt-common";
import { type CodedError, codedVenueError, codeIn, reasonIn } from "./ccxt-futures";

const VENUE = "Binance";

/**
 * Binance order errors by code, with what the user can do about each (Binance's "Error Codes"
 * page for USDⓈ-M futures). ccxt maps them only for requests to fapi.binance.com itself (per
 * host), so through a rebased origin they would all be a generic ExchangeError; mapping the
 * code here gives the same answer everywhere. The code itself stays in the message's tail for
 * the log and the audit entry.
 */
const ORDER_ERRORS: Readonly<Record<string, CodedError>> = {
  "-1013": { code: "invalid_order" },
  "-1021": {
    code: "venue_error",
    hint: "Warden's clock is out of Binance's receive window; try again in a minute.",
  },
  "-1106": {
    code: "invalid_order",
    hint: "The account's position mode changed (one-way / hedge); try again so Warden re-reads it.",
  },
  "-1111": { code: "invalid_order", hint: "Use fewer decimals for the size." },
  "-1121": { code: "unknown_symbol" },
  "-2018": { code: "insufficient_funds" },
  "-2019": { code: "insufficient_funds" },
  "-2021": {
    code: "invalid_order",
    hint: "The trigger price is already crossed; pick one beyond the mark price.",
  },
  "-2022": {
    code: "invalid_order",
    hint: "There is no position left to reduce in that direction.",
  },
  "-4003": { code: "invalid_order" },
  "-4005": { code: "invalid_order" },
  "-4028": { code: "invalid_order", hint: "Pick a leverage Binance allows for this symbol." },
  "-4061": {
    code: "invalid_order",
    hint: "The account's position mode (one-way / hedge) changed; try again so Warden re-reads it.",
  },
  "-4116": {
    code: "invalid_order",
    hint: "An order with this request's id was already placed once; check your positions.",
  },
  "-4120": {
    code: "invalid_order",
    hint: "Binance takes stop and take-profit orders only through its Algo Order API.",
  },
  "-4130": {
    code: "invalid_order",
    hint: "A stop or take profit that closes this position is already open; cancel the extra one in the Binance app.",
  },
  "-4131": { code: "invalid_order" },
  "-4164": { code: "invalid_order", hint: "Raise the size above Binance's minimum notional." },
};

/** Binance's code, e.g. -2022, from a ccxt error's message (the venue's JSON answer). */
export const binanceCode = (message: string) => codeIn(message, "code");

export function mapBinanceError(err: unknown): VenueError {
  if (err instanceof ccxt.ExchangeError && !(err instanceof ccxt.AuthenticationError)) {
    const mapped = codedVenueError(VENUE, ORDER_ERRORS, {
      code: binanceCode(err.message),
      reason: reasonIn(err.message, "msg"),
    });
    if (mapped !== undefined) return mapped;
  }
  return toVenueError(err, VENUE);
}
