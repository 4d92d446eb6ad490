/** A squarified treemap of where the parameters are (op `sizes`): a block's children as rectangles by parameter
 * count or bytes, each split once more into its own children, coloured by dtype or by a statistic the kernel adds
 * up per block (RMS, std, gradient norm, change since the compare snapshot, the watch's latest step), with a
 * legend. A click selects the block in the tree; a double click (or Enter) zooms in, "↑" goes back up. */

import type { SizeColor, SizeNode } from "../protocol";
import { cls, formatBytes, formatCount, formatInteger, formatNumber, formatPercent, h } from "./format";
import { __, _n } from "./i18n";

export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** The `sizes` answer the map draws. */
export interface SizesAnswer {
  root: SizeNode;
  color: SizeColor;
  colors: SizeColor[];
}

export interface TreemapEvents {
  /** The `sizes` answer for `path` (two levels), coloured by `color`. */
  load(path: string, color: SizeColor): Promise<SizesAnswer>;
  select(path: string): void;
  /** `failed`: the whole translated sentence of what failed ("Could not map the parameters"). */
  error(error: unknown, failed: string): void;
}

const COLOURS: Record<string, string> = {
  float32: "#4f83cc", float16: "#e3963e", bfloat16: "#c45ca2", float64: "#4c9a6a", mixed: "#8a8f98",
};
const HEIGHT = 220;
// The colour scale of a statistic (low to high): a perceptually even ramp from dark blue to yellow (viridis).
const RAMP = ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"];
const NO_VALUE = "#b0b4ba";
// Statistics whose values span decades: drawn on a log scale when the shown ones do.
const LOG_STATS = new Set<SizeColor>(["rms", "std", "grad_norm", "grad_rms", "change", "watch_grad_norm", "watch_update"]);

/** The menu's name of each colouring (translated when shown). */
export function colourLabels(): Record<SizeColor, string> {
  return {
    dtype: __("dtype"),
    rms: __("RMS of the values"),
    std: __("standard deviation"),
    mean: __("mean of the values"),
    zeros: __("fraction of zeros"),
    grad_norm: __("gradient norm"),
    grad_rms: __("gradient RMS"),
    change: __("change since the snapshot ‖Δw‖/‖w‖"),
    watch_grad_norm: __("watch: gradient norm, latest step"),
    watch_update: __("watch: update ratio, latest step"),
  };
}

/** How the values of a statistic map to colours: linear between the smallest and largest shown value, or log
 * where they are all positive and span two decades or more (a layer that moved 100x less still shows). */
export interface ColourScale {
  min: number;
  max: number;
  log: boolean;
  colour(value: number | null | undefined): string;
}

export function colourScale(values: (number | null | undefined)[], stat: SizeColor): ColourScale | null {
  const finite = values.filter((v): v is number => typeof v === "number" && Number.isFinite(v));
  if (!finite.length) return null;
  const min = Math.min(...finite);
  const max = Math.max(...finite);
  const positive = finite.filter((v) => v > 0);
  const low = positive.length ? Math.min(...positive) : 0;
  const log = LOG_STATS.has(stat) && low > 0 && max / low >= 100;
  const at = (v: number): number => {
    if (max === min) return 1;
    if (log) return (Math.log10(Math.max(v, low)) - Math.log10(low)) / (Math.log10(max) - Math.log10(low));
    return (v - min) / (max - min);
  };
  return {
    min: log ? low : min, max, log,
    colour: (v) => (typeof v === "number" && Number.isFinite(v) ? ramp(Math.max(0, Math.min(1, at(v)))) : NO_VALUE),
  };
}

/** The colour at `t` (0 … 1) along RAMP, as `rgb(r, g, b)`. */
export function ramp(t: number): string {
  const x = t * (RAMP.length - 1);
  const i = Math.min(RAMP.length - 2, Math.floor(x));
  const f = x - i;
  const [a, b] = [RAMP[i], RAMP[i + 1]].map((c) => [1, 3, 5].map((k) => parseInt(c.slice(k, k + 2), 16)));
  return `rgb(${a.map((v, k) => Math.round(v + (b[k] - v) * f)).join(", ")})`;
}

