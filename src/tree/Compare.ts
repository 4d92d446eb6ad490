/** Compare: a snapshot of the model's parameter and buffer values in the kernel, and how far each parameter,
 * buffer and block moved since (‖Δw‖/‖w‖ as a log-scale meter on its row, the most moved blocks listed, a click
 * selects one). Buffers (BatchNorm's running statistics) are compared as parameters are, and counted apart. */

import type { BlockChange, Client, CompareResult, Node, ParamChange } from "../protocol";
import { cls, formatBytes, formatCount, formatInteger, formatNumber, formatPercent, h } from "./format";
import { __, _n } from "./i18n";

// Rows and blocks one answer carries (the kernel's bound); the rest shows no bar.
const LIMIT = 5000;
// Most moved blocks listed in the bar.
const TOP = 6;
// Decades of relative change the row meters span.
const DECADES = 4;
// The kernel's default snapshot limit (snapshot_take limit_bytes).
const SNAPSHOT_LIMIT = 512 * 2 ** 20;

export interface CompareEvents {
  /** New answer (or cleared): redraw the rows. */
  changed(): void;
  select(path: string): void;
  /** `failed`: the whole translated sentence of what failed ("Could not take a snapshot"). */
  error(error: unknown, failed: string): void;
}

/** The word a row shows for a tensor the kernel could not compare (its `reason` goes in the title). */
function statusLabel(status: ParamChange["status"]): string {
  switch (status) {
    case "shape": return __("shape changed");
    case "dtype": return __("dtype changed");
    case "gone": return __("gone");
    case "unreadable": return __("unreadable");
    case "same": return __("same");
    default: return __("changed");
  }
}

export class ComparePanel {
  /** Toolbar control: a toggle that shows the compare bar. */
  readonly button: HTMLButtonElement;
  /** The bar under the toolbar: Snapshot, Compare now, Clear, status and the most moved blocks. */
  readonly bar: HTMLElement;
  private readonly status: HTMLElement;
  private readonly top: HTMLElement;
  private result: CompareResult | null = null;
  private params = new Map<string, ParamChange>();
  private blocks = new Map<string, BlockChange>();
  private maxRel = 0;

  constructor(private readonly client: Client, private readonly model: string, private readonly events: CompareEvents) {
    this.button = h("button", { class: cls("button", "icon-button", "compare-toggle"), "aria-pressed": "false",
      title: __("Compare: snapshot the parameter and buffer values, train, then see which layers moved") },
      "Δ", h("span", { class: cls("button-label") }, " ", __("Compare")));
    this.button.addEventListener("click", () => this.toggle());
    const take = h("button", { class: cls("button", "compare-take"),
      title: __("Copy the values of every parameter and buffer to the kernel's host memory (at most %1)",
        formatBytes(SNAPSHOT_LIMIT)) }, __("Take snapshot"));
    // Always enabled: a snapshot may come from code (`ps.snapshot(model)`) or another view of the same kernel.
    const compareButton = h("button", { class: cls("button", "compare-now"),
      title: __("Show how far each parameter and buffer moved since the model's latest snapshot") }, __("Compare now"));
    const clearButton = h("button", { class: cls("button", "compare-clear"),
      title: __("Forget the snapshot (frees its copies)") }, __("Clear"));
    take.addEventListener("click", () => void this.take());
    compareButton.addEventListener("click", () => void this.compare());
    clearButton.addEventListener("click", () => void this.clear());
    this.status = h("span", { class: cls("compare-status"), role: "status" }, __("no snapshot"));
    this.top = h("div", { class: cls("compare-top") });
    this.bar = h("div", { class: cls("compare-bar"), hidden: "" }, take, compareButton, clearButton,
      this.status, this.top);
  }

  get visible(): boolean {
    return !this.bar.hidden;
  }

  toggle(): void {
    this.bar.hidden = !this.bar.hidden;
    this.button.setAttribute("aria-pressed", String(this.visible));
  }

  async take(): Promise<void> {
    try {
      const snapshot = (await this.client.call({ op: "snapshot_take", model: this.model })).snapshot;
      this.setResult(null);
      const buffers = snapshot.buffers ?? 0;
      this.status.textContent = buffers
        ? __("snapshot of %1 parameters and %2 buffers (%3): train, then Compare now", formatCount(snapshot.params),
          formatCount(buffers), formatBytes(snapshot.nbytes))
        : _n("snapshot of %2 parameter (%3): train, then Compare now", "snapshot of %2 parameters (%3): train, then Compare now",
          snapshot.params, formatCount(snapshot.params), formatBytes(snapshot.nbytes));
    } catch (e) {
      this.events.error(e, __("Could not take a snapshot"));
    }
  }

  async compare(): Promise<void> {
    try {
      this.setResult(await this.client.call({ op: "compare", model: this.model, limit: LIMIT }));
    } catch (e) {
      this.events.error(e, __("Could not compare with the snapshot"));
    }
  }

  async clear(): Promise<void> {
    try {
      await this.client.call({ op: "snapshot_clear", model: this.model });
      this.setResult(null);
      this.status.textContent = __("no snapshot");
    } catch (e) {
      this.events.error(e, __("Could not clear the snapshot"));
    }
  }

