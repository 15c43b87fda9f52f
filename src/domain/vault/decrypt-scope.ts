// withDecryptedExchangeKeys: the only place exchange credentials exist in plaintext (S1.3).
// The Buffers it hands out are zero-filled when the callback returns or throws.
import type { ExchangeKeyRing } from "./key-ring";

/** A stored credential as the vault sees it: tokens and their master key version. */
export interface EncryptedCredential {
  apiKey: string | null;
  secret: string | null;
  privateKey: string | null;
  walletAddress: string | null;
  encryptionKeyVersion: number;
  /** Bound to the venue's test network (not secret); absent means mainnet. */
  testnet?: boolean;
  /** Hyperliquid: the margin mode the user chose for this key (not secret); absent means cross. */
  marginMode?: MarginMode;
}

/** Cross or isolated margin, as the user set it per key (Hyperliquid's updateLeverage isCross). */
export type MarginMode = "cross" | "isolated";

export interface DecryptedKeys {
  apiKey: Buffer | null;
  secret: Buffer | null;
  privateKey: Buffer | null;
  /** Public (a Hyperliquid master address), so never encrypted. */
  walletAddress: string | null;
  /** The key belongs to the venue's test network: the adapter talks to the testnet only. */
  testnet?: boolean;
  marginMode?: MarginMode;
}

/**
 * Decrypts the credential's fields into Buffers, runs `fn`, and zero-fills every Buffer in
 * `finally`. What cannot be zeroed: a client library such as ccxt takes credentials as V8
 * strings, which are immutable and freed only by the garbage collector. Callers should turn a
 * Buffer into a string as late as possible, inside `fn`, and drop the client before `fn`
 * returns, so that such copies are unreachable from the moment the scope ends.
 */
export async function withDecryptedExchangeKeys<T>(
  keyRing: ExchangeKeyRing,
  credential: EncryptedCredential,
  fn: (keys: DecryptedKeys) => Promise<T>,
): Promise<T> {
  const buffers: Buffer[] = [];
  const open = (token: string | null): Buffer | null => {
    if (token === null) return null;
    const b = keyRing.decrypt(credential.encryptionKeyVersion, token);
    buffers.push(b);
    return b;
  };
  try {
    const keys: DecryptedKeys = {
      apiKey: open(credential.apiKey),
      secret: open(credential.secret),
      privateKey: open(credential.privateKey),
      walletAddress: credential.walletAddress,
      testnet: credential.testnet === true,
      marginMode: credential.marginMode ?? "cross",
    };
    return await fn(keys);
  } finally {
    for (const b of buffers) b.fill(0);
  }
}
