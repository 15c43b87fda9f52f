/// <reference lib="dom" />
// The P&L-over-time chart: cumulative realised P&L per UTC day as an inline SVG line with one
// point per day, drawn here (no chart library, no third-party script, nothing inline for the
// CSP to allow: SVG presentation attributes only).
import { signedMoney } from "../../domain/trading/format";

const SVG = "http://www.w3.org/2000/svg";
const W = 320;
const H = 160;
const PAD = { top: 18, right: 8, bottom: 18, left: 8 };

export interface ChartPoint {
  /** "2026-12-04". */
  day: string;
  cumulative: number;
}

function node<K extends keyof SVGElementTagNameMap>(
  name: K,
  attrs: Record<string, string | number>,
): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/** Cumulative sums of per-day P&L (oldest first) on top of what was realised before them. */
export function cumulative(
  days: Array<{ day: string; pnl: number }>,
  before: number,
): ChartPoint[] {
  let total = before;
  return days.map((d) => {
    total = Math.round((total + d.pnl) * 1e8) / 1e8;
    return { day: d.day, cumulative: total };
  });
}

export function pnlChart(points: ChartPoint[]): SVGSVGElement {
  const values = points.map((p) => p.cumulative);
  const lo = Math.min(0, ...values);
  const hi = Math.max(0, ...values);
  const span = hi - lo || 1;
  const x = (i: number) =>
    PAD.left + (points.length > 1 ? (i * (W - PAD.left - PAD.right)) / (points.length - 1) : 0);
  const y = (v: number) => PAD.top + ((hi - v) * (H - PAD.top - PAD.bottom)) / span;
  const first = points[0];
  const last = points.at(-1);
  const svg = node("svg", {
    viewBox: `0 0 ${W} ${H}`,
    role: "img",
    class: "pnl-chart",
    "aria-label":
      first && last
        ? `Cumulative realised P&L from ${first.day} to ${last.day}: ${signedMoney(first.cumulative)} to ${signedMoney(last.cumulative)}.`
        : "No closed trades.",
  });
  svg.append(
    node("line", {
      x1: PAD.left,
      x2: W - PAD.right,
      y1: y(0),
      y2: y(0),
      class: "zero",
      "stroke-dasharray": "4 3",
    }),
  );
  const top = node("text", { x: PAD.left, y: 12, class: "axis" });
  top.textContent = signedMoney(hi);
  const bottom = node("text", { x: PAD.left, y: H - 4, class: "axis" });
  bottom.textContent = signedMoney(lo);
  svg.append(top, bottom);
  svg.append(
    node("polyline", {
      points: points.map((p, i) => `${x(i).toFixed(1)},${y(p.cumulative).toFixed(1)}`).join(" "),
      class: "line",
      fill: "none",
    }),
  );
  points.forEach((p, i) => {
    const dot = node("circle", {
      cx: x(i).toFixed(1),
      cy: y(p.cumulative).toFixed(1),
      r: 2.5,
      class: p.cumulative < 0 ? "point loss" : "point",
      "data-day": p.day,
      "data-cumulative": String(p.cumulative),
    });
    const title = node("title", {});
    title.textContent = `${p.day}: ${signedMoney(p.cumulative)}`;
    dot.append(title);
    svg.append(dot);
  });
  return svg;
}
