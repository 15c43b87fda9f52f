// Vault benchmarks: Fernet encrypt/decrypt rates of a 64-byte secret on one core, beside
// Python cryptography's rates measured in the same run, since 2× Python is the target.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { decrypt, encrypt, generateFernetKey, parseFernetKey } from "../src/domain/vault/fernet";
import { benchRotation } from "./rotation";

const MESSAGE_BYTES = 64;

export interface BenchFernetOptions {
  /** Measured seconds per operation and language (after a short warm-up). */
  seconds?: number;
  /** Do not print the table (a caller such as bench/index.ts prints the figures itself). */
  quiet?: boolean;
}

/** Runs `op` in batches until `seconds` have passed; batches keep clock reads off the profile. */
function opsPerSecond(op: () => void, seconds: number): number {
  const warmUntil = performance.now() + Math.min(300, seconds * 250);
  while (performance.now() < warmUntil) for (let i = 0; i < 500; i++) op();
  const start = performance.now();
  const stop = start + seconds * 1000;
  let count = 0;
  let now = start;
  while (now < stop) {
    for (let i = 0; i < 1000; i++) op();
    count += 1000;
    now = performance.now();
  }
  return (count * 1000) / (now - start);
}

// Same shape of loop as opsPerSecond, so both sides pay the same bookkeeping.
const PYTHON_BENCH = `
import json, os, sys, time
import cryptography
from cryptography.fernet import Fernet

seconds = float(sys.argv[1])
f = Fernet(Fernet.generate_key())
msg = os.urandom(${MESSAGE_BYTES})
token = f.encrypt(msg)

def rate(op):
    warm_until = time.perf_counter() + min(0.3, seconds / 4)
    while time.perf_counter() < warm_until:
        for _ in range(500):
            op()
    start = time.perf_counter()
    stop = start + seconds
    count = 0
    now = start
    while now < stop:
        for _ in range(1000):
            op()
        count += 1000
        now = time.perf_counter()
    return count / (now - start)

enc = rate(lambda: f.encrypt(msg))
dec = rate(lambda: f.decrypt(token))
json.dump({"encrypt": enc, "decrypt": dec, "cryptography": cryptography.__version__,
           "python": sys.version.split()[0]}, sys.stdout)
`;

interface PythonRates {
  encrypt: number;
  decrypt: number;
  cryptography: string;
  python: string;
}

/** Python's rates, or the reason they could not be measured (no python3 / cryptography). */
function measurePython(seconds: number): Promise<PythonRates | string> {
  return new Promise((done) => {
    const child = spawn("python3", ["-c", PYTHON_BENCH, String(seconds)], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8");
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
    });
    child.on("error", (err) => done(`python3 not runnable (${err.message})`));
    child.on("close", (code) => {
      if (code !== 0) {
        const last = stderr.trim().split("\n").pop() ?? "";
        done(`python3 exited with ${code}: ${last}`);
        return;
      }
      done(JSON.parse(stdout) as PythonRates);
    });
  });
}

const fmt = (n: number | undefined): string =>
  n === undefined || !Number.isFinite(n) ? "n/a" : Math.round(n).toLocaleString("en-US");

/**
 * Fernet rates for a 64-byte secret: Node first, then Python (sequentially, so neither steals
 * the other's core). Keys: fernet.{encrypt,decrypt}.{node,python,ratio} in ops/s and ×.
 */
export async function benchFernet(opts: BenchFernetOptions = {}): Promise<Record<string, number>> {
  const seconds = opts.seconds ?? 1.5;
  const key = parseFernetKey(generateFernetKey());
  const message = randomBytes(MESSAGE_BYTES);
  const token = encrypt(key, message);
  let sink = 0; // keeps results observable so nothing is optimised away

  const nodeEncrypt = opsPerSecond(() => {
    sink += encrypt(key, message).length;
  }, seconds);
  const nodeDecrypt = opsPerSecond(() => {
    sink += decrypt(key, token).length;
  }, seconds);
  const python = await measurePython(seconds);

  const results: Record<string, number> = {
    "fernet.encrypt.node": nodeEncrypt,
    "fernet.decrypt.node": nodeDecrypt,
  };
  if (typeof python !== "string") {
    results["fernet.encrypt.python"] = python.encrypt;
    results["fernet.decrypt.python"] = python.decrypt;
    results["fernet.encrypt.ratio"] = nodeEncrypt / python.encrypt;
    results["fernet.decrypt.ratio"] = nodeDecrypt / python.decrypt;
  }

  if (!opts.quiet) {
    const against =
      typeof python === "string"
        ? `Python: ${python}`
        : `Python ${python.python}, cryptography ${python.cryptography}`;
    const rows = (["encrypt", "decrypt"] as const).map((op) => {
      const ratio = results[`fernet.${op}.ratio`];
      return [
        op.padEnd(9),
        fmt(results[`fernet.${op}.node`]).padStart(14),
        fmt(results[`fernet.${op}.python`]).padStart(14),
        (ratio === undefined ? "n/a" : `${ratio.toFixed(2)}×`).padStart(12),
      ].join("");
    });
    console.log(
      [
        "",
        `Fernet, ${MESSAGE_BYTES}-byte secret, one core, ${seconds} s per figure`,
        `Node ${process.version} (node:crypto) vs ${against}`,
        `${"operation".padEnd(9)}${"Node ops/s".padStart(14)}${"Python ops/s".padStart(14)}${"Node/Python".padStart(12)}`,
        "-".repeat(49),
        ...rows,
        "",
      ].join("\n"),
    );
  }
  if (sink < 0) console.log(sink);
  return results;
}

async function main(): Promise<void> {
  await benchFernet();
  await benchRotation();
}

const invokedDirectly =
  process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
