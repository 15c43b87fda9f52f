// RFC 9180 base mode against the RFC's own test vectors (Appendix A.1.1 and A.2.1, committed
// under test/fixtures/hpke/): key derivation, encapsulation, key schedule, sealing, export.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import {
  AEAD_AES_128_GCM,
  AEAD_CHACHA20_POLY1305,
  decap,
  deriveKeyPair,
  encap,
  type HpkeAead,
  HpkeOpenError,
  keySchedule,
  openBase,
  sealBase,
  setupBaseR,
  setupBaseS,
} from "../../../../src/domain/vault/hpke";

interface Vector {
  name: string;
  mode: number;
  kem_id: number;
  kdf_id: number;
  aead_id: number;
  info: string;
  ikmE: string;
  pkEm: string;
  skEm: string;
  ikmR: string;
  pkRm: string;
  skRm: string;
  enc: string;
  shared_secret: string;
  key_schedule_context: string;
  secret: string;
  key: string;
  base_nonce: string;
  exporter_secret: string;
  encryptions: Array<{ seq: number; pt: string; aad: string; nonce: string; ct: string }>;
  exports: Array<{ exporter_context: string; L: number; exported_value: string }>;
}

const fixture = JSON.parse(
  readFileSync(
    resolve(import.meta.dirname, "../../../fixtures/hpke/rfc9180-base-x25519.json"),
    "utf8",
  ),
) as { suites: Vector[] };

const AEADS: Record<number, HpkeAead> = { 1: AEAD_AES_128_GCM, 3: AEAD_CHACHA20_POLY1305 };
const h = (hex: string) => Buffer.from(hex, "hex");
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

