// Bybit's account type as the key reports it (query-api `uta`): Warden trades a Unified Trading
// Account only. A classic account keeps its contracts in another wallet (accountType CONTRACT)
// under other rules, so it is refused at /connect naming the setting that changes it.
import type { Refusal } from "../scope-policy";

export const BYBIT_UPGRADE_FIX =
  "This is a classic Bybit account; Warden works with a Unified Trading Account. In Bybit → Assets → Unified Trading Account choose 'Upgrade Now', then connect the key again.";

/** A refusal when `uta` is not 1 (0 classic; missing: Bybit did not say, so fail closed). */
export function bybitAccountRefusal(uta: unknown): Refusal | null {
  if (uta === 1 || uta === "1") return null;
  return { permission: "uta", fix: BYBIT_UPGRADE_FIX };
}
