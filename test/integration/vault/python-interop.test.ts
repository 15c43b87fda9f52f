// Live interop with Python's `cryptography` Fernet: tokens must cross in both directions and
// survive MultiFernet rotation, so stored secrets stay readable by either implementation.

import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  decrypt,
  decryptWithTimestamp,
  encrypt,
  generateFernetKey,
  InvalidFernetToken,
  parseFernetKey,
  rotateToken,
} from "../../../src/domain/vault/fernet";

// Requests in, results out, one JSON document each way, so a whole test is one process spawn.
const PYTHON = `
import base64, json, sys
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

out = []
for r in json.load(sys.stdin):
    op = r["op"]
    if op == "encrypt":
        f = Fernet(r["key"])
        token = f.encrypt_at_time(base64.b64decode(r["plaintext_b64"]), r["timestamp"])
        out.append({"token": token.decode()})
    elif op == "decrypt":
        f = Fernet(r["key"])
        try:
            data = f.decrypt(r["token"])
            out.append({"plaintext_b64": base64.b64encode(data).decode(),
                        "timestamp": f.extract_timestamp(r["token"])})
        except InvalidToken:
            out.append({"error": "InvalidToken"})
    elif op == "rotate":
        mf = MultiFernet([Fernet(r["new_key"]), Fernet(r["old_key"])])
        out.append({"token": mf.rotate(r["token"]).decode()})
json.dump(out, sys.stdout)
`;

type PyRequest =
  | { op: "encrypt"; key: string; plaintext_b64: string; timestamp: number }
  | { op: "decrypt"; key: string; token: string }
  | { op: "rotate"; old_key: string; new_key: string; token: string };
interface PyResult {
  token?: string;
  plaintext_b64?: string;
  timestamp?: number;
  error?: string;
}

function probePython(): string | undefined {
  const probe = spawnSync("python3", ["-c", "import cryptography"], { encoding: "utf8" });
  if (probe.error) return "python3 is not installed";
  if (probe.status !== 0) return "the Python package 'cryptography' is not installed";
  return undefined;
}

const missing = probePython();
const skipNote = missing === undefined ? "" : ` [skipped: ${missing}]`;

function python(requests: PyRequest[]): PyResult[] {
  const run = spawnSync("python3", ["-c", PYTHON], {
    input: JSON.stringify(requests),
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  if (run.status !== 0) throw new Error(`python3 failed: ${run.stderr}`);
  return JSON.parse(run.stdout) as PyResult[];
}

const LENGTHS = [0, 1, 15, 16, 17, 64, 4096];
const samples: Array<{ label: string; bytes: Buffer }> = [
  ...LENGTHS.map((n) => ({ label: `${n} random bytes`, bytes: randomBytes(n) })),
  ...LENGTHS.filter((n) => n > 0).map((n) => ({
    label: `${n} bytes of UTF-8`,
    bytes: Buffer.from("ключ-🔑-秘密-é".repeat(n).slice(0, n), "utf8"),
  })),
];

describe("Fernet interop with Python cryptography (live)", () => {
  it.skipIf(missing !== undefined)(
    `when Warden encrypts, then Python decrypts every length to the same bytes and time${skipNote}`,
    () => {
      const key = generateFernetKey();
      const fernetKey = parseFernetKey(key);
      const tokens = samples.map((s, i) =>
        encrypt(fernetKey, s.bytes, { timestamp: 1_700_000_000 + i }),
      );
      const results = python(tokens.map((token) => ({ op: "decrypt", key, token })));
      results.forEach((r, i) => {
        expect(r.error, samples[i]!.label).toBeUndefined();
        expect(Buffer.from(r.plaintext_b64!, "base64").equals(samples[i]!.bytes)).toBe(true);
        expect(r.timestamp).toBe(1_700_000_000 + i);
      });
    },
  );

  it.skipIf(missing !== undefined)(
    `when Python encrypts, then Warden decrypts every length to the same bytes and time${skipNote}`,
    () => {
      const key = generateFernetKey();
      const results = python(
        samples.map((s, i) => ({
          op: "encrypt",
          key,
          plaintext_b64: s.bytes.toString("base64"),
          timestamp: 1_600_000_000 + i,
        })),
      );
      const fernetKey = parseFernetKey(key);
      results.forEach((r, i) => {
        const opened = decryptWithTimestamp(fernetKey, r.token!);
        expect(opened.plaintext.equals(samples[i]!.bytes), samples[i]!.label).toBe(true);
        expect(opened.timestamp).toBe(1_600_000_000 + i);
      });
    },
  );

  it.skipIf(missing !== undefined)(
    `when Python's MultiFernet rotates a Warden token, then Warden reads it under the new key${skipNote}`,
    () => {
      const oldKey = generateFernetKey();
      const newKey = generateFernetKey();
      const plain = Buffer.from("exchange-api-secret-🔑");
      const token = encrypt(parseFernetKey(oldKey), plain, { timestamp: 1_500_000_000 });
      const [rotated] = python([{ op: "rotate", old_key: oldKey, new_key: newKey, token }]);
      const opened = decryptWithTimestamp(parseFernetKey(newKey), rotated!.token!);
      expect(opened.plaintext.equals(plain)).toBe(true);
      expect(opened.timestamp).toBe(1_500_000_000);
      expect(() => decrypt(parseFernetKey(oldKey), rotated!.token!)).toThrow(InvalidFernetToken);
    },
  );

  it.skipIf(missing !== undefined)(
    `when Warden rotates a Python token, then Python reads it under the new key only${skipNote}`,
    () => {
      const oldKey = generateFernetKey();
      const newKey = generateFernetKey();
      const plain = randomBytes(64);
      const [made] = python([
        {
          op: "encrypt",
          key: oldKey,
          plaintext_b64: plain.toString("base64"),
          timestamp: 1_400_000_000,
        },
      ]);
      const rotated = rotateToken(parseFernetKey(oldKey), parseFernetKey(newKey), made!.token!);
      const [underNew, underOld] = python([
        { op: "decrypt", key: newKey, token: rotated },
        { op: "decrypt", key: oldKey, token: rotated },
      ]);
      expect(Buffer.from(underNew!.plaintext_b64!, "base64").equals(plain)).toBe(true);
      expect(underNew!.timestamp).toBe(1_400_000_000);
      expect(underOld!.error).toBe("InvalidToken");
    },
  );
});