/** Black or white text, whichever reads better on `background` ("#rrggbb" or "rgb(r, g, b)"). */
export function ink(background: string): string {
  const rgb = background.startsWith("#") ? [1, 3, 5].map((k) => parseInt(background.slice(k, k + 2), 16))
    : (background.match(/\d+/g) ?? []).slice(0, 3).map(Number);
  const luminance = (0.299 * (rgb[0] ?? 0) + 0.587 * (rgb[1] ?? 0) + 0.114 * (rgb[2] ?? 0)) / 255;
  return luminance > 0.6 ? "#1a1a1a" : "#fff";
}

/** A value as the legend and the titles show it (a fraction of zeros in percent). */
export function formatValue(value: number | null | undefined, stat: SizeColor): string {
  if (value === null || value === undefined) return __("no value");
  return stat === "zeros" ? formatPercent(value) : formatNumber(value);
}

/** Bruls, Huizing and van Wijk's squarified layout of `values` (largest first) in `rect`, one Rect per value. */
export function squarify(values: number[], rect: Rect): Rect[] {
  const out: Rect[] = values.map(() => ({ x: rect.x, y: rect.y, w: 0, h: 0 }));
  const total = values.reduce((a, b) => a + Math.max(0, b), 0);
  if (total <= 0 || rect.w <= 0 || rect.h <= 0) return out;
  const scale = (rect.w * rect.h) / total;
  const areas = values.map((v) => Math.max(0, v) * scale);
  let { x, y, w, h: height } = rect;
  let i = 0;
  while (i < areas.length) {
    const side = Math.min(w, height);
    let sum = areas[i];
    let best = worst(sum, areas[i], areas[i], side);
    let j = i + 1;
    while (j < areas.length) {
      const next = worst(sum + areas[j], areas[i], areas[j], side);
      if (next > best) break;
      best = next;
      sum += areas[j++];
    }
    const thick = sum / side;
    let offset = 0;
    for (let k = i; k < j; k++) {
      const length = thick > 0 ? areas[k] / thick : 0;
      out[k] = w >= height ? { x, y: y + offset, w: thick, h: length } : { x: x + offset, y, w: length, h: thick };
      offset += length;
    }
    if (w >= height) {
      x += thick;
      w -= thick;
    } else {
      y += thick;
      height -= thick;
    }
    i = j;
  }
  return out;
}

function worst(sum: number, largest: number, smallest: number, side: number): number {
  if (sum <= 0 || smallest <= 0) return Infinity;
  const s2 = side * side;
  return Math.max((s2 * largest) / (sum * sum), (sum * sum) / (s2 * smallest));
}

export function dtypeColour(dtype: string | null | undefined): string {
  if (!dtype) return NO_VALUE;
  return COLOURS[dtype] ?? (dtype.startsWith("int") || dtype.startsWith("uint") ? "#8d6fc9" : "#6aa3a8");
}

export class Treemap {
  readonly element: HTMLDivElement;
  private readonly plot: HTMLDivElement;
  private readonly where: HTMLSpanElement;
  private readonly metric: HTMLSelectElement;
  private readonly colourBy: HTMLSelectElement;
  private readonly legend: HTMLDivElement;
  private readonly up: HTMLButtonElement;
  private answer: SizesAnswer | null = null;
  private stack: string[] = [""];
  private loading: Promise<void> = Promise.resolve();

  constructor(private readonly events: TreemapEvents) {
    this.metric = h("select", { class: cls("input", "treemap-area"), "aria-label": __("Area by") },
      h("option", { value: "n_params" }, __("parameters")), h("option", { value: "nbytes" }, __("bytes")));
    this.metric.addEventListener("change", () => this.render());
    this.colourBy = h("select", { class: cls("input", "treemap-colour"), "aria-label": __("Colour by"),
      title: __("Colour by dtype, or by a statistic of each block's parameters (size-weighted)") });
    this.setColours(["dtype", "rms", "std", "mean", "zeros"], "dtype");
    this.colourBy.addEventListener("change", () => void this.load());
    this.up = h("button", { class: cls("button"), title: __("Back to the block above") }, "↑");
    this.up.addEventListener("click", () => {
      if (this.stack.length > 1) {
        this.stack.pop();
        void this.load();
      }
    });
    this.where = h("span", { class: cls("treemap-where") });
    this.plot = h("div", { class: cls("treemap-plot"), style: `height:${HEIGHT}px`, role: "group",
      "aria-label": __("Treemap of the parameters") });
    this.plot.addEventListener("click", (e) => {
      const cell = (e.target as HTMLElement).closest<HTMLElement>("[data-path]");
      if (cell) this.events.select(cell.dataset.path as string);
    });
    this.plot.addEventListener("dblclick", (e) => {
      const cell = (e.target as HTMLElement).closest<HTMLElement>(".jp-ParamScope-treemap-outer[data-path]");
      if (cell && cell.dataset.block === "true") this.zoom(cell.dataset.path as string);
    });
    this.legend = h("div", { class: cls("treemap-legend"), "aria-live": "polite" });
    this.element = h("div", { class: cls("treemap"), hidden: true },
      h("div", { class: cls("treemap-bar") }, this.up, this.where, h("span", { class: cls("muted") }, __("area by")),
        this.metric, h("span", { class: cls("muted") }, __("colour by")), this.colourBy,
        h("span", { class: cls("muted") }, __("click selects, double click opens"))),
      this.plot, this.legend);
  }

