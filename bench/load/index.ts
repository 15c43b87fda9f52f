// `npm run bench -- load`: the load harness at full size (LOAD_TELEGRAM_USERS, default 1,000;
// LOAD_HTTP_CLIENTS, default 50), printing throughput, reply latency per command, errors, each
// process's peak RSS, and the consistency check. Exits non-zero when the check finds a problem.
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type LoadReport, runLoad } from "./harness";

export function printLoadReport(r: LoadReport): void {
  const ms = (x: number) => `${x.toFixed(0)} ms`;
  console.log(
    [
      "",
      `Load: ${r.actions.toLocaleString("en-US")} commands and requests in ${r.seconds.toFixed(1)} s = ${(r.actions / r.seconds).toFixed(1)}/s; Telegram 429 answers: ${r.telegram429}`,
      `${"command".padEnd(18)}${"n".padStart(7)}${"p50".padStart(10)}${"p95".padStart(10)}${"p99".padStart(10)}`,
      ...Object.entries(r.latencies).map(
        ([k, v]) =>
          `${k.padEnd(18)}${String(v.n).padStart(7)}${ms(v.p50).padStart(10)}${ms(v.p95).padStart(10)}${ms(v.p99).padStart(10)}`,
      ),
      `peak RSS: ${Object.entries(r.rssMB)
        .map(([k, v]) => `${k} ${v.toFixed(0)} MB`)
        .join(", ")}`,
      `errors: ${r.errors.length}${r.errors.length ? `\n  ${r.errors.slice(0, 10).join("\n  ")}` : ""}`,
      `consistency: ${r.consistency.acknowledgedOpens} acknowledged opens, ${r.consistency.acknowledgedCloses} closes; ${r.consistency.problems.length === 0 ? "each has exactly one audit row and one venue order" : `PROBLEMS:\n  ${r.consistency.problems.slice(0, 20).join("\n  ")}`}`,
      "",
    ].join("\n"),
  );
}

export async function benchLoad(): Promise<LoadReport> {
  const report = await runLoad({
    telegramUsers: Number(process.env.LOAD_TELEGRAM_USERS ?? 1_000),
    httpClients: Number(process.env.LOAD_HTTP_CLIENTS ?? 50),
    httpRounds: Number(process.env.LOAD_HTTP_ROUNDS ?? 3),
  });
  printLoadReport(report);
  if (report.consistency.problems.length > 0) process.exitCode = 1;
  return report;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  benchLoad().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
