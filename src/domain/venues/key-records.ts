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

/** The sealed intake request that last wrote a key's material, and when it was made. */
export interface MaterialWriter {
  /** Null when no sealed request wrote it (connected or rotated directly, or before this). */
  requestId: string | null;
  /** Null for material written before this was recorded (older than every request). */
  requestedAt: Date | null;
}

/** A sealed rotation: its intake request and when the user made it (the newest one stays). */
export interface RotationRequest {
  requestId: string;
  requestedAt: Date;
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
  /**
   * The key the user's sealed intake request `requestId` stored: the key it connected, or the key
   * whose current material it wrote (a rotation). Null if it did neither, or if a later rotation
   * replaced what it wrote.
   */
  byIntakeRequest(userId: string, requestId: string): Promise<CredentialRecord | null>;
  list(userId: string): Promise<CredentialRecord[]>;
  get(userId: string, id: string): Promise<CredentialRecord | null>;
  /**
   * The user's key with the request that last wrote its material. With `lock` (inside
   * `KeyServiceDeps.atomically`) the row is held until the commit: rotations of one key queue.
   */
  rotationTarget(
    userId: string,
    id: string,
    lock?: boolean,
  ): Promise<{ record: CredentialRecord; writer: MaterialWriter } | null>;
  /**
   * Overwrites the material only while the row is still active; false otherwise. Records `by` as
   * its writer (none given: written directly, now).
   */
  replaceMaterial(id: string, m: StoredMaterial, by?: RotationRequest): Promise<boolean>;
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

/**
 * A sealed rotation reached the signer after a newer one of the same key was stored: the newer
 * material stays and this one is not put over it.
 */
export class KeyRotatedSince extends KeyRefused {
  constructor() {
    super(
      "This key was rotated again by a newer paste since this one was sent: the newer key stays in place. See /keys (or GET /api/keys).",
      [],
    );
    this.name = "KeyRotatedSince";
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
