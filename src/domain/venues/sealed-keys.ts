// Sealed key intake (issue 19), both ends. The caller packs pasted key material and seals it to
// the signer's intake key for one intake request (every field of the request the signer acts on
// is bound in the AAD); the signer refuses a stale, foreign, altered, retired-key or replayed
// envelope, records why, and otherwise opens it and runs the ordinary connect or rotate (scopes
// at the venue, Fernet, store) once per request: a redelivery answers what the first run did.
import type { SecurityEvent } from "../accounts/repo";
import {
  envelopeIdentity,
  type IntakeKeyRing,
  type IntakePublicKeys,
  type IntakePurpose,
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

/**
 * What the envelope of `req` is sealed for: the user, venue, request id and expiry, and as terms
 * every other field the signer acts on or records (action, target key, network, label, caller
 * IP). Both ends build it here, so they cannot bind different things.
 */
export function intakePurposeOf(
  req: Omit<SealedKeyRequest, "envelope">,
): IntakePurpose & { request: { id: string; expiresAt: number } } {
  return {
    userId: req.userId,
    venue: req.venue,
    request: { id: req.requestId, expiresAt: req.expiresAt },
    terms: [
      ["action", req.action],
      ["credentialId", req.credentialId ?? ""],
      ["network", req.testnet ? "testnet" : "mainnet"],
      ["label", req.label],
      ["ip", req.ip ?? ""],
    ],
  };
}

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
 * Seals `material` for one intake request (every field of `request` bound). Zeroes the
 * material's Buffers and the packed copy before returning: from here on the secret exists only
 * as the envelope.
 */
export function sealKeyMaterial(
  publicKeys: IntakePublicKeys,
  request: Omit<SealedKeyRequest, "envelope">,
  material: KeyMaterial,
): string {
  const packed = packMaterial(material);
  try {
    return publicKeys.seal(packed, intakePurposeOf(request));
  } finally {
    packed.fill(0);
    zeroed(material);
  }
}

export interface IntakeClaims {
  /**
   * Claims the request id and the envelope for `jobRef`, or says they were claimed before by
   * another job ("replayed"). The claiming job's own redelivery finds its claim: "claimed", or
   * the answer the request was given if one was recorded (`settle`).
   */
  claim(c: {
    requestId: string;
    encHash: Buffer;
    userId: string;
    venue: VenueId;
    jobRef: string;
    expiresAt: Date;
  }): Promise<"claimed" | "replayed" | { answered: SealedConnectResult }>;
  /** What `claim` would say to the job `jobRef` without claiming: null when it is not its claim. */
  claimOf(
    requestId: string,
    jobRef: string,
  ): Promise<"claimed" | { answered: SealedConnectResult } | null>;
  /** Records the answer of a claimed request (the first one recorded stays). */
  settle(requestId: string, answer: SealedConnectResult): Promise<void>;
}

export interface SealedConnectDeps {
  intakeKeys: IntakeKeyRing;
  claims: IntakeClaims;
  connect: KeyService["connect"];
  rotate: KeyService["rotate"];
  /**
   * The id of the key the user's intake request stored (connected, or whose current material it
   * wrote), if it did.
   */
  storedBy: (userId: string, requestId: string) => Promise<string | null>;
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
    // A job redelivered past its expiry (the signer was down) still answers what it did.
    const earlier = await earlierAnswer(deps, req, jobRef);
    if (earlier !== null) return earlier;
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
  } catch (err) {
    if (err instanceof SealedIntakeError && err.code === "INTAKE_ENVELOPE_OUTDATED") {
      return refuse(
        "outdated_envelope",
        "This key was sealed by an older version of Warden. Nothing was stored; paste the key again.",
      );
    }
    return refuse("malformed", "This sealed key is malformed. Nothing was stored.");
  }
  // Every field of the job the signer acts on is bound: an edited one does not open.
  const purpose = intakePurposeOf(req);
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
      // A redelivery of this request's job: the answer it was given, and nothing run again.
      if (claim !== "claimed") return claim.answered;
      const answer = await answerOnce(deps, req, plaintext, refuse);
      await deps.claims.settle(req.requestId, answer);
      return answer;
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
    const refusal = await refuse(
      err.code === "INTAKE_OPEN_FAILED" ? "open_failed" : "malformed",
      "This sealed key does not open for this account and request (tampered or replayed). Nothing was stored.",
    );
    // Edited in place after its first run served it: recorded, and that first answer stands.
    return (await earlierAnswer(deps, req, jobRef)) ?? refusal;
  }
}

/**
 * What an earlier run of this very job (`jobRef`: its id and creation time) answered, or stored,
 * found without opening the envelope; null if it did neither. Nothing is run again.
 */
async function earlierAnswer(
  deps: SealedConnectDeps,
  req: SealedKeyRequest,
  jobRef: string,
): Promise<SealedConnectResult | null> {
  const claim = await deps.claims.claimOf(req.requestId, jobRef);
  if (claim === null) return null;
  if (claim !== "claimed") return claim.answered;
  const stored = await deps.storedBy(req.userId, req.requestId);
  return stored === null ? null : { ok: true, credentialId: stored };
}

async function answerOnce(
  deps: SealedConnectDeps,
  req: SealedKeyRequest,
  plaintext: Buffer,
  refuse: (reason: string, message: string) => Promise<SealedConnectResult>,
): Promise<SealedConnectResult> {
  // An earlier run stored the key (or its new material) and its answer was not recorded.
  const stored = await deps.storedBy(req.userId, req.requestId);
  if (stored !== null) return { ok: true, credentialId: stored };
  const material = unpackMaterial(plaintext);
  if (material === null) {
    return refuse("malformed", "This sealed key is malformed. Nothing was stored.");
  }
  return connectOpened(deps, req, material);
}

async function connectOpened(
  deps: SealedConnectDeps,
  req: SealedKeyRequest,
  material: KeyMaterial,
): Promise<SealedConnectResult> {
  try {
    const record =
      req.action === "rotate"
        ? await deps.rotate(req.userId, req.credentialId ?? "", material, req.ip, {
            // Requests are made INTAKE_REQUEST_TTL_MS before their expiry: the newest one stays.
            intake: {
              requestId: req.requestId,
              requestedAt: new Date(req.expiresAt - INTAKE_REQUEST_TTL_MS),
            },
          })
        : await deps.connect(
            req.userId,
            req.venue,
            req.label,
            { ...material, testnet: req.testnet },
            req.ip,
            { intakeRequestId: req.requestId },
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
