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
  intakePurposeOf,
  packMaterial,
  type SealedKeyRequest,
  sealKeyMaterial,
  unpackMaterial,
} from "../../../../src/domain/venues/sealed-keys";

const ring = parseIntakeKeys(`1:${generateIntakeKey()}`);
const request = { id: "0123456789abcdef0123456789abcdef", expiresAt: 1_900_000_000_000 };

const job: Omit<SealedKeyRequest, "envelope"> = {
  action: "connect",
  requestId: request.id,
  userId: "42",
  venue: "bybit",
  label: "main",
  testnet: true,
  expiresAt: request.expiresAt,
  ip: "203.0.113.9",
};

function seal(fields = job) {
  return sealKeyMaterial(ring.publicKeys(), fields, {
    apiKey: Buffer.from("KEY-abc"),
    secret: Buffer.from("SECRET-xyz"),
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
    const envelope = sealKeyMaterial(ring.publicKeys(), job, { apiKey, secret });
    expect(apiKey.every((b) => b === 0)).toBe(true);
    expect(secret.every((b) => b === 0)).toBe(true);
    expect(envelope).not.toContain("SECRET");
    expect(envelopeIdentity(envelope).version).toBe(1);
  });

  it("when an envelope is opened for its own request, then it opens; for another request id, expiry, user or without a request, then it does not", () => {
    const envelope = seal();
    const own = intakePurposeOf(job);
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

  it("when any field the signer acts on differs from what was sealed (action, target key, network, label, IP, venue), then it does not open", () => {
    const envelope = seal();
    expect(openCode(envelope, intakePurposeOf(job))).toBe("opened");
    const altered: Array<Omit<SealedKeyRequest, "envelope">> = [
      { ...job, action: "rotate", credentialId: "7" },
      { ...job, credentialId: "7" },
      { ...job, testnet: false },
      { ...job, label: "other" },
      { ...job, ip: "198.51.100.1" },
      { ...job, ip: null },
      { ...job, venue: "binanceusdm" },
    ];
    for (const fields of altered) {
      expect(openCode(envelope, intakePurposeOf(fields)), JSON.stringify(fields)).toBe(
        "INTAKE_OPEN_FAILED",
      );
    }
    const rotation = { ...job, action: "rotate" as const, credentialId: "7" };
    const rotated = seal(rotation);
    expect(openCode(rotated, intakePurposeOf(rotation))).toBe("opened");
    expect(openCode(rotated, intakePurposeOf({ ...rotation, credentialId: "8" }))).toBe(
      "INTAKE_OPEN_FAILED",
    );
  });

  it("when two envelopes seal the same material, then their identities differ (a fresh encapsulation each)", () => {
    expect(envelopeIdentity(seal()).encHash.equals(envelopeIdentity(seal()).encHash)).toBe(false);
  });
});
