// Exchange-key onboarding and lifecycle (S7): the venue itself confirms a key's scopes before
// anything is stored; storing encrypts every secret field; listing never decrypts; revoking
// destroys the material. Nothing here decrypts a stored key: re-verification, which does, is
// ./key-checks.ts (the signer's), so a process without the key ring can hold this service.
import type { SecurityEvent } from "../accounts/repo";
import type { MarginMode } from "../vault/decrypt-scope";
import type { ExchangeKeyRing } from "../vault/key-ring";
import {
  type CredentialsRepo,
  type KeyMaterial,
  KeyNotFound,
  KeyRefused,
  KeyRotatedSince,
  type MaterialWriter,
  maskKey,
  type RotationRequest,
  refusalMessage,
  type StoredMaterial,
  VENUE_NAMES,
  venueLabel,
} from "./key-records";
import { setMarginMode } from "./margin-mode";
import type { ScopeDecision } from "./scope-policy";
import { type ScopeReport, type Venue, VenueError, type VenueId } from "./types";

export * from "./key-records";

/** What a use case writes together: inside `KeyServiceDeps.atomically`, one commit or none. */
export interface KeyWrites {
  repo: CredentialsRepo;
  recordEvent: (e: SecurityEvent) => Promise<void>;
  /** Records the answer of the sealed intake request that stored the key (its claim). */
  settleIntake: (requestId: string, answer: { ok: true; credentialId: string }) => Promise<void>;
}

export interface KeyServiceDeps {
  repo: CredentialsRepo;
  /**
   * Runs `fn` in one transaction: a key stored, its event and its intake request's answer commit
   * together or not at all. Without it (tests of the rules alone) the writes go one by one and
   * the intake answer is left to the caller.
   */
  atomically?: <T>(fn: (w: KeyWrites) => Promise<T>) => Promise<T>;
  keyRing: ExchangeKeyRing;
  venues: Record<VenueId, Venue>;
  evaluate: (report: ScopeReport) => ScopeDecision;
  recordEvent: (e: SecurityEvent) => Promise<void>;
  /** Tells a user something happened to a key (Telegram for now, alerts later). */
  notify: (userId: string, text: string) => Promise<void>;
  newPaperAccount: () => string;
}

const LABEL = /^[\p{L}\p{N} ._-]{0,64}$/u;

function requireMaterial(venue: VenueId, m: KeyMaterial): void {
  const missing = (what: string) =>
    new KeyRefused(`Missing ${what} for ${VENUE_NAMES[venue]}.`, []);
  if (venue === "binanceusdm" || venue === "bybit") {
    if (!m.apiKey?.length) throw missing("the API key");
    if (!m.secret?.length) throw missing("the API secret");
  }
  if (venue === "hyperliquid") {
    if (!m.walletAddress || !/^0x[0-9a-fA-F]{40}$/.test(m.walletAddress))
      throw missing("the master wallet address (0x…)");
    if (!m.privateKey?.length) throw missing("the API wallet's private key");
  }
}

/**
 * Whether `writer` is the request `r` itself, a request made at the same time or after it (whose
 * material must stay), or an older one (null: `r` may replace it).
 */
function writtenBy(writer: MaterialWriter, r: RotationRequest): "this" | "newer" | null {
  if (writer.requestId === r.requestId) return "this";
  if (writer.requestedAt !== null && writer.requestedAt.getTime() >= r.requestedAt.getTime()) {
    return "newer";
  }
  return null;
}

