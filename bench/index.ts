// `npm run bench [-- NAME…] [--write]`: the benchmarks (all, or those named), each printing its
// figures; then a summary of every figure against its anchor. `--write` regenerates
// bench/RESULTS.md from this run (with the date and the machine).
import { benchAnomaly } from "./anomaly";
import { benchAudit } from "./audit";
import { benchAuth } from "./auth";
import { benchBackup } from "./backup";
import { benchLoad } from "./load";
import { writeResults } from "./results";
import { benchRotation } from "./rotation";
import { type Figure, met, num, spreadPct } from "./rounds";
import { benchSigner } from "./signer";
import { benchFernet } from "./vault";

const BENCHES: Record<string, () => Promise<Figure[]>> = {
  fernet: () => benchFernet(),
  rotation: () => benchRotation(),
  login: () => benchAuth(),
  audit: () => benchAudit(),
  backup: () => benchBackup(),
  anomaly: () => benchAnomaly(),
  signer: () => benchSigner(),
  // Not a ratio against an anchor: it prints its own report (and is left out of a bare run).
  load: async () => {
    await benchLoad();
    return [];
  },
};
const DEFAULT = Object.keys(BENCHES).filter((n) => n !== "load");

const args = process.argv.slice(2);
const write = args.includes("--write");
const names = args.filter((a) => !a.startsWith("--"));
const unknown = names.filter((n) => !(n in BENCHES));
if (unknown.length > 0) {
  console.error(
    `unknown benchmark: ${unknown.join(", ")}. Known: ${Object.keys(BENCHES).join(", ")}`,
  );
  process.exit(2);
}

const figures: Figure[] = [];
for (const name of names.length > 0 ? names : DEFAULT) {
  figures.push(...(await BENCHES[name]!()));
}

console.log("\nSummary (median of alternating rounds, ± half the spread)");
for (const f of figures) {
  const anchor = typeof f.anchor === "number" ? f.anchor : f.anchor.median;
  const verdict = met(f);
  console.log(
    `  ${f.id.padEnd(22)} ${`${num(f.ours.median)} ±${spreadPct(f.ours).toFixed(0)}%`.padStart(16)} ${f.unit.padEnd(10)} anchor ${num(anchor).padStart(10)}  ${f.ratio.toFixed(2)}×${verdict === undefined ? "" : verdict ? "  met" : "  NOT met"}`,
  );
}
if (write) {
  const file = await writeResults(figures, names);
  console.log(`\nwrote ${file}`);
}
