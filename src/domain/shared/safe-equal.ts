// The one constant-time comparison for secrets (S5.6): both sides are hashed to fixed-length
// digests first, so neither content nor length leaks through timing.
import { createHash, timingSafeEqual } from "node:crypto";

export function safeEqual(a: string | Buffer, b: string | Buffer): boolean {
  const da = createHash("sha256").update(a).digest();
  const db = createHash("sha256").update(b).digest();
  return timingSafeEqual(da, db);
}
