// Order sizes as users write them: `0.01` (base units), `500usdt` / `$500` (quote notional) and
// `10%` (of free margin, times the leverage), turned into a base size on the market's lot step.

export type SizeSpec =
  | { kind: "base"; value: number }
  | { kind: "quote"; value: number }
  | { kind: "percent"; value: number };

const NUM = String.raw`(\d+(?:\.\d+)?)`;

/** Null when `text` is none of the accepted forms. */
export function parseSize(text: string): SizeSpec | null {
  const s = text.trim().toLowerCase().replaceAll(",", "");
  let m = new RegExp(`^${NUM}$`).exec(s);
  if (m) return positive("base", m[1]!);
  m = new RegExp(`^(?:\\$${NUM}|${NUM}(?:usdt|usdc|usd|\\$))$`).exec(s);
  if (m) return positive("quote", (m[1] ?? m[2])!);
  m = new RegExp(`^${NUM}%$`).exec(s);
  if (m) {
    const spec = positive("percent", m[1]!);
    return spec && spec.value <= 100 ? spec : null;
  }
  return null;
}

function positive(kind: SizeSpec["kind"], raw: string): SizeSpec | null {
  const value = Number(raw);
  return Number.isFinite(value) && value > 0 ? { kind, value } : null;
}

/** Decimal places of a lot step (0.001 → 3), so results print without float noise. */
export function decimalsOf(step: number): number {
  if (!(step > 0)) return 8;
  const s = step.toString();
  if (s.includes("e-")) return Number(s.split("e-")[1]);
  return s.includes(".") ? s.split(".")[1]!.length : 0;
}

/** `size` rounded down to a multiple of `step` (never up: a size must not exceed what was asked). */
export function floorToStep(size: number, step: number): number {
  if (!(step > 0)) return size;
  const d = decimalsOf(step);
  // The epsilon keeps 0.3 / 0.1 = 2.9999999 from losing a whole step.
  const steps = Math.floor(size / step + 1e-9);
  return Number((steps * step).toFixed(d));
}

/**
 * The base size `spec` asks for at `markPrice`, on the lot step. Percent is of free margin and
 * then levered: 10% of 1,000 free at 5x is a 500 notional.
 */
export function baseSizeOf(
  spec: SizeSpec,
  m: { markPrice: number; lotStep: number; freeMargin: number; leverage: number },
): number {
  const raw =
    spec.kind === "base"
      ? spec.value
      : spec.kind === "quote"
        ? spec.value / m.markPrice
        : (m.freeMargin * spec.value * m.leverage) / 100 / m.markPrice;
  return spec.kind === "base" ? spec.value : floorToStep(raw, m.lotStep);
}
