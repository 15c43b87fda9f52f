// One encrypted backup or restore in a process of its own, so its peak RSS is its own: prints
// {"ms": …, "maxRssMB": …} as the last line. Used by bench/backup.ts.
import { createBackup, restoreBackup } from "../src/infra/backup";

const [op, url, key, path] = process.argv.slice(2);
const started = performance.now();
let verifyMs: number | undefined;
if (op === "create") {
  const b = await createBackup({ source: { url: url! }, key: key!, outDir: path! });
  console.log(JSON.stringify({ file: b.path, fileBytes: b.fileBytes, chunks: b.chunks }));
} else if (op === "restore") {
  await restoreBackup({
    path: path!,
    key: key!,
    target: { url: url! },
    onVerified: () => {
      verifyMs = performance.now() - started;
    },
  });
} else {
  throw new Error("usage: backup-child.ts create|restore URL KEY PATH");
}
const ms = performance.now() - started;
console.log(JSON.stringify({ ms, verifyMs, maxRssMB: process.resourceUsage().maxRSS / 1024 }));
