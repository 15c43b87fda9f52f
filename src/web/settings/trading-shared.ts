/// <reference lib="dom" />
// What the trading tab's parts share: the API helpers main.ts hands over, and small renderers.
import type { Json } from "../shared/dom";

export interface TradingTabDeps {
  /** An authenticated call (refresh and step-up handled). */
  api(method: string, path: string, body?: unknown): Promise<Json>;
  flash(kind: "notice" | "error", text: string | null): void;
}

export function td(text: string, className?: string): HTMLTableCellElement {
  const el = document.createElement("td");
  el.textContent = text;
  if (className) el.className = className;
  return el;
}

/** The CSS class of a P&L figure: green above zero, red below. */
export const pnlClass = (n: number | null | undefined): string =>
  n === null || n === undefined || n === 0 ? "" : n > 0 ? "gain" : "loss";

export const num = (v: unknown): number | null =>
  typeof v === "number" && Number.isFinite(v) ? v : null;
