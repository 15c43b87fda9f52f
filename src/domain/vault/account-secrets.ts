// Account secrets (TOTP secrets, queued mail, reset requests) are sealed under ACCOUNT_KEYS.
// Those sealed before the two rings split are under MASTER_KEYS until `account-key migrate`
// moves them; each records its ring, and opens under that ring.
import {
  type AccountKeyRing,
  type ExchangeKeyRing,
  type RingName,
  UnknownKeyVersion,
  type VersionedToken,
} from "./key-ring";

/** A token with the ring and version that sealed it. */
export interface RingedToken extends VersionedToken {
  ring: RingName;
}

/** What account secrets are sealed and opened with. */
export interface AccountKeys {
  /** ACCOUNT_KEYS: seals every new account secret, opens those recorded under it. */
  ring: AccountKeyRing;
  /**
   * MASTER_KEYS, only to open account secrets sealed before the split (rows not yet moved,
   * jobs queued before the upgrade). It never seals an account secret.
   */
  legacy: ExchangeKeyRing | undefined;
}

export function sealAccountSecret(keys: AccountKeys, plaintext: Buffer): RingedToken {
  return { ...keys.ring.encrypt(plaintext), ring: "account" };
}

/** Opens with the ring the token records; throws UnknownKeyVersion when that ring lacks it. */
export function openAccountSecret(keys: AccountKeys, stored: RingedToken): Buffer {
  if (stored.ring === "account") return keys.ring.decrypt(stored.version, stored.token);
  if (!keys.legacy) throw new UnknownKeyVersion(stored.version, [], "master");
  return keys.legacy.decrypt(stored.version, stored.token);
}
