import type { EncryptedCredential, MarginMode } from "../vault/decrypt-scope";
import type { Refusal, Warning } from "./scope-policy";
import type { VenueId } from "./types";

export interface KeyMaterial {
  apiKey?: Buffer | null;
  secret?: Buffer | null;
  privateKey?: Buffer | null;
  walletAddress?: string | null;
  /** Connect to the venue's test network (Binance futures testnet, Bybit testnet, …). */
  testnet?: boolean;
}

export interface CredentialRecord {
  id: string;
  userId: string;
  venue: VenueId;
  label: string;
  keyHint: string | null;
  walletAddress: string | null;
  verifiedScopes: string[];
  warnings: Warning[];
  verifiedAt: Date | null;
  createdAt: Date;
  rotatedAt: Date | null;
  revokedAt: Date | null;
  disabledAt: Date | null;
  disabledReason: string | null;
  /** A testnet key: labelled wherever it is shown, never used against the mainnet. */
  testnet: boolean;
  /** Hyperliquid: cross or isolated margin for this key's orders (the user's setting). */
  marginMode: MarginMode;
  /** When the venue says the key stops working (last verification), if it says. */
  expiresAt: Date | null;
  /** The expiry the user was last warned of (one warning per key and expiry). */
  expiryWarnedFor: Date | null;
  encrypted: EncryptedCredential;
}

export interface StoredMaterial {
  apiKey: string | null;
  secret: string | null;
  privateKey: string | null;
  version: number;
  walletAddress: string | null;
  keyHint: string;
  scopes: string[];
  warnings: Warning[];
  /** Only read on insert: a key keeps its network for life (a rotation cannot move it). */
  testnet?: boolean;
  /** The venue's expiry of the key, from its scope report. */
  expiresAt?: Date | null;
}

export interface CredentialsRepo {
  /**
   * Stores a new key; with `intakeRequestId` (a sealed intake request), null when that request
   * already stored one (nothing is stored then).
   */
  insert(
    userId: string,
    venue: VenueId,
    label: string,
    m: StoredMaterial,
    intakeRequestId?: string,
  ): Promise<CredentialRecord | null>;
  /** The key the user's sealed intake request `requestId` stored, if it stored one. */
  byIntakeRequest(userId: string, requestId: string): Promise<CredentialRecord | null>;
  list(userId: string): Promise<CredentialRecord[]>;
  get(userId: string, id: string): Promise<CredentialRecord | null>;
  /** Overwrites the material only while the row is still active; false otherwise. */
  replaceMaterial(id: string, m: StoredMaterial): Promise<boolean>;
  /** Deletes the material, keeps the row; false when already revoked. */
  revoke(id: string): Promise<boolean>;
  activeAfter(afterId: string, limit: number): Promise<CredentialRecord[]>;
  markVerified(
    id: string,
    scopes: string[],
    warnings: Warning[],
    expiresAt: Date | null,
  ): Promise<void>;
  /** Sets the key's margin mode while it is not revoked; false otherwise. */
  setMarginMode(id: string, mode: MarginMode): Promise<boolean>;
  /** Active keys expiring at or before `at` whose expiry was not warned of yet. */
  expiringBefore(at: Date, limit: number): Promise<CredentialRecord[]>;
  /** Marks the warning for this expiry as sent; false when another run already did. */
  claimExpiryWarning(id: string, expiresAt: Date): Promise<boolean>;
  disable(id: string, reason: string): Promise<boolean>;
}

export class KeyRefused extends Error {
  readonly code = "key_refused";
  constructor(
    message: string,
    readonly refusals: Refusal[],
    readonly warnings: Warning[] = [],
  ) {
    super(message);
    this.name = "KeyRefused";
  }
}

export class KeyNotFound extends Error {
  readonly code = "key_not_found";
  constructor() {
    super("No such key.");
  }
}

/** `abcd…wxyz`: enough to recognise a key, never enough to use it (S1.5). */
export function maskKey(value: string): string {
  return value.length <= 12 ? "…" : `${value.slice(0, 4)}…${value.slice(-4)}`;
}

export function refusalMessage(venue: VenueId, refusals: Refusal[]): string {
  return [
    `Refused: this ${VENUE_NAMES[venue]} key is not trade-only.`,
    ...refusals.map((r) => `• ${r.permission}: ${r.fix}`),
  ].join("\n");
}

export const VENUE_NAMES: Record<VenueId, string> = {
  hyperliquid: "Hyperliquid",
  binanceusdm: "Binance USD-M",
  bybit: "Bybit",
  paper: "Paper",
};

/** The venue's name, with "testnet" after it for a testnet key: how every list shows a key. */
export function venueLabel(venue: VenueId, testnet: boolean): string {
  return testnet ? `${VENUE_NAMES[venue]} testnet` : VENUE_NAMES[venue];
}
