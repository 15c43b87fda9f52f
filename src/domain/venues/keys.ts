// Exchange-key onboarding and lifecycle (S7): the venue itself confirms a key's scopes before
// anything is stored; storing encrypts every secret field; listing never decrypts; revoking
// destroys the material; re-verification disables keys whose scopes changed at the venue.
import type { SecurityEvent } from "../accounts/repo";
import {
  type EncryptedCredential,
  type MarginMode,
  withDecryptedExchangeKeys,
} from "../vault/decrypt-scope";
import type { ExchangeKeyRing } from "../vault/key-ring";
import { warnExpiringKeys } from "./key-expiry";
import { setMarginMode } from "./margin-mode";
import type { Refusal, ScopeDecision, Warning } from "./scope-policy";
import { type ScopeReport, type Venue, VenueError, type VenueId } from "./types";

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
  insert(
    userId: string,
    venue: VenueId,
    label: string,
    m: StoredMaterial,
  ): Promise<CredentialRecord>;
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

export interface KeyServiceDeps {
  repo: CredentialsRepo;
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

export function createKeyService(deps: KeyServiceDeps) {
  const { repo } = deps;

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
    /** Verifies with the venue, then stores the key encrypted. The Buffers are zeroed after. */
    async connect(
      userId: string,
      venue: VenueId,
      label: string,
      material: KeyMaterial,
      ip: string | null = null,
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
        const record = await repo.insert(
          userId,
          venue,
          label || venueLabel(venue, material.testnet === true),
          seal(venue, material, decision, report),
        );
        await deps.recordEvent({
          userId,
          kind: "key_added",
          outcome: "ok",
          ip,
          details: { venue, credentialId: record.id },
        });
        return record;
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

    /** Replaces the key material of one credential after the venue confirmed the new key. */
    async rotate(userId: string, id: string, material: KeyMaterial, ip: string | null = null) {
      try {
        const current = await repo.get(userId, id);
        if (!current || current.revokedAt) throw new KeyNotFound();
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
        if (!(await repo.replaceMaterial(id, seal(current.venue, material, decision, report))))
          throw new KeyNotFound();
        await deps.recordEvent({
          userId,
          kind: "key_rotated",
          outcome: "ok",
          ip,
          details: { venue: current.venue, credentialId: id },
        });
        return (await repo.get(userId, id))!;
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

    /** Re-verifies the keys that expire within a week and warns their owners (key-expiry.ts). */
    warnExpiring: (now?: Date) => warnExpiringKeys({ ...deps, repo }, now),

    /** S7.2: checks every active key again; disables and reports the ones the venue changed. */
    async reverifyAll(batch = 100) {
      const out = { checked: 0, disabled: 0, unreachable: 0 };
      let after = "0";
      for (;;) {
        const rows = await repo.activeAfter(after, batch);
        if (rows.length === 0) break;
        after = rows[rows.length - 1]!.id;
        for (const c of rows) {
          out.checked++;
          let reason: string | null = null;
          try {
            const report = await withDecryptedExchangeKeys(deps.keyRing, c.encrypted, (keys) =>
              deps.venues[c.venue].verifyScopes(keys),
            );
            const decision = deps.evaluate(report);
            if (decision.ok) {
              await repo.markVerified(c.id, decision.scopes, decision.warnings, report.expiresAt);
              continue;
            }
            reason = `it now allows ${decision.refused.map((r) => r.permission).join(", ")}`;
          } catch (err) {
            // One key's failure must never stop the check of the keys after it.
            if (
              err instanceof VenueError &&
              ["invalid_key", "permission_denied", "unsupported_credentials"].includes(err.code)
            ) {
              reason = "the venue no longer accepts it (revoked, expired, or bound to another IP)";
            } else {
              out.unreachable++;
              continue;
            }
          }
          if (await repo.disable(c.id, reason)) {
            out.disabled++;
            await deps.recordEvent({
              userId: c.userId,
              kind: "key_disabled",
              outcome: "detected",
              details: { venue: c.venue, credentialId: c.id, reason },
            });
            await deps
              .notify(
                c.userId,
                `⚠️ Your ${venueLabel(c.venue, c.testnet)} key "${c.label}" (${c.keyHint ?? "…"}) was disabled: ${reason}. ` +
                  "Warden will not trade with it. Fix it on the venue, then rotate it with /keys.",
              )
              // The key is disabled either way; a user who blocked the bot must not stop the run.
              .catch(() => {});
          }
        }
      }
      return out;
    },
  };
}

export type KeyService = ReturnType<typeof createKeyService>;