export function createKeyService(deps: KeyServiceDeps) {
  const { repo } = deps;
  const atomically =
    deps.atomically ??
    (<T>(fn: (w: KeyWrites) => Promise<T>) =>
      fn({ repo, recordEvent: deps.recordEvent, settleIntake: async () => {} }));

  async function verify(
    venue: VenueId,
    m: KeyMaterial,
  ): Promise<{ report: ScopeReport; decision: ScopeDecision }> {
    let report: ScopeReport;
    try {
      report = await deps.venues[venue].verifyScopes({
        apiKey: m.apiKey ?? null,
        secret: m.secret ?? null,
        privateKey: m.privateKey ?? null,
        walletAddress: m.walletAddress ?? null,
        testnet: m.testnet === true,
      });
    } catch (err) {
      if (
        err instanceof VenueError &&
        (err.code === "invalid_key" ||
          err.code === "permission_denied" ||
          err.code === "unsupported_credentials")
      ) {
        throw new KeyRefused(
          err.code === "unsupported_credentials"
            ? err.message
            : `Refused: ${VENUE_NAMES[venue]} rejected this key (invalid key). Check that you copied it whole and that it is active.`,
          [],
        );
      }
      throw err;
    }
    return { report, decision: deps.evaluate(report) };
  }

  function seal(
    venue: VenueId,
    m: KeyMaterial,
    decision: ScopeDecision & { ok: true },
    report: Pick<ScopeReport, "account" | "expiresAt">,
  ): StoredMaterial {
    const enc = (b: Buffer | null | undefined) =>
      b?.length ? deps.keyRing.encrypt(b).token : null;
    const hint =
      venue === "paper"
        ? (m.walletAddress ?? "")
        : venue === "hyperliquid"
          ? maskKey(m.walletAddress ?? report.account ?? "")
          : maskKey(m.apiKey?.toString() ?? "");
    return {
      apiKey: enc(m.apiKey),
      secret: enc(m.secret),
      privateKey: enc(m.privateKey),
      version: deps.keyRing.currentVersion,
      walletAddress: m.walletAddress ?? null,
      keyHint: hint,
      scopes: decision.scopes,
      warnings: decision.warnings,
      testnet: m.testnet === true,
      expiresAt: report.expiresAt,
    };
  }

  const zero = (m: KeyMaterial) => {
    m.apiKey?.fill(0);
    m.secret?.fill(0);
    m.privateKey?.fill(0);
  };

  return {
    /**
     * Verifies with the venue, then stores the key encrypted. The Buffers are zeroed after. With
     * `opts.intakeRequestId` (the signer's sealed intake) the request stores at most one key: a
     * run that finds its request's key stored already answers with that key.
     */
    async connect(
      userId: string,
      venue: VenueId,
      label: string,
      material: KeyMaterial,
      ip: string | null = null,
      opts: { intakeRequestId?: string } = {},
    ) {
      try {
        if (!LABEL.test(label))
          throw new KeyRefused("Labels are up to 64 letters, digits, spaces, . _ -.", []);
        if (venue === "paper" && material.testnet)
          throw new KeyRefused("Paper accounts have no testnet: they are simulated already.", []);
        if (venue === "paper") material.walletAddress = deps.newPaperAccount();
        requireMaterial(venue, material);
        const { report, decision } = await verify(venue, material);
        if (!decision.ok) {
          await deps.recordEvent({
            userId,
            kind: "key_refused",
            outcome: "refused",
            ip,
            details: { venue, permissions: decision.refused.map((r) => r.permission) },
          });
          throw new KeyRefused(
            refusalMessage(venue, decision.refused),
            decision.refused,
            decision.warnings,
          );
        }
        const { intakeRequestId } = opts;
        const sealed = seal(venue, material, decision, report);
        const stored = await atomically(async (w) => {
          const record = await w.repo.insert(
            userId,
            venue,
            label || venueLabel(venue, material.testnet === true),
            sealed,
            intakeRequestId,
          );
          if (record === null) return null;
          await w.recordEvent({
            userId,
            kind: "key_added",
            outcome: "ok",
            ip,
            details: { venue, credentialId: record.id },
          });
          if (intakeRequestId) {
            await w.settleIntake(intakeRequestId, { ok: true, credentialId: record.id });
          }
          return record;
        });
        if (stored === null) {
          // Another run of the same intake request stored it first (and recorded it).
          const first = intakeRequestId && (await repo.byIntakeRequest(userId, intakeRequestId));
          if (!first) throw new Error("an intake request's key was stored but cannot be read");
          return first;
        }
        return stored;
      } catch (err) {
        if (err instanceof KeyRefused && err.refusals.length === 0) {
          await deps.recordEvent({
            userId,
            kind: "key_refused",
            outcome: "refused",
            ip,
            details: { venue, reason: "invalid_key" },
          });
        }
        throw err;
      } finally {
        zero(material);
      }
    },

    list: (userId: string) => repo.list(userId),

    /** Cross or isolated margin for a Hyperliquid key's orders (margin-mode.ts). */
    setMarginMode: (userId: string, id: string, mode: MarginMode, ip: string | null = null) =>
      setMarginMode(
        { repo, recordEvent: deps.recordEvent },
        { userId, credentialId: id, mode, ip },
      ),

    /**
     * Replaces the key material of one credential after the venue confirmed the new key. With
     * `opts.intake` (the signer's sealed intake) a request rotates at most once: a run that finds
     * its own material stored answers with the key, and a request older than the one whose
     * material is stored is refused (KeyRotatedSince) rather than put back over it. The store,
     * its event and the request's answer commit together.
     */
    async rotate(
      userId: string,
      id: string,
      material: KeyMaterial,
      ip: string | null = null,
      opts: { intake?: RotationRequest } = {},
    ) {
      const { intake } = opts;
      try {
        const target = await repo.rotationTarget(userId, id);
        if (!target || target.record.revokedAt) throw new KeyNotFound();
        const current = target.record;
        // Checked again under the row's lock below; here it spares the venue a second check.
        if (intake) {
          const seen = writtenBy(target.writer, intake);
          if (seen === "this") return current;
          if (seen === "newer") throw new KeyRotatedSince();
        }
        if (current.venue === "paper")
          throw new KeyRefused("Paper accounts have no key to rotate.", []);
        if (current.venue === "hyperliquid" && !material.walletAddress)
          material.walletAddress = current.walletAddress;
        // The new key is checked on the network of the one it replaces.
        material.testnet = current.testnet;
        requireMaterial(current.venue, material);
        const { report, decision } = await verify(current.venue, material);
        if (!decision.ok) {
          await deps.recordEvent({
            userId,
            kind: "key_refused",
            outcome: "refused",
            ip,
            details: { venue: current.venue, credentialId: id },
          });
          throw new KeyRefused(
            refusalMessage(current.venue, decision.refused),
            decision.refused,
            decision.warnings,
          );
        }
        const sealed = seal(current.venue, material, decision, report);
        return await atomically(async (w) => {
          const locked = await w.repo.rotationTarget(userId, id, true);
          if (!locked || locked.record.revokedAt) throw new KeyNotFound();
          if (intake) {
            // Another run of this request, or a newer request, stored while the venue answered.
            const seen = writtenBy(locked.writer, intake);
            if (seen === "this") return locked.record;
            if (seen === "newer") throw new KeyRotatedSince();
          }
          if (!(await w.repo.replaceMaterial(id, sealed, intake))) throw new KeyNotFound();
          await w.recordEvent({
            userId,
            kind: "key_rotated",
            outcome: "ok",
            ip,
            details: {
              venue: current.venue,
              credentialId: id,
              ...(intake ? { requestId: intake.requestId } : {}),
            },
          });
          if (intake) await w.settleIntake(intake.requestId, { ok: true, credentialId: id });
          return (await w.repo.get(userId, id))!;
        });
      } finally {
        zero(material);
      }
    },

    async revoke(userId: string, id: string, ip: string | null = null) {
      const current = await repo.get(userId, id);
      if (!current || current.revokedAt || !(await repo.revoke(id))) throw new KeyNotFound();
      await deps.recordEvent({
        userId,
        kind: "key_revoked",
        outcome: "ok",
        ip,
        details: { venue: current.venue, credentialId: id },
      });
    },
  };
}

export type KeyService = ReturnType<typeof createKeyService>;
