// RFC 6238 codes computed independently of otplib, for tests that act as an authenticator app.
import { createHmac } from "node:crypto";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

export function base32Decode(input: string): Buffer {
  const clean = input.replace(/=+$/, "").toUpperCase();
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const ch of clean) {
    const idx = ALPHABET.indexOf(ch);
    if (idx < 0) throw new Error(`not base32: ${ch}`);
    value = (value << 5) | idx;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** The code of 30-second step `step` (RFC 4226/6238, SHA-1, 6 digits). */
export function totpAt(secret: string, step: number): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac("sha1", base32Decode(secret)).update(counter).digest();
  const offset = mac[mac.length - 1]! & 0x0f;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, "0");
}

export const totpCode = (secret: string, atMs = Date.now()) =>
  totpAt(secret, Math.floor(atMs / 30_000));

/** The code of the next 30-second step (a fresh code without waiting for the clock). */
export const nextTotpCode = (secret: string) => totpCode(secret, Date.now() + 30_000);

export const stepNow = () => Math.floor(Date.now() / 30_000);

/**
 * Waits, when needed, until at least `needMs` remain in the current 30 s step, so codes of the
 * steps around it stay valid for the rest of the test. Returns the current step.
 */
export async function roomInStep(needMs = 8_000): Promise<number> {
  const into = Date.now() % 30_000;
  if (30_000 - into < needMs) await new Promise((r) => setTimeout(r, 30_000 - into + 150));
  return stepNow();
}
