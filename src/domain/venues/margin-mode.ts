// Setting a key's margin mode (issue 16): cross or isolated, the user's choice per key, sent by
// the Hyperliquid adapter with every order's leverage (updateLeverage isCross). Binance and
// Bybit keep the mode set in the exchange's own app, so the setting is refused for them.
import type { SecurityEvent } from "../accounts/repo";
import type { MarginMode } from "../vault/decrypt-scope";
import {
  type CredentialRecord,
  type CredentialsRepo,
  KeyNotFound,
  KeyRefused,
} from "./key-records";

export const MARGIN_MODES = ["cross", "isolated"] as const satisfies readonly MarginMode[];

export const isMarginMode = (v: string): v is MarginMode =>
  (MARGIN_MODES as readonly string[]).includes(v);

export async function setMarginMode(
  deps: {
    repo: Pick<CredentialsRepo, "get" | "setMarginMode">;
    recordEvent: (e: SecurityEvent) => Promise<void>;
  },
  input: { userId: string; credentialId: string; mode: MarginMode; ip: string | null },
): Promise<CredentialRecord> {
  const current = await deps.repo.get(input.userId, input.credentialId);
  if (!current || current.revokedAt) throw new KeyNotFound();
  if (current.venue !== "hyperliquid") {
    throw new KeyRefused(
      "The margin mode is a Warden setting for Hyperliquid keys only; on Binance and Bybit set cross or isolated in the exchange's own app.",
      [],
    );
  }
  if (current.marginMode !== input.mode) {
    if (!(await deps.repo.setMarginMode(current.id, input.mode))) throw new KeyNotFound();
    await deps.recordEvent({
      userId: input.userId,
      kind: "key_margin_mode",
      outcome: "ok",
      ip: input.ip,
      details: { venue: current.venue, credentialId: current.id, marginMode: input.mode },
    });
  }
  return (await deps.repo.get(input.userId, current.id))!;
}
