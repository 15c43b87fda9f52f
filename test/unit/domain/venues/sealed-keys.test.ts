// Sealed key intake (issue 19), the pure parts: the packing of key material (no field can run
// into the next, a damaged blob is refused), the caller's Buffers zeroed once sealed, and the
// envelope bound to its intake request (id and expiry) as well as to the user and the venue.
import { describe, expect, it } from "vitest";
import {
  envelopeIdentity,
  generateIntakeKey,
  parseIntakeKeys,
  SealedIntakeError,
} from "../../../../src/domain/vault";
import {
  packMaterial,
  sealKeyMaterial,
  unpackMaterial,
} from "../../../../src/domain/venues/sealed-keys";

const ring = parseIntakeKeys(`1:${generateIntakeKey()}`);
const request = { id: "0123456789abcdef0123456789abcdef", expiresAt: 1_900_000_000_000 };

function seal() {
  return sealKeyMaterial(ring.publicKeys(), {
    userId: "42",
    venue: "bybit",
    material: { apiKey: Buffer.from("KEY-abc"), secret: Buffer.from("SECRET-xyz") },
    requestId: request.id,
    expiresAt: request.expiresAt,
  });
}

function openCode(envelope: string, purpose: Parameters<typeof ring.open>[1]): string {
  try {
    ring.open(envelope, purpose).fill(0);
    return "opened";
  } catch (err) {
    if (err instanceof SealedIntakeError) return err.code;
    throw err;
  }
}

describe("sealed key material", () => {
  it("when material is packed and unpacked, then every field comes back and an absent one stays absent", () => {
    const packed = packMaterial({
      apiKey: Buffer.from(""),
      secret: Buffer.from("s3cr3t"),
      walletAddress: "0xabc",
    });
    const m = unpackMaterial(packed)!;
    expect(m.apiKey?.toString()).toBe("");
    expect(m.secret?.toString()).toBe("s3cr3t");
    expect(m.privateKey).toBeUndefined();
    expect(m.walletAddress).toBe("0xabc");
  });

  it("when a packed blob is cut short or has bytes left over, then it is refused", () => {
    const packed = packMaterial({ apiKey: Buffer.from("k"), secret: Buffer.from("s") });
    expect(unpackMaterial(packed.subarray(0, packed.length - 1))).toBeNull();
    expect(unpackMaterial(Buffer.concat([packed, Buffer.from([0])]))).toBeNull();
    expect(unpackMaterial(Buffer.alloc(0))).toBeNull();
  });

  it("when material is sealed, then the caller's Buffers are zero-filled and the envelope names the intake key version", () => {
    const apiKey = Buffer.from("KEY-abc");
    const secret = Buffer.from("SECRET-xyz");
    const envelope = sealKeyMaterial(ring.publicKeys(), {
      userId: "42",
      venue: "bybit",
      material: { apiKey, secret },
      requestId: request.id,
      expiresAt: request.expiresAt,
    });
    expect(apiKey.every((b) => b === 0)).toBe(true);
    expect(secret.every((b) => b === 0)).toBe(true);
    expect(envelope).not.toContain("SECRET");
    expect(envelopeIdentity(envelope).version).toBe(1);
  });

  it("when an envelope is opened for its own request, then it opens; for another request id, expiry, user or without a request, then it does not", () => {
    const envelope = seal();
    const own = { userId: "42", venue: "bybit", request };
    expect(openCode(envelope, own)).toBe("opened");
    expect(openCode(envelope, { ...own, request: { ...request, id: "f".repeat(32) } })).toBe(
      "INTAKE_OPEN_FAILED",
    );
    expect(
      openCode(envelope, { ...own, request: { ...request, expiresAt: request.expiresAt + 1 } }),
    ).toBe("INTAKE_OPEN_FAILED");
    expect(openCode(envelope, { ...own, userId: "43" })).toBe("INTAKE_OPEN_FAILED");
    expect(openCode(envelope, { userId: "42", venue: "bybit" })).toBe("INTAKE_OPEN_FAILED");
  });

  it("when two envelopes seal the same material, then their identities differ (a fresh encapsulation each)", () => {
    expect(envelopeIdentity(seal()).encHash.equals(envelopeIdentity(seal()).encHash)).toBe(false);
  });
});