describe("HPKE base mode (RFC 9180)", () => {
  it("when the fixture is read, then it holds the A.1.1 and A.2.1 base-mode X25519 suites", () => {
    expect(fixture.suites.map((s) => [s.mode, s.kem_id, s.kdf_id, s.aead_id])).toEqual([
      [0, 32, 1, 1],
      [0, 32, 1, 3],
    ]);
  });

  for (const v of fixture.suites) {
    const aead = AEADS[v.aead_id]!;
    describe(v.name, () => {
      it("when key pairs are derived from ikmE and ikmR, then they are skEm/pkEm and skRm/pkRm", () => {
        const e = deriveKeyPair(h(v.ikmE));
        const r = deriveKeyPair(h(v.ikmR));
        expect([hex(e.privateKey), hex(e.publicKey)]).toEqual([v.skEm, v.pkEm]);
        expect([hex(r.privateKey), hex(r.publicKey)]).toEqual([v.skRm, v.pkRm]);
      });

      it("when the sender encapsulates with skEm and the recipient decapsulates, then both get shared_secret and enc", () => {
        const sent = encap(h(v.pkRm), h(v.skEm));
        expect(hex(sent.enc)).toBe(v.enc);
        expect(hex(sent.sharedSecret)).toBe(v.shared_secret);
        expect(hex(decap(h(v.enc), h(v.skRm)))).toBe(v.shared_secret);
      });

      it("when the key schedule runs on shared_secret and info, then key, base_nonce and exporter_secret match", () => {
        const { context, keyScheduleContext } = keySchedule(aead, h(v.shared_secret), h(v.info));
        expect(hex(keyScheduleContext)).toBe(v.key_schedule_context);
        expect(hex(context.key)).toBe(v.key);
        expect(hex(context.baseNonce)).toBe(v.base_nonce);
        expect(hex(context.exporterSecret)).toBe(v.exporter_secret);
      });

      it("when messages are sealed and opened in sequence, then each ciphertext matches its sequence number's vector", () => {
        const { enc, context: sender } = setupBaseS(aead, h(v.pkRm), h(v.info), h(v.skEm));
        const receiver = setupBaseR(aead, enc, h(v.skRm), h(v.info));
        const bySeq = new Map(v.encryptions.map((e) => [e.seq, e]));
        const last = Math.max(...bySeq.keys());
        for (let seq = 0; seq <= last; seq += 1) {
          const e = bySeq.get(seq);
          const aad = e ? h(e.aad) : Buffer.from(`filler ${seq}`);
          const pt = e ? h(e.pt) : Buffer.from("filler");
          const ct = sender.seal(aad, pt);
          if (e) expect(hex(ct), `seq ${seq}`).toBe(e.ct);
          expect(hex(receiver.open(aad, ct))).toBe(hex(pt));
        }
        expect(bySeq.size).toBe(6);
      });

      it("when values are exported, then they match the exported values", () => {
        const context = setupBaseR(aead, h(v.enc), h(v.skRm), h(v.info));
        for (const x of v.exports) {
          expect(hex(context.export(h(x.exporter_context), x.L))).toBe(x.exported_value);
        }
      });

      it("when the single-shot seal uses skEm, then it gives the sequence-0 ciphertext, and open returns pt", () => {
        const first = v.encryptions.find((e) => e.seq === 0)!;
        const sealed = sealBase(aead, h(v.pkRm), h(v.info), h(first.aad), h(first.pt), h(v.skEm));
        expect([hex(sealed.enc), hex(sealed.ciphertext)]).toEqual([v.enc, first.ct]);
        const opened = openBase(aead, h(v.enc), h(v.skRm), h(v.info), h(first.aad), h(first.ct));
        expect(hex(opened)).toBe(first.pt);
      });

      it("when any byte of the vector's ciphertext, enc, aad or info changes, then open fails with no output", () => {
        const first = v.encryptions.find((e) => e.seq === 0)!;
        const flip = (hexText: string, at: number) => {
          const b = h(hexText);
          b[at]! ^= 0x01;
          return b;
        };
        const attempts = [
          () => openBase(aead, h(v.enc), h(v.skRm), h(v.info), h(first.aad), flip(first.ct, 0)),
          () => openBase(aead, h(v.enc), h(v.skRm), h(v.info), h(first.aad), flip(first.ct, 44)),
          () => openBase(aead, flip(v.enc, 5), h(v.skRm), h(v.info), h(first.aad), h(first.ct)),
          () => openBase(aead, h(v.enc), h(v.skRm), h(v.info), flip(first.aad, 0), h(first.ct)),
          () => openBase(aead, h(v.enc), h(v.skRm), flip(v.info, 0), h(first.aad), h(first.ct)),
          () => openBase(aead, h(v.enc), h(v.skEm), h(v.info), h(first.aad), h(first.ct)),
          () =>
            openBase(
              aead,
              h(v.enc),
              h(v.skRm),
              h(v.info),
              h(first.aad),
              h(first.ct).subarray(0, 15),
            ),
        ];
        for (const attempt of attempts) expect(attempt).toThrow(HpkeOpenError);
      });
    });
  }

  it("when enc is a low-order X25519 point, then open fails instead of using an all-zero secret", () => {
    const { privateKey } = deriveKeyPair(Buffer.alloc(32, 7));
    const lowOrder = [Buffer.alloc(32), Buffer.concat([Buffer.from([1]), Buffer.alloc(31)])];
    for (const enc of lowOrder) {
      expect(() =>
        openBase(
          AEAD_CHACHA20_POLY1305,
          enc,
          privateKey,
          Buffer.alloc(0),
          Buffer.alloc(0),
          Buffer.alloc(32),
        ),
      ).toThrow(HpkeOpenError);
    }
  });

  it("when a context is logged or inspected, then none of its secrets is printed", async () => {
    const { inspect } = await import("node:util");
    const { publicKey } = deriveKeyPair(Buffer.alloc(32, 7));
    const { context } = setupBaseS(AEAD_CHACHA20_POLY1305, publicKey, Buffer.from("i"));
    const printed = `${JSON.stringify({ context })} ${inspect(context, { depth: 5 })}`;
    for (const secret of [context.key, context.baseNonce, context.exporterSecret]) {
      expect(printed).not.toContain(Buffer.from(secret).toString("hex"));
    }
    expect(printed).not.toMatch(/Uint8Array|Buffer|\d+, \d+, \d+/);
  });

  it("when a context is disposed, then its key, nonce and exporter secret are zero and it refuses to seal", () => {
    const { publicKey } = deriveKeyPair(Buffer.alloc(32, 9));
    const { context } = setupBaseS(AEAD_CHACHA20_POLY1305, publicKey, Buffer.from("i"));
    context.dispose();
    expect(
      [context.key, context.baseNonce, context.exporterSecret].every((b) =>
        b.every((x) => x === 0),
      ),
    ).toBe(true);
    expect(() => context.seal(Buffer.alloc(0), Buffer.from("x"))).toThrow(/disposed/);
  });
});