  /** Show an answer (null: none). Public for tests and hosts that replay answers. */
  setResult(result: CompareResult | null): void {
    this.result = result;
    // Parameters and buffers share one map: their paths differ (a row asks by its own path or its tie's).
    this.params = new Map([...(result?.params ?? []), ...(result?.buffers ?? [])].map((p) => [p.path, p]));
    this.blocks = new Map((result?.blocks ?? []).map((b) => [b.path, b]));
    this.maxRel = Math.max(0, ...[...this.params.values(), ...this.blocks.values()].map((r) => r.rel ?? 0));
    this.top.replaceChildren();
    if (result) {
      const t = result.totals;
      const odd = result.params.filter((p) => p.status !== "same" && p.status !== "changed").length;
      const parts = [
        _n("%2 of %3 parameter changed since the snapshot", "%2 of %3 parameters changed since the snapshot", t.params,
          formatCount(t.changed), formatCount(t.params)),
        __("‖Δw‖/‖w‖ %1", t.rel === null ? "—" : formatNumber(t.rel)),
      ];
      if (t.buffers) {
        parts.push(_n("%2 of %3 buffer changed", "%2 of %3 buffers changed", t.buffers, formatCount(t.changed_buffers ?? 0),
          formatCount(t.buffers)));
      }
      if (odd) parts.push(_n("%2 changed shape or dtype, or is gone", "%2 changed shape or dtype, or are gone", odd, formatInteger(odd)));
      if (result.truncated) parts.push(__("the largest shown"));
      this.status.textContent = parts.join(" · ");
      const moved = result.blocks.filter((b) => b.path !== "" && (b.rel ?? 0) > 0);
      // The deepest blocks that moved most: a parent listed with its only moved child says nothing more.
      for (const block of moved.filter((b) => !moved.some((o) => o.path.startsWith(`${b.path}.`) || o.path.startsWith(`${b.path}/`))).slice(0, TOP)) {
        const item = h("button", { class: cls("button", "compare-item"), "data-path": block.path,
          title: blockTitle(block) }, `${block.path} `, h("b", {}, formatNumber(block.rel)));
        item.addEventListener("click", () => this.events.select(block.path));
        this.top.append(item);
      }
    }
    this.events.changed();
  }

  /** The change bar for a row (null when there is no comparison for it). */
  decorate(node: Node): HTMLElement | null {
    if (!this.result) return null;
    if (node.kind === "param" || node.kind === "buffer") {
      const change = this.params.get(node.tied_to ?? node.path) ?? this.params.get(node.path);
      if (!change) return null;
      if (change.status !== "same" && change.status !== "changed") {
        return h("span", { class: cls("compare-cell", "compare-odd"), title: change.reason ?? statusLabel(change.status) },
          statusLabel(change.status));
      }
      return this.cell(change.rel, change.status === "changed", paramTitle(change), change.kind === "buffer");
    }
    const block = this.blocks.get(node.path);
    if (!block) return null;
    if (block.changed_params === 0 && (block.changed_buffers ?? 0) > 0) {
      // Only running statistics moved (BatchNorm in training mode): no weight did.
      return h("span", { class: cls("compare-cell", "compare-moved", "compare-buffers"), title: blockTitle(block) },
        h("span", { class: cls("compare-value") }, _n("%2 buffer changed", "%2 buffers changed", block.changed_buffers ?? 0, formatInteger(block.changed_buffers ?? 0))));
    }
    return this.cell(block.rel, block.changed_params > 0, blockTitle(block), false);
  }

  private cell(rel: number | null, moved: boolean, title: string, buffer: boolean): HTMLElement {
    // Log scale over DECADES below the most moved row: a layer that moved 100x less still shows a bar.
    const width = this.maxRel > 0 && rel ? Math.round(40 * Math.max(0.05, 1 + Math.log10(rel / this.maxRel) / DECADES)) : 0;
    const text = moved ? (rel === null ? statusLabel("changed") : formatNumber(rel)) : statusLabel("same");
    return h("span", { class: cls("compare-cell", moved ? "compare-moved" : "compare-same", ...(buffer ? ["compare-buffer"] : [])), title },
      h("span", { class: cls("compare-meter") }, h("span", { class: cls("compare-fill"), style: `width: ${width}px` })),
      h("span", { class: cls("compare-value") }, text));
  }
}

function paramTitle(p: ParamChange): string {
  const numbers = [formatNumber(p.delta_norm), formatNumber(p.max_abs), formatPercent(p.changed ?? 0), formatNumber(p.rel)];
  return p.kind === "buffer"
    ? __("buffer, since the snapshot: ‖Δ‖ %1, max |Δ| %2, %3 of values changed, ‖Δ‖/‖b‖ %4", ...numbers)
    : __("since the snapshot: ‖Δw‖ %1, max |Δw| %2, %3 of values changed, ‖Δw‖/‖w‖ %4", ...numbers);
}

function blockTitle(b: BlockChange): string {
  const lines = [
    _n("since the snapshot: %2 of %3 parameter changed", "since the snapshot: %2 of %3 parameters changed", b.params,
      formatInteger(b.changed_params), formatInteger(b.params)),
    __("‖Δw‖ %1, max |Δw| %2, %3 of values changed, ‖Δw‖/‖w‖ %4", formatNumber(b.delta_norm), formatNumber(b.max_abs),
      formatPercent(b.changed), formatNumber(b.rel)),
  ];
  if (b.moved) lines.push(_n("%2 changed shape or dtype, or is gone", "%2 changed shape or dtype, or are gone", b.moved, formatInteger(b.moved)));
  if (b.buffers) {
    lines.push(_n("%2 of %3 buffer changed (running statistics, not in the norms)",
      "%2 of %3 buffers changed (running statistics, not in the norms)", b.buffers, formatInteger(b.changed_buffers ?? 0),
      formatInteger(b.buffers)));
  }
  return lines.join("\n");
}
