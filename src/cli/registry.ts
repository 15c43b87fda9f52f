// The CLI's one command registry: each area's module contributes its commands, --help is
// generated from them, and an unknown command gets the closest match and exit 2.
import { ConfigError } from "../infra/config";
import { createScrubber } from "../infra/scrub";
import { explainStartupError, formatStartupError } from "../startup/errors";
import { stopDevServices } from "./context";

export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

export interface Command {
  usage: string;
  summary: string;
  run(args: string[], io: CliIo): Promise<number>;
}

export type Registry = Readonly<Record<string, Command>>;

/** Joins the areas' commands; a name defined twice is a programming error. */
export function createRegistry(...areas: Registry[]): Registry {
  const all: Record<string, Command> = {};
  for (const area of areas) {
    for (const [name, command] of Object.entries(area)) {
      if (all[name]) throw new Error(`CLI command "${name}" is defined twice`);
      all[name] = command;
    }
  }
  return all;
}

export function helpText(registry: Registry): string {
  const commands = Object.values(registry);
  const width = Math.max(...commands.map((c) => c.usage.length));
  return [
    "Usage: npm run cli -- <command> [options]",
    "",
    "Commands:",
    ...commands.map((c) => `  ${c.usage.padEnd(width)}  ${c.summary}`),
  ].join("\n");
}

/** Levenshtein distance (small strings only). */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

/** The registered name closest to what was typed, if it is close enough to be a typo. */
export function closestCommand(registry: Registry, typed: string): string | undefined {
  let best: { name: string; d: number } | undefined;
  for (const name of Object.keys(registry)) {
    const d = distance(typed, name);
    if (!best || d < best.d) best = { name, d };
  }
  return best && best.d <= Math.max(2, Math.floor(best.name.length / 3)) ? best.name : undefined;
}

export async function runCli(registry: Registry, argv: string[], io: CliIo): Promise<number> {
  if (argv.length === 0 || argv.includes("--help") || argv.includes("-h") || argv[0] === "help") {
    io.out(helpText(registry));
    return argv.length === 0 ? 2 : 0;
  }
  const typed = argv.slice(0, 2).join(" ");
  const command = registry[typed];
  if (!command) {
    const near = closestCommand(registry, typed);
    io.err(
      `Unknown command "${typed}".${near ? ` Did you mean "${near}"?` : ""}\n\n${helpText(registry)}`,
    );
    return 2;
  }
  try {
    return await command.run(argv.slice(2), io);
  } catch (err) {
    const known = explainStartupError(err, { databaseUrl: process.env.DATABASE_URL });
    if (err instanceof ConfigError) io.err(`configuration error: ${err.message}`);
    else if (known) io.err(formatStartupError(known, "error").trimEnd());
    else io.err(createScrubber().scrubString(`error: ${(err as Error).message}`));
    return 1;
  } finally {
    await stopDevServices();
  }
}
