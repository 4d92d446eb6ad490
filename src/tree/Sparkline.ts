/** Small SVG charts of a watch: a row's sparkline, a larger line chart over steps, and a heat strip of
 * histograms over time (one column per recorded step, one cell per bin, darker = more values). */

import { cls, formatNumber } from "./format";
import { __, _n } from "./i18n";

const SVG = "http://www.w3.org/2000/svg";

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/** Finite values only, with their x positions scaled to [0, width]. */
function points(xs: number[], ys: (number | null)[], width: number, height: number, pad: number,
  log: boolean): { x: number; y: number }[] {
  const kept: { x: number; y: number }[] = [];
  for (let i = 0; i < ys.length; i++) {
    const v = ys[i];
    if (v === null || !Number.isFinite(v) || (log && v <= 0)) continue;
    kept.push({ x: xs[i], y: log ? Math.log10(v) : v });
  }
  if (kept.length === 0) return [];
  const x0 = Math.min(...kept.map((p) => p.x));
  const x1 = Math.max(...kept.map((p) => p.x));
  const y0 = Math.min(...kept.map((p) => p.y));
  const y1 = Math.max(...kept.map((p) => p.y));
  const sx = x1 > x0 ? (width - 2 * pad) / (x1 - x0) : 0;
  const sy = y1 > y0 ? (height - 2 * pad) / (y1 - y0) : 0;
  return kept.map((p) => ({
    x: pad + (x1 > x0 ? (p.x - x0) * sx : (width - 2 * pad) / 2),
    y: height - pad - (y1 > y0 ? (p.y - y0) * sy : (height - 2 * pad) / 2),
  }));
}

/** A sparkline of `ys` over `xs` (missing values leave a gap in x, not a drop to 0); `data-count` says how
 * many finite points it draws. */
export function sparkline(xs: number[], ys: (number | null)[], width = 72, height = 16, flagged = false): SVGSVGElement {
  const root = svg("svg", { class: cls("sparkline", ...(flagged ? ["flagged"] : [])), width, height,
    viewBox: `0 0 ${width} ${height}`, "aria-hidden": "true" });
  const pts = points(xs, ys, width, height, 1.5, false);
  root.dataset.count = String(pts.length);
  if (pts.length === 1) root.append(svg("circle", { cx: pts[0].x, cy: pts[0].y, r: 1.5 }));
  else if (pts.length > 1) root.append(svg("polyline", { points: pts.map((p) => `${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(" ") }));
  return root;
}

export interface Series {
  label: string;
  xs: number[];
  ys: (number | null)[];
  kind: "value" | "grad";
}

/** A line chart of one or more series over steps, each scaled to its own range (labels give the ranges);
 * `log` plots log10 (for norms spanning decades). */
export function lineChart(series: Series[], width = 320, height = 96, log = false): SVGSVGElement {
  const root = svg("svg", { class: cls("chart"), width, height, viewBox: `0 0 ${width} ${height}`, role: "img" });
  const title: string[] = [];
  for (const s of series) {
    const pts = points(s.xs, s.ys, width, height, 4, log);
    const finite = s.ys.filter((v): v is number => v !== null && Number.isFinite(v));
    if (finite.length) title.push(__("%1: %2 … %3", s.label, formatNumber(Math.min(...finite)), formatNumber(Math.max(...finite))));
    if (pts.length) {
      root.append(svg("polyline", { class: cls(`chart-${s.kind}`),
        points: pts.map((p) => `${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(" "), "data-count": pts.length }));
    }
  }
  root.setAttribute("aria-label", title.join("; ") || __("no data yet"));
  return root;
}

export interface HistColumn {
  step: number;
  edges: number[];
  counts: number[];
}

/** Histograms over time on one value axis (the overall range), one column per step; `data-columns` counts them. */
export function heatStrip(columns: HistColumn[], width = 320, height = 64): SVGSVGElement {
  const root = svg("svg", { class: cls("heat"), width, height, viewBox: `0 0 ${width} ${height}`, role: "img" });
  root.dataset.columns = String(columns.length);
  if (columns.length === 0) {
    root.setAttribute("aria-label", __("no data yet"));
    return root;
  }
  const lo = Math.min(...columns.map((c) => c.edges[0]));
  const hi = Math.max(...columns.map((c) => c.edges[c.edges.length - 1]));
  const span = hi > lo ? hi - lo : 1;
  const w = width / columns.length;
  columns.forEach((column, i) => {
    const top = Math.max(1, ...column.counts);
    column.counts.forEach((count, b) => {
      if (count === 0) return;
      const a = column.edges[b];
      const z = column.edges[b + 1];
      const y = height - ((z - lo) / span) * height;
      const h = Math.max(1, ((z - a) / span) * height);
      root.append(svg("rect", { x: (i * w).toFixed(2), y: y.toFixed(2), width: Math.max(w, 1).toFixed(2), height: h.toFixed(2),
        "fill-opacity": (0.15 + 0.85 * count / top).toFixed(2) }));
    });
  });
  root.setAttribute("aria-label", _n("histogram of %1 step, values %2 … %3", "histograms of %1 steps, values %2 … %3",
    columns.length, formatNumber(lo), formatNumber(hi)));
  return root;
}
