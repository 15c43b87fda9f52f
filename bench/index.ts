// `npm run bench`: every benchmark in one run, each printing its figures and ratios.
import { benchAnomaly } from "./anomaly";
import { benchAudit } from "./audit";
import { benchAuth } from "./auth";
import { benchBackup } from "./backup";
import { benchRotation } from "./rotation";
import { benchFernet } from "./vault";

const results: Record<string, number> = {};
Object.assign(results, await benchFernet());
Object.assign(results, await benchRotation());
Object.assign(results, await benchAuth());
Object.assign(results, await benchAudit());
Object.assign(results, await benchBackup());
Object.assign(results, await benchAnomaly());

console.log("Summary");
for (const [name, value] of Object.entries(results)) {
  console.log(`  ${name.padEnd(28)} ${value.toFixed(value < 100 ? 2 : 0)}`);
}
