// Sealed key intake (issue 19), both ends. The caller packs pasted key material and seals it to
// the signer's intake key for one intake request (user, venue, request id, expiry bound in the
// AAD); the signer refuses a stale, foreign, retired-key or replayed envelope, records why, and
// otherwise opens it and runs the ordinary connect or rotate (scopes at the venue, Fernet, store).
import type { SecurityEvent } from "../accounts/repo";
import {
  envelopeIdentity,
  type IntakeKeyRing,
  type IntakePublicKeys,
  SealedIntakeError,
  withOpenedIntake,
} from "../vault/sealed-intake";
import { type KeyMaterial, KeyNotFound, KeyRefused } from "./key-records";
import type { KeyService } from "./keys";
import type { Refusal, Warning } from "./scope-policy";
import { VenueError, type VenueErrorCode, type VenueId } from "./types";

/** How long a sealed request stays valid: the caller's deadline plus queueing slack. */
export const INTAKE_REQUEST_TTL_MS = 2 * 60_000;
/** An expiry further out than this was not set by a caller of ours. */
const MAX_INTAKE_TTL_MS = 15 * 60_000;

/**
 * The signer did not answer before the caller's deadline: the key may still be stored. The
 * caller says so instead of "nothing was stored".
 */
export class KeyIntakePending extends Error {
  readonly code = "key_intake_pending";
  constructor() {
    super(
      "The signer is still checking this key with the venue. See /keys (or GET /api/keys) in a minute before sending it again.",
    );
    this.name = "KeyIntakePending";
  }
}

/** What crosses the queue: nothing secret but the envelope. */
export interface SealedKeyRequest {
  /** A new key, or new material for the user's key `credentialId`. */
  action: "connect" | "rotate";
  /** rotate: the key whose material is replaced. */
  credentialId?: string;
  /** Random, one per paste; the signer serves it once. */
  requestId: string;
  userId: string;
  venue: VenueId;
  label: string;
  testnet: boolean;
  /** Epoch ms; bound in the envelope. */
  expiresAt: number;
  envelope: string;
  ip: string | null;
}

export type SealedConnectResult =
  | { refused: string }
  | { ok: true; credentialId: string }
  | {
      ok: false;
      code: "key_refused";
      message: string;
      refusals: Refusal[];
      warnings: Warning[];
    }
  | { ok: false; code: "key_not_found"; message: string }
  | {
      ok: false;
      code: "venue_error";
      venueCode: VenueErrorCode;
      message: string;
      retryable: boolean;
    };

const FIELDS = ["apiKey", "secret", "privateKey", "walletAddress"] as const;

/** Length-prefixed fields (absent = 0xffffffff), so that no field can run into the next. */
export function packMaterial(m: KeyMaterial): Buffer {
  const parts: Buffer[] = [];
  for (const field of FIELDS) {
    const value = m[field];
    const bytes =
      value === null || value === undefined
        ? null
        : typeof value === "string"
          ? Buffer.from(value, "utf8")
          : value;
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes === null ? 0xffffffff : bytes.length);
    parts.push(length);
    if (bytes !== null) parts.push(bytes);
  }
  return Buffer.concat(parts);
}

/** The inverse of packMaterial, into fresh Buffers the connect use case zeroes; null if malformed. */
export function unpackMaterial(packed: Buffer): KeyMaterial | null {
  const out: KeyMaterial = {};
  let at = 0;
  for (const field of FIELDS) {
    if (at + 4 > packed.length) return zeroed(out);
    const length = packed.readUInt32BE(at);
    at += 4;
    if (length === 0xffffffff) continue;
    if (at + length > packed.length) return zeroed(out);
    const bytes = Buffer.alloc(length);
    packed.copy(bytes, 0, at, at + length);
    at += length;
    if (field === "walletAddress") {
      out.walletAddress = bytes.toString("utf8");
    } else {
      out[field] = bytes;
    }
  }
  return at === packed.length ? out : zeroed(out);
}

function zeroed(m: KeyMaterial): null {
  m.apiKey?.fill(0);
  m.secret?.fill(0);
  m.privateKey?.fill(0);
  return null;
}

/**
 * Seals `material` for one intake request. Zeroes the material's Buffers and the packed copy
 * before returning: from here on the secret exists only as the envelope.
 */
export function sealKeyMaterial(
  publicKeys: IntakePublicKeys,
  input: {
    userId: string;
    venue: VenueId;
    material: KeyMaterial;
    requestId: string;
    expiresAt: number;
  },
): string {
  const packed = packMaterial(input.material);
  try {
    return publicKeys.seal(packed, {
      userId: input.userId,
      venue: input.venue,
      request: { id: input.requestId, expiresAt: input.expiresAt },
    });
  } finally {
    packed.fill(0);
    zeroed(input.material);
  }
}

