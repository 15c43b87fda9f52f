// TOTP second factor (S4.1, S4.2) on otplib: 160-bit base32 secrets, 30 s steps, 6 digits,
// ±1 step, and replay refusal by the caller's stored last-used step; secrets encrypted at rest.
import { generateSecret, NobleCryptoPlugin, ScureBase32Plugin, TOTP } from "otplib";
import {
  type AccountKeys,
  openAccountSecret,
  type RingedToken,
  sealAccountSecret,
} from "../vault/account-secrets";

export const TOTP_SECRET_BYTES = 20;
export const TOTP_PERIOD_SECONDS = 30;
export const TOTP_DIGITS = 6;
/** ±1 step: tolerates a phone clock half a minute off without widening the guessing window much. */
export const TOTP_WINDOW_STEPS = 1;
export const TOTP_ISSUER = "Warden";

const CODE_PATTERN = /^[0-9]{6}$/;
// A stateless TOTP-typed verifier (the functional API's result type also covers HOTP).
const totp = new TOTP({ crypto: new NobleCryptoPlugin(), base32: new ScureBase32Plugin() });

/** A fresh base32 secret of 20 random bytes (160 bits, RFC 4226's recommended size). */
export function generateTotpSecret(): string {
  return generateSecret({ length: TOTP_SECRET_BYTES });
}

/**
 * The provisioning URI for the QR code. Built by hand rather than with otplib's generateURI,
 * which leaves ':' in the account unencoded: an account name must not be able to move the
 * issuer/account split. Algorithm, digits and period are explicit for strict apps.
 */
export function otpauthUri(opts: { secret: string; account: string; issuer?: string }): string {
  const issuer = opts.issuer ?? TOTP_ISSUER;
  const label = `${encodeURIComponent(issuer)}:${encodeURIComponent(opts.account)}`;
  const query = [
    `secret=${opts.secret}`,
    `issuer=${encodeURIComponent(issuer)}`,
    "algorithm=SHA1",
    `digits=${TOTP_DIGITS}`,
    `period=${TOTP_PERIOD_SECONDS}`,
  ].join("&");
  return `otpauth://totp/${label}?${query}`;
}

/** The time step containing `nowMs`. */
export function totpStep(nowMs: number): number {
  return Math.floor(nowMs / 1000 / TOTP_PERIOD_SECONDS);
}

/** Spaces (and the odd dash people type, "123 456" / "123-456") are not part of the code. */
export function normaliseTotpCode(code: string): string {
  return code.replace(/[\s-]/g, "");
}

export type TotpVerification =
  | { ok: true; step: number }
  | { ok: false; reason: "invalid" | "replayed" };

export interface VerifyTotpInput {
  /** The base32 secret (decrypted). */
  secret: string;
  code: string;
  /** The step of the last accepted code for this user; null before the first use. */
  lastUsedStep: number | null;
  /** Current time in ms since the epoch (injectable clock). */
  now: number;
}

/**
 * Accepts a code from the previous, current or next step whose step is after `lastUsedStep`;
 * the caller must store the returned `step` (atomically with the check) so that code, and any
 * older one, is refused from then on (S4.2).
 */
export async function verifyTotp(input: VerifyTotpInput): Promise<TotpVerification> {
  const code = normaliseTotpCode(input.code);
  if (!CODE_PATTERN.test(code)) return { ok: false, reason: "invalid" };
  const epoch = Math.floor(input.now / 1000);
  const common = {
    secret: input.secret,
    epoch,
    period: TOTP_PERIOD_SECONDS,
    digits: TOTP_DIGITS,
    algorithm: "sha1",
    epochTolerance: TOTP_WINDOW_STEPS * TOTP_PERIOD_SECONDS,
  } as const;
  const last = input.lastUsedStep;
  const newestStep = totpStep(input.now) + TOTP_WINDOW_STEPS;
  // otplib skips steps ≤ afterTimeStep itself, so a code that happens to repeat in a newer
  // step of the window is still found; it refuses an afterTimeStep past the window, and then
  // no step can be fresh anyway.
  if (last === null || last < newestStep) {
    const fresh = await totp.verify(code, {
      ...common,
      ...(last === null ? {} : { afterTimeStep: last }),
    });
    if (fresh.valid) return { ok: true, step: fresh.timeStep };
    if (last === null) return { ok: false, reason: "invalid" };
  }
  // Only a code that is genuine for a used step counts as a replay, so the reason reveals
  // nothing to someone guessing.
  const any = await totp.verify(code, common);
  return { ok: false, reason: any.valid ? "replayed" : "invalid" };
}

/** Encrypts the base32 secret under the account ring's current key (S1.1); store all fields. */
export function encryptTotpSecret(keys: AccountKeys, secret: string): RingedToken {
  const plaintext = Buffer.from(secret, "utf8");
  try {
    return sealAccountSecret(keys, plaintext);
  } finally {
    plaintext.fill(0);
  }
}

/** Decrypts under the ring the row records (the master ring for a row not yet moved). */
export function decryptTotpSecret(keys: AccountKeys, stored: RingedToken): string {
  const plaintext = openAccountSecret(keys, stored);
  try {
    return plaintext.toString("utf8");
  } finally {
    plaintext.fill(0);
  }
}
