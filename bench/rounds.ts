// Figures that hold on a shared, noisy machine: each is the median of at least three rounds,
// ours and its anchor alternating (ours, anchor, ours, anchor, …) so that drift hits both
// alike, printed with its spread so that a lucky or unlucky round shows.

export interface Stats {
  median: number;
  min: number;
  max: number;
  rounds: number[];
}

export function stats(rounds: number[]): Stats {
  if (rounds.length === 0) throw new Error("no rounds");
  const sorted = [...rounds].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, rounds };
}

/** Spread as ± half the range, in % of the median. */
export function spreadPct(s: Stats): number {
  return s.median === 0 ? 0 : ((s.max - s.min) / 2 / Math.abs(s.median)) * 100;
}

export const MIN_ROUNDS = 3;

/** Runs `ours` and `anchor` alternately, `rounds` times each (at least three). */
export async function alternate(
  rounds: number,
  ours: (round: number) => Promise<number>,
  anchor: (round: number) => Promise<number>,
): Promise<{ ours: Stats; anchor: Stats }> {
  const n = Math.max(MIN_ROUNDS, rounds);
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < n; i++) {
    // ABBA order: neither side always goes first after the other has warmed a cache.
    if (i % 2 === 0) {
      a.push(await ours(i));
      b.push(await anchor(i));
    } else {
      b.push(await anchor(i));
      a.push(await ours(i));
    }
  }
  return { ours: stats(a), anchor: stats(b) };
}

/** Repeats one measurement that has no measured anchor (its anchor is a fixed figure). */
export async function repeat(rounds: number, run: (round: number) => Promise<number>) {
  const xs: number[] = [];
  for (let i = 0; i < Math.max(MIN_ROUNDS, rounds); i++) xs.push(await run(i));
  return stats(xs);
}

/**
 * One line of the results: our figure beside its anchor, and their ratio. `better` says which
 * direction is good (rates: higher; times and overheads: lower); `target` is the ratio asked for.
 */
export interface Figure {
  /** Short id, e.g. "fernet.encrypt". */
  id: string;
  what: string;
  unit: string;
  ours: Stats;
  anchorLabel: string;
  /** A measured anchor, or a fixed one (a configured limit). */
  anchor: Stats | number;
  /** ours / anchor, from the medians. */
  ratio: number;
  /** What is asked for: of the ratio (default) or of our own median (an absolute goal). */
  target?: { on?: "ratio" | "ours"; op: ">=" | "<="; value: number; text: string };
}

export function figure(f: Omit<Figure, "ratio">): Figure {
  const anchor = typeof f.anchor === "number" ? f.anchor : f.anchor.median;
  return { ...f, ratio: f.ours.median / anchor };
}

export function met(f: Figure): boolean | undefined {
  if (!f.target) return undefined;
  const x = f.target.on === "ours" ? f.ours.median : f.ratio;
  return f.target.op === ">=" ? x >= f.target.value : x <= f.target.value;
}

export const num = (n: number): string =>
  !Number.isFinite(n)
    ? "n/a"
    : Math.abs(n) >= 100
      ? Math.round(n).toLocaleString("en-US")
      : n.toLocaleString("en-US", { maximumFractionDigits: 2 });

export function describeStats(s: Stats, unit: string): string {
  return `${num(s.median)} ${unit} ±${spreadPct(s).toFixed(1)} % (rounds: ${s.rounds.map(num).join(", ")})`;
}

/** Prints a figure as the benchmarks print them: ours, anchor, ratio, target. */
export function printFigure(f: Figure): void {
  const anchor =
    typeof f.anchor === "number"
      ? `${num(f.anchor)} ${f.unit} (fixed)`
      : describeStats(f.anchor, f.unit);
  const verdict = met(f);
  console.log(
    [
      `${f.what}`,
      `  ours:   ${describeStats(f.ours, f.unit)}`,
      `  anchor: ${f.anchorLabel}: ${anchor}`,
      `  ratio:  ${f.ratio.toFixed(2)}×${f.target ? ` (target ${f.target.text}: ${verdict ? "met" : "NOT met"})` : ""}`,
    ].join("\n"),
  );
}
