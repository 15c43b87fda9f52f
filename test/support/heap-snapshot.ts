// A heap snapshot of a running child process, for the secret scan (S1.3): the child is started
// with `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=<dir>` (heapSnapshotArgs), and SIGUSR2
// makes V8 collect garbage and write `Heap.*.heapsnapshot` there. What the snapshot holds is
// every string and object still reachable or not yet collected; ArrayBuffer contents (a
// Buffer's bytes) are not in it, so a zeroed Buffer and a live one look alike here.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Spawned } from "./process";

export function heapSnapshotArgs(dir: string): string[] {
  return ["--heapsnapshot-signal=SIGUSR2", `--diagnostic-dir=${dir}`];
}

/** Signals the child and waits for its snapshot file to be written whole; returns its text. */
export async function takeHeapSnapshot(
  proc: Spawned,
  dir: string,
  timeoutMs = 60_000,
): Promise<string> {
  const before = new Set(readdirSync(dir));
  const pid = proc.child.pid;
  if (pid === undefined) throw new Error("the process has no pid");
  process.kill(pid, "SIGUSR2");
  const deadline = Date.now() + timeoutMs;
  let lastSize = -1;
  for (;;) {
    if (Date.now() > deadline) throw new Error("no heap snapshot was written in time");
    const file = readdirSync(dir).find((f) => f.endsWith(".heapsnapshot") && !before.has(f));
    if (file) {
      const path = join(dir, file);
      const size = statSync(path).size;
      // Written in one go on the main thread; a whole snapshot is one JSON object.
      if (size > 0 && size === lastSize) {
        const text = readFileSync(path, "utf8");
        if (text.trimEnd().endsWith("}")) {
          JSON.parse(text);
          return text;
        }
      }
      lastSize = size;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}
