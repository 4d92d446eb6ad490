/** A squarified treemap of where the parameters are (op `sizes`): a block's children as rectangles by parameter
 * count or bytes, each split once more into its own children, coloured by dtype. A click selects the block in the
 * tree; a double click (or Enter) zooms in, "↑" goes back up. */

import type { SizeNode } from "../protocol";
import { cls, formatBytes, formatCount, h } from "./format";

export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface TreemapEvents {
  /** The `sizes` answer for `path` (two levels). */
  load(path: string): Promise<SizeNode>;
  select(path: string): void;
  error(error: unknown, doing: string): void;
}

const COLOURS: Record<string, string> = {
  float32: "#4f83cc", float16: "#e3963e", bfloat16: "#c45ca2", float64: "#4c9a6a", mixed: "#8a8f98",
};
const HEIGHT = 220;

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
  if (!dtype) return "#b0b4ba";
  return COLOURS[dtype] ?? (dtype.startsWith("int") || dtype.startsWith("uint") ? "#8d6fc9" : "#6aa3a8");
}

export class Treemap {
  readonly element: HTMLDivElement;
  private readonly plot: HTMLDivElement;
  private readonly where: HTMLSpanElement;
  private readonly metric: HTMLSelectElement;
  private readonly up: HTMLButtonElement;
  private root: SizeNode | null = null;
  private stack: string[] = [""];
  private loading: Promise<void> = Promise.resolve();

  constructor(private readonly events: TreemapEvents) {
    this.metric = h("select", { class: cls("input"), "aria-label": "Area by" },
      h("option", { value: "n_params" }, "parameters"), h("option", { value: "nbytes" }, "bytes"));
    this.metric.addEventListener("change", () => this.render());
    this.up = h("button", { class: cls("button"), title: "Back to the block above" }, "↑");
    this.up.addEventListener("click", () => {
      if (this.stack.length > 1) {
        this.stack.pop();
        void this.load();
      }
    });
    this.where = h("span", { class: cls("treemap-where") });
    this.plot = h("div", { class: cls("treemap-plot"), style: `height:${HEIGHT}px`, role: "group",
      "aria-label": "Treemap of the parameters" });
    this.plot.addEventListener("click", (e) => {
      const cell = (e.target as HTMLElement).closest<HTMLElement>("[data-path]");
      if (cell) this.events.select(cell.dataset.path as string);
    });
    this.plot.addEventListener("dblclick", (e) => {
      const cell = (e.target as HTMLElement).closest<HTMLElement>(".jp-ParamScope-treemap-outer[data-path]");
      if (cell && cell.dataset.block === "true") this.zoom(cell.dataset.path as string);
    });
    this.element = h("div", { class: cls("treemap"), hidden: true },
      h("div", { class: cls("treemap-bar") }, this.up, this.where, h("span", { class: cls("muted") }, "area by"),
        this.metric, h("span", { class: cls("muted") }, "· colour: dtype · click selects, double click opens")),
      this.plot);
  }

  get visible(): boolean {
    return !this.element.hidden;
  }

  /** Resolves when the map shows its latest answer (for hosts and tests). */
  get settled(): Promise<void> {
    return this.loading;
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

  private load(): Promise<void> {
    const path = this.stack[this.stack.length - 1];
    this.loading = this.events.load(path).then((root) => {
      this.root = root;
      this.render();
    }, (error) => {
      if (this.stack.length > 1) this.stack = [""];
      this.events.error(error, "map the parameters");
    });
    return this.loading;
  }

  private render(): void {
    const root = this.root;
    this.up.disabled = this.stack.length <= 1;
    if (!root) return;
    const key = this.metric.value as "n_params" | "nbytes";
    this.where.textContent = `${root.path || root.name || "model"}: ${key === "n_params" ? `${formatCount(root.n_params)} params` : formatBytes(root.nbytes)}`;
    // Laid out in a 100-unit-high box as wide as the plot's aspect, placed in percent (no layout needed).
    const aspect = this.plot.clientWidth && this.plot.clientHeight ? this.plot.clientWidth / this.plot.clientHeight : 3;
    const box = { x: 0, y: 0, w: 100 * aspect, h: 100 };
    const cells: HTMLElement[] = [];
    const outer = (root.children ?? []).filter((c) => c[key] > 0);
    squarify(outer.map((c) => c[key]), box).forEach((rect, i) => {
      const child = outer[i];
      const el = this.cell(child, rect, aspect, "treemap-outer");
      const inner = (child.children ?? []).filter((c) => c[key] > 0);
      const pad = { x: 0.6, y: 0.6, top: 9 };
      const area = { x: rect.x + pad.x, y: rect.y + pad.top, w: rect.w - 2 * pad.x, h: rect.h - pad.top - pad.y };
      if (area.w > 2 && area.h > 2) {
        squarify(inner.map((c) => c[key]), area).forEach((r, k) =>
          el.append(this.cell(inner[k], { x: r.x - rect.x, y: r.y - rect.y, w: r.w, h: r.h }, aspect, "treemap-inner", rect)));
      }
      cells.push(el);
    });
    this.plot.replaceChildren(...cells);
  }

  private cell(node: SizeNode, rect: Rect, aspect: number, part: string, parent?: Rect): HTMLElement {
    const width = parent ? parent.w : 100 * aspect;
    const height = parent ? parent.h : 100;
    const style = `left:${(rect.x / width) * 100}%;top:${(rect.y / height) * 100}%;` +
      `width:${(rect.w / width) * 100}%;height:${(rect.h / height) * 100}%;background:${dtypeColour(node.dtype)}`;
    const label = node.more !== undefined ? `… ${node.more} more` : node.name ?? "";
    const title = `${node.more !== undefined ? `${node.more} smaller blocks` : `${node.path} (${node.type})`}\n` +
      `${node.n_params.toLocaleString("en-US")} parameters · ${formatBytes(node.nbytes)}` +
      (node.dtype ? ` · ${node.dtype}` : "");
    const isBlock = node.kind === "block" || node.kind === "model";
    return h("div", { class: cls("treemap-cell", part), style, title, "data-path": node.path,
      "data-block": String(isBlock && (node.children?.length ?? 0) > 0) },
      h("span", { class: cls("treemap-label") }, label));
  }
}
