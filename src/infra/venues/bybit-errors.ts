// Bybit V5 refusals by retCode (Bybit V5 docs, "Error Codes"; ccxt's bybit `exceptions` table):
// each becomes a domain error with Bybit's own reason and what the user can do, the retCode
// kept in the message's tail for the log and the audit entry. ccxt's classes alone would say
// only "Bybit refused the request."
import ccxt from "ccxt";
import type { VenueError } from "../../domain/venues/types";
import { toVenueError } from "./ccxt-common";
import { type CodedError, codedVenueError, codeIn, reasonIn } from "./ccxt-futures";

const VENUE = "Bybit";
const KEY_FORM = "Bybit → API Management → Edit";
const UPGRADE =
  "This is a classic Bybit account; Warden trades a Unified Trading Account: Bybit → Assets → Unified Trading Account → Upgrade, then connect the key again.";
const MODE_CHANGED =
  "The account's position mode (one-way / hedge) does not match the order; try again so Warden re-reads it.";

const BYBIT_ERRORS: Readonly<Record<string, CodedError>> = {
  // A parameter error: the reason says which (Bybit sends one code for many).
  "10001": {
    code: "invalid_order",
    hints: [
      [/position idx not match position mode/i, MODE_CHANGED],
      [/accountType only support CONTRACT/i, UPGRADE],
      [/qty/i, "Check the size against the symbol's lot step and limits."],
    ],
  },
  "10005": {
    code: "permission_denied",
    hint: `${KEY_FORM} → under 'Contract' tick 'Orders' and 'Positions'.`,
  },
  "10010": {
    code: "permission_denied",
    hint: `The key is bound to other IPs: ${KEY_FORM} → IP restriction → add Warden's IPs.`,
  },
  "10020": { code: "permission_denied", hint: UPGRADE },
  "10024": {
    code: "permission_denied",
    hint: "Bybit's compliance rules block this for the account; see Bybit's support.",
  },
  "10027": { code: "permission_denied", hint: "Bybit has banned trading for this account." },
  "10028": { code: "permission_denied", hint: UPGRADE },
  "10029": {
    code: "permission_denied",
    hint: `The key's symbol whitelist excludes it: ${KEY_FORM} → allow this symbol.`,
  },
  "110004": { code: "insufficient_funds" },
  "110007": { code: "insufficient_funds" },
  "110012": { code: "insufficient_funds" },
  "110044": { code: "insufficient_funds" },
  "110045": { code: "insufficient_funds" },
  "110013": { code: "invalid_order", hint: "Lower the leverage or the risk limit in Bybit." },
  "110016": {
    code: "invalid_order",
    hint: "The size is above the risk limit; lower it or raise the risk limit in Bybit.",
  },
  "110017": {
    code: "invalid_order",
    hint: "There is no position left to reduce in that direction.",
  },
  "110025": { code: "invalid_order", hint: MODE_CHANGED },
  "110072": {
    code: "invalid_order",
    hint: "An order with this request's id was already placed once; check your positions.",
  },
  "110092": {
    code: "invalid_order",
    hint: "The trigger price is already crossed; pick one beyond the mark price.",
  },
  "110093": {
    code: "invalid_order",
    hint: "The trigger price is already crossed; pick one beyond the mark price.",
  },
  "110094": { code: "invalid_order", hint: "Raise the size above Bybit's minimum order value." },
  "12137": { code: "invalid_order", hint: "Use fewer decimals for the size." },
  "100028": { code: "permission_denied", hint: UPGRADE },
  "110067": { code: "permission_denied", hint: UPGRADE },
};

/** Bybit's retCode in a ccxt error's message (ccxt puts Bybit's JSON answer there). */
export const bybitCode = (message: string) => codeIn(message, "retCode");

export function mapBybitError(err: unknown): VenueError {
  // Rate limits and authentication keep their own answers (the rate gate, invalid_key).
  if (
    err instanceof ccxt.ExchangeError &&
    !(err instanceof ccxt.AuthenticationError) &&
    !(err instanceof ccxt.RateLimitExceeded)
  ) {
    const mapped = codedVenueError(VENUE, BYBIT_ERRORS, {
      code: bybitCode(err.message),
      reason: reasonIn(err.message, "retMsg"),
    });
    if (mapped !== undefined) return mapped;
  }
  return toVenueError(err, VENUE);
}
