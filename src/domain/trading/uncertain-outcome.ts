// An order whose answer was lost (timeout, 5xx, reset after the request left) may or may not
// have executed. Every entry order carries a client order id derived from the request, so the
// venue can be asked what became of it; until it says, the outcome is unknown, never "failed".
import { createHash, randomBytes } from "node:crypto";
import type { OrderLookup } from "../venues/types";
import { VenueError } from "../venues/types";

/**
 * 32 hex digits (128 bits): from the credential and the idempotency key when there is one, so a
 * retry of the same request sends the same id and the venue itself can refuse a duplicate;
 * random otherwise. Each adapter wraps it in its venue's format (`0x…` for a Hyperliquid cloid).
 */
export function clientOrderIdFor(credentialId: string, idempotencyKey: string | undefined): string {
  if (idempotencyKey === undefined) return randomBytes(16).toString("hex");
  return createHash("sha256")
    .update(`warden-open:${credentialId}:${idempotencyKey}`)
    .digest("hex")
    .slice(0, 32);
}

/**
 * The request left and no answer came back (timeout, reset, 5xx): the order may have executed,
 * so the venue is asked. Any other error keeps its meaning; an unclear one (venue_error) still
 * keeps the request claimed, as before, since no lookup is made for it.
 */
export function outcomeUnknown(err: unknown): boolean {
  return err instanceof VenueError && err.code === "network";
}

/** How long to keep asking: a few seconds in all, so the user gets an answer in one request. */
export const LOOKUP_DELAYS_MS: readonly number[] = [250, 500, 1_000, 2_000, 4_000];

/**
 * Asks the venue about the order, with backoff, until it gives a final answer (filled, not
 * found, cancelled); null when it still has not after the last try (the venue unreachable, or
 * the order still working), in which case the outcome stays unknown.
 */
export async function settleOrder(
  lookup: () => Promise<OrderLookup>,
  opts: { delaysMs?: readonly number[]; sleep?: (ms: number) => Promise<void> } = {},
): Promise<Exclude<OrderLookup, { status: "pending" }> | null> {
  const delays = opts.delaysMs ?? LOOKUP_DELAYS_MS;
  const sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  // A request still in flight can reach the venue after a first lookup: "not found" counts
  // only when a later lookup says it again.
  let notFoundBefore = false;
  for (const delay of delays) {
    await sleep(delay);
    try {
      const found = await lookup();
      if (found.status === "not_found" && !notFoundBefore) {
        notFoundBefore = true;
        continue;
      }
      if (found.status !== "pending") return found;
    } catch (err) {
      // An unreachable venue is asked again; a refusal of the lookup itself (bad key,
      // permission) will not change by waiting.
      if (!(err instanceof VenueError) || !err.retryable) throw err;
    }
  }
  return null;
}