export interface IntakeClaims {
  /**
   * Claims the request id and the envelope for `jobRef`, or says they were claimed before by
   * another job ("replayed"). The claiming job's own redelivery finds its claim: "claimed".
   */
  claim(c: {
    requestId: string;
    encHash: Buffer;
    userId: string;
    venue: VenueId;
    jobRef: string;
    expiresAt: Date;
  }): Promise<"claimed" | "replayed">;
}

export interface SealedConnectDeps {
  intakeKeys: IntakeKeyRing;
  claims: IntakeClaims;
  connect: KeyService["connect"];
  rotate: KeyService["rotate"];
  recordEvent: (e: SecurityEvent) => Promise<void>;
  now: () => number;
}

/**
 * The signer's side: refuses what it must (each refusal recorded as `key_intake_refused` with its
 * reason), else connects the key and answers as the direct path would. Throws only what a later
 * attempt of the same job may resolve.
 */
export async function connectSealed(
  deps: SealedConnectDeps,
  req: SealedKeyRequest,
  jobRef: string,
): Promise<SealedConnectResult> {
  const refuse = async (
    reason: string,
    message: string,
    details: Record<string, unknown> = {},
  ): Promise<SealedConnectResult> => {
    await deps.recordEvent({
      userId: req.userId,
      kind: "key_intake_refused",
      outcome: "refused",
      ip: req.ip,
      details: { venue: req.venue, requestId: req.requestId, reason, ...details },
    });
    return { refused: message };
  };
  const now = deps.now();
  if (req.expiresAt <= now) {
    return refuse(
      "expired",
      "This sealed key expired before the signer could take it. Nothing was stored; paste the key again.",
    );
  }
  if (req.expiresAt > now + MAX_INTAKE_TTL_MS) {
    return refuse("expiry_too_far", "This sealed key is malformed. Nothing was stored.");
  }
  let identity: ReturnType<typeof envelopeIdentity>;
  try {
    identity = envelopeIdentity(req.envelope);
  } catch {
    return refuse("malformed", "This sealed key is malformed. Nothing was stored.");
  }
  const purpose = {
    userId: req.userId,
    venue: req.venue,
    request: { id: req.requestId, expiresAt: req.expiresAt },
  };
  try {
    return await withOpenedIntake(deps.intakeKeys, req.envelope, purpose, async (plaintext) => {
      const claim = await deps.claims.claim({
        requestId: req.requestId,
        encHash: identity.encHash,
        userId: req.userId,
        venue: req.venue,
        jobRef,
        expiresAt: new Date(req.expiresAt),
      });
      if (claim === "replayed") {
        return refuse(
          "replayed",
          "This sealed key was already used once and is refused. Nothing was stored; paste the key again.",
        );
      }
      const material = unpackMaterial(plaintext);
      if (material === null) {
        return refuse("malformed", "This sealed key is malformed. Nothing was stored.");
      }
      return connectOpened(deps, req, material);
    });
  } catch (err) {
    if (!(err instanceof SealedIntakeError)) throw err;
    if (err.code === "INTAKE_KEY_VERSION_UNKNOWN") {
      return refuse(
        "retired_intake_key",
        `This key was sealed to a retired intake key (version ${identity.version}). Nothing was stored; paste the key again.`,
        { intakeKeyVersion: identity.version },
      );
    }
    return refuse(
      err.code === "INTAKE_OPEN_FAILED" ? "open_failed" : "malformed",
      "This sealed key does not open for this account and request (tampered or replayed). Nothing was stored.",
    );
  }
}

async function connectOpened(
  deps: SealedConnectDeps,
  req: SealedKeyRequest,
  material: KeyMaterial,
): Promise<SealedConnectResult> {
  try {
    const record =
      req.action === "rotate"
        ? await deps.rotate(req.userId, req.credentialId ?? "", material, req.ip)
        : await deps.connect(
            req.userId,
            req.venue,
            req.label,
            { ...material, testnet: req.testnet },
            req.ip,
          );
    return { ok: true, credentialId: record.id };
  } catch (err) {
    if (err instanceof KeyNotFound) {
      return { ok: false, code: "key_not_found", message: err.message };
    }
    if (err instanceof KeyRefused) {
      return {
        ok: false,
        code: "key_refused",
        message: err.message,
        refusals: err.refusals,
        warnings: err.warnings,
      };
    }
    if (err instanceof VenueError) {
      return {
        ok: false,
        code: "venue_error",
        venueCode: err.code,
        message: err.message,
        retryable: err.retryable,
      };
    }
    throw err;
  } finally {
    // connect zeroes what it was given; these are the same Buffers, zeroed again if it never ran.
    zeroed(material);
  }
}
