// Reply latencies per command, summarised as percentiles.

export class Latencies {
  readonly #by = new Map<string, number[]>();

  add(label: string, ms: number): void {
    const xs = this.#by.get(label) ?? [];
    xs.push(ms);
    this.#by.set(label, xs);
  }

  total(): number {
    let n = 0;
    for (const xs of this.#by.values()) n += xs.length;
    return n;
  }

  summary(): Record<string, { n: number; p50: number; p95: number; p99: number }> {
    const out: Record<string, { n: number; p50: number; p95: number; p99: number }> = {};
    for (const [label, xs] of this.#by) {
      const s = [...xs].sort((a, b) => a - b);
      const p = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN;
      out[label] = { n: s.length, p50: p(0.5), p95: p(0.95), p99: p(0.99) };
    }
    return out;
  }
}
