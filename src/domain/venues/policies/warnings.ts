// Warnings the Binance and Bybit policies share: a key usable from any IP, and a key with an
// expiry date. Both venues let the user bind a key to IPs; the message says which ones.
import type { Warning } from "../scope-policy";

/** `where` is the venue's own path to the IP setting, e.g. "Binance → API Management → …". */
export function noIpBindingWarning(egressIps: readonly string[], where: string): Warning {
  const message =
    egressIps.length > 0
      ? `This key works from any IP address. Restrict it to Warden's IPs ${egressIps.join(", ")} (${where}).`
      : "This key works from any IP address. Warden's egress IPs are not configured yet " +
        `(the operator sets WARDEN_EGRESS_IPS); once they are, restrict the key to them (${where}).`;
  return { code: "no_ip_binding", message };
}

export function expiresWarning(expiresAt: Date, advice: string): Warning {
  return {
    code: "expires",
    message: `This key stops working on ${expiresAt.toISOString().slice(0, 10)} (${expiresAt.toISOString()}); ${advice}`,
  };
}