  get visible(): boolean {
    return !this.element.hidden;
  }

  /** Resolves when the map shows its latest answer (for hosts and tests). */
  get settled(): Promise<void> {
    return this.loading;
  }

  /** The colouring asked for now. */
  get colour(): SizeColor {
    return this.colourBy.value as SizeColor;
  }

  toggle(): Promise<void> {
    this.element.hidden = !this.element.hidden;
    return this.visible ? this.load() : Promise.resolve();
  }

  /** Read the sizes again (the model changed). */
  refresh(): Promise<void> {
    return this.visible ? this.load() : Promise.resolve();
  }

  zoom(path: string): void {
    this.stack.push(path);
    void this.load();
  }

  /** Colour by `stat` (one the kernel offers) and read the map again. */
  colourWith(stat: SizeColor): Promise<void> {
    if (![...this.colourBy.options].some((o) => o.value === stat)) this.colourBy.append(this.option(stat));
    this.colourBy.value = stat;
    return this.load();
  }

  private option(stat: SizeColor): HTMLOptionElement {
    return h("option", { value: stat }, colourLabels()[stat] ?? stat);
  }

  /** The menu lists what the kernel can colour by now (gradients once there are some, the change once a snapshot
   * is taken, the watch's once it recorded a step), keeping the current choice. */
  private setColours(colors: SizeColor[], chosen: SizeColor): void {
    const list = colors.includes(chosen) ? colors : [...colors, chosen];
    const now = [...this.colourBy.options].map((o) => o.value);
    if (now.join() !== list.join()) this.colourBy.replaceChildren(...list.map((c) => this.option(c)));
    this.colourBy.value = chosen;
  }

  private load(): Promise<void> {
    const path = this.stack[this.stack.length - 1];
    const colour = this.colour;
    this.loading = this.events.load(path, colour).then((answer) => {
      this.answer = answer;
      this.setColours(answer.colors ?? ["dtype"], answer.color ?? colour);
      this.render();
    }, (error) => {
      if (this.stack.length > 1) this.stack = [""];
      if (colour !== "dtype") this.colourBy.value = "dtype"; // what cannot colour now (no snapshot) falls back
      this.events.error(error, __("Could not map the parameters"));
    });
    return this.loading;
  }

  private render(): void {
    const answer = this.answer;
    this.up.disabled = this.stack.length <= 1;
    if (!answer) return;
    const root = answer.root;
    const stat = answer.color ?? "dtype";
    const key = this.metric.value as "n_params" | "nbytes";
    const name = root.path || root.name || __("model");
    this.where.textContent = key === "n_params" ? __("%1: %2 parameters", name, formatCount(root.n_params))
      : __("%1: %2", name, formatBytes(root.nbytes));
    // Laid out in a 100-unit-high box as wide as the plot's aspect, placed in percent (no layout needed).
    const aspect = this.plot.clientWidth && this.plot.clientHeight ? this.plot.clientWidth / this.plot.clientHeight : 3;
    const box = { x: 0, y: 0, w: 100 * aspect, h: 100 };
    const outer = (root.children ?? []).filter((c) => c[key] > 0);
    const shown = [...outer, ...outer.flatMap((c) => (c.children ?? []).filter((k) => k[key] > 0))];
    const scale = stat === "dtype" ? null : colourScale(shown.map((n) => n.value), stat);
    const paint = (node: SizeNode): string => (stat === "dtype" ? dtypeColour(node.dtype) : scale ? scale.colour(node.value) : NO_VALUE);
    const cells: HTMLElement[] = [];
    squarify(outer.map((c) => c[key]), box).forEach((rect, i) => {
      const child = outer[i];
      const el = this.cell(child, rect, aspect, "treemap-outer", paint, stat);
      const inner = (child.children ?? []).filter((c) => c[key] > 0);
      const pad = { x: 0.6, y: 0.6, top: 9 };
      const area = { x: rect.x + pad.x, y: rect.y + pad.top, w: rect.w - 2 * pad.x, h: rect.h - pad.top - pad.y };
      if (area.w > 2 && area.h > 2) {
        squarify(inner.map((c) => c[key]), area).forEach((r, k) =>
          el.append(this.cell(inner[k], { x: r.x - rect.x, y: r.y - rect.y, w: r.w, h: r.h }, aspect, "treemap-inner", paint, stat, rect)));
      }
      cells.push(el);
    });
    this.plot.replaceChildren(...cells);
    this.renderLegend(stat, scale, shown);
  }

