// Vault benchmarks: Fernet encrypt/decrypt rates of a 64-byte secret on one core, beside
// Python cryptography's rates measured in the same run, since 2× Python is the target.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { decrypt, encrypt, generateFernetKey, parseFernetKey } from "../src/domain/vault/fernet";
import { benchRotation } from "./rotation";
import { type Figure, figure, MIN_ROUNDS, printFigure, stats } from "./rounds";

const MESSAGE_BYTES = 64;

export interface BenchFernetOptions {
  /** Measured seconds per operation and language (after a short warm-up). */
  seconds?: number;
  /** Alternating rounds per side (at least three). */
  rounds?: number;
  /** Do not print the figures (a caller prints them itself). */
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

/** Node's rates in this process for one round (encrypt, then decrypt). */
function measureNode(seconds: number): { encrypt: number; decrypt: number } {
  const key = parseFernetKey(generateFernetKey());
  const message = randomBytes(MESSAGE_BYTES);
  const token = encrypt(key, message);
  let sink = 0; // keeps results observable so nothing is optimised away
  const rates = {
    encrypt: opsPerSecond(() => {
      sink += encrypt(key, message).length;
    }, seconds),
    decrypt: opsPerSecond(() => {
      sink += decrypt(key, token).length;
    }, seconds),
  };
  if (sink < 0) console.log(sink);
  return rates;
}

/**
 * Fernet rates for a 64-byte secret on one core: Node and Python `cryptography` in alternating
 * rounds (never at the same time, so neither steals the other's core), median of each side.
 * Target: ≥ 3× Python for both operations.
 */
export async function benchFernet(opts: BenchFernetOptions = {}): Promise<Figure[]> {
  const seconds = opts.seconds ?? 1.5;
  const rounds = Math.max(MIN_ROUNDS, opts.rounds ?? MIN_ROUNDS);
  const node = { encrypt: [] as number[], decrypt: [] as number[] };
  const python = { encrypt: [] as number[], decrypt: [] as number[] };
  let pythonInfo = "";
  const runNode = () => {
    const r = measureNode(seconds);
    node.encrypt.push(r.encrypt);
    node.decrypt.push(r.decrypt);
  };
  const runPython = async () => {
    const r = await measurePython(seconds);
    if (typeof r === "string") throw new Error(`Fernet anchor unavailable: ${r}`);
    python.encrypt.push(r.encrypt);
    python.decrypt.push(r.decrypt);
    pythonInfo = `Python ${r.python}, cryptography ${r.cryptography}`;
  };
  for (let i = 0; i < rounds; i++) {
    if (i % 2 === 0) {
      runNode();
      await runPython();
    } else {
      await runPython();
      runNode();
    }
  }
  const figures = (["encrypt", "decrypt"] as const).map((op) =>
    figure({
      id: `fernet.${op}`,
      what: `Fernet ${op}, ${MESSAGE_BYTES}-byte secret, one core (Node ${process.version} node:crypto)`,
      unit: "ops/s",
      ours: stats(node[op]),
      anchorLabel: pythonInfo,
      anchor: stats(python[op]),
      target: { op: ">=", value: 3, text: "≥ 3× Python" },
    }),
  );
  if (!opts.quiet) {
    console.log(`\nFernet, ${rounds} alternating rounds of ${seconds} s per side and operation`);
    for (const f of figures) printFigure(f);
  }
  return figures;
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