  private renderLegend(stat: SizeColor, scale: ColourScale | null, shown: SizeNode[]): void {
    const missing = shown.some((n) => stat !== "dtype" && (n.value === null || n.value === undefined));
    const swatch = (colour: string, text: string) =>
      h("span", { class: cls("treemap-key") }, h("span", { class: cls("treemap-swatch"), style: `background:${colour}` }), text);
    const parts: HTMLElement[] = [];
    if (stat === "dtype") {
      for (const dtype of [...new Set(shown.map((n) => n.dtype ?? null))]) {
        parts.push(swatch(dtypeColour(dtype), dtype ?? __("no parameters")));
      }
    } else if (scale) {
      const stops = [0, 0.25, 0.5, 0.75, 1].map((t) => `${ramp(t)} ${t * 100}%`).join(", ");
      parts.push(h("span", { class: cls("treemap-legend-label") }, colourLabels()[stat]),
        h("span", { class: cls("treemap-legend-min") }, formatValue(scale.min, stat)),
        h("span", { class: cls("treemap-ramp"), style: `background:linear-gradient(to right, ${stops})`,
          role: "img", "aria-label": __("colour scale from %1 to %2", formatValue(scale.min, stat), formatValue(scale.max, stat)) }),
        h("span", { class: cls("treemap-legend-max") }, formatValue(scale.max, stat)));
      if (scale.log) parts.push(h("span", { class: cls("muted") }, __("log scale")));
    } else {
      parts.push(h("span", { class: cls("treemap-legend-label") }, colourLabels()[stat]),
        h("span", { class: cls("muted") }, __("no block shown has a value for this statistic")));
    }
    if (missing && scale) parts.push(swatch(NO_VALUE, __("no value")));
    this.legend.dataset.colour = stat;
    this.legend.replaceChildren(...parts);
  }

  private cell(node: SizeNode, rect: Rect, aspect: number, part: string, paint: (n: SizeNode) => string,
    stat: SizeColor, parent?: Rect): HTMLElement {
    const width = parent ? parent.w : 100 * aspect;
    const height = parent ? parent.h : 100;
    const style = `left:${(rect.x / width) * 100}%;top:${(rect.y / height) * 100}%;` +
      `width:${(rect.w / width) * 100}%;height:${(rect.h / height) * 100}%;background:${paint(node)};color:${ink(paint(node))}`;
    const label = node.more !== undefined ? __("… %1 more", formatInteger(node.more)) : node.name ?? "";
    const lines = [
      node.more !== undefined ? _n("%2 smaller block", "%2 smaller blocks", node.more, formatInteger(node.more))
        : __("%1 (%2)", node.path ?? "", node.type ?? ""),
      _n("%2 parameter · %3", "%2 parameters · %3", node.n_params, formatInteger(node.n_params), formatBytes(node.nbytes)) +
        (node.dtype ? ` · ${node.dtype}` : ""),
    ];
    if (stat !== "dtype") lines.push(__("%1: %2", colourLabels()[stat], formatValue(node.value, stat)));
    const isBlock = node.kind === "block" || node.kind === "model";
    return h("div", { class: cls("treemap-cell", part), style, title: lines.join("\n"), "data-path": node.path,
      "data-value": node.value === null || node.value === undefined ? "" : String(node.value),
      "data-block": String(isBlock && (node.children?.length ?? 0) > 0) },
      h("span", { class: cls("treemap-label") }, label));
  }
}
