/** Compare: a snapshot of the model's parameter values in the kernel, and how far each parameter and block moved
 * since (‖Δw‖/‖w‖ as a log-scale meter on its row, the most moved blocks listed, a click selects one). */

import type { BlockChange, Client, CompareResult, Node, ParamChange } from "../protocol";
import { cls, formatCount, formatBytes, formatNumber, formatPercent, h } from "./format";

// Rows and blocks one answer carries (the kernel's bound); the rest shows no bar.
const LIMIT = 5000;
// Most moved blocks listed in the bar.
const TOP = 6;
// Decades of relative change the row meters span.
const DECADES = 4;

export interface CompareEvents {
  /** New answer (or cleared): redraw the rows. */
  changed(): void;
  select(path: string): void;
  error(error: unknown, doing: string): void;
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
      title: "Compare: snapshot the parameter values, train, then see which layers moved" },
      "Δ", h("span", { class: cls("button-label") }, " Compare"));
    this.button.addEventListener("click", () => this.toggle());
    const take = h("button", { class: cls("button", "compare-take"),
      title: "Copy every parameter's values to the kernel's host memory (at most 512 MiB)" }, "Take snapshot");
    // Always enabled: a snapshot may come from code (`ps.snapshot(model)`) or another view of the same kernel.
    const compareButton = h("button", { class: cls("button", "compare-now"),
      title: "Show how far each parameter moved since the model's latest snapshot" }, "Compare now");
    const clearButton = h("button", { class: cls("button", "compare-clear"),
      title: "Forget the snapshot (frees its copies)" }, "Clear");
    take.addEventListener("click", () => void this.take());
    compareButton.addEventListener("click", () => void this.compare());
    clearButton.addEventListener("click", () => void this.clear());
    this.status = h("span", { class: cls("compare-status"), role: "status" }, "no snapshot");
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
      this.status.textContent = `snapshot of ${formatCount(snapshot.params)} parameters ` +
        `(${formatBytes(snapshot.nbytes)}): train, then Compare now`;
    } catch (e) {
      this.events.error(e, "take a snapshot");
    }
  }

  async compare(): Promise<void> {
    try {
      this.setResult(await this.client.call({ op: "compare", model: this.model, limit: LIMIT }));
    } catch (e) {
      this.events.error(e, "compare with the snapshot");
    }
  }

  async clear(): Promise<void> {
    try {
      await this.client.call({ op: "snapshot_clear", model: this.model });
      this.setResult(null);
      this.status.textContent = "no snapshot";
    } catch (e) {
      this.events.error(e, "clear the snapshot");
    }
  }

  /** Show an answer (null: none). Public for tests and hosts that replay answers. */
  setResult(result: CompareResult | null): void {
    this.result = result;
    this.params = new Map((result?.params ?? []).map((p) => [p.path, p]));
    this.blocks = new Map((result?.blocks ?? []).map((b) => [b.path, b]));
    this.maxRel = Math.max(0, ...[...this.params.values(), ...this.blocks.values()].map((r) => r.rel ?? 0));
    this.top.replaceChildren();
    if (result) {
      const t = result.totals;
      const odd = result.params.filter((p) => p.status !== "same" && p.status !== "changed").length;
      this.status.textContent = `${formatCount(t.changed)} of ${formatCount(t.params)} parameters changed since ` +
        `the snapshot · ‖Δw‖/‖w‖ ${t.rel === null ? "—" : formatNumber(t.rel)}` +
        (odd ? ` · ${odd} changed shape or dtype, or are gone` : "") + (result.truncated ? " · the largest shown" : "");
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
    if (node.kind === "param") {
      const change = this.params.get(node.tied_to ?? node.path);
      if (!change) return null;
      if (change.status !== "same" && change.status !== "changed") {
        return h("span", { class: cls("compare-cell", "compare-odd"), title: change.reason ?? change.status },
          change.status);
      }
      return this.cell(change.rel, change.status === "changed", paramTitle(change));
    }
    if (node.kind === "buffer") return null;
    const block = this.blocks.get(node.path);
    return block ? this.cell(block.rel, block.changed_params > 0, blockTitle(block)) : null;
  }

  private cell(rel: number | null, moved: boolean, title: string): HTMLElement {
    // Log scale over DECADES below the most moved row: a layer that moved 100x less still shows a bar.
    const width = this.maxRel > 0 && rel ? Math.round(40 * Math.max(0.05, 1 + Math.log10(rel / this.maxRel) / DECADES)) : 0;
    return h("span", { class: cls("compare-cell", moved ? "compare-moved" : "compare-same"), title },
      h("span", { class: cls("compare-meter") }, h("span", { class: cls("compare-fill"), style: `width: ${width}px` })),
      h("span", { class: cls("compare-value") }, moved ? formatNumber(rel) : "same"));
  }
}

function paramTitle(p: ParamChange): string {
  return `since the snapshot: ‖Δw‖ ${formatNumber(p.delta_norm)}, max |Δw| ${formatNumber(p.max_abs)}, ` +
    `${formatPercent(p.changed ?? 0)} of values changed, ‖Δw‖/‖w‖ ${formatNumber(p.rel)}`;
}

function blockTitle(b: BlockChange): string {
  return `since the snapshot: ${b.changed_params} of ${b.params} parameters changed, ‖Δw‖ ${formatNumber(b.delta_norm)}, ` +
    `max |Δw| ${formatNumber(b.max_abs)}, ${formatPercent(b.changed)} of values changed, ‖Δw‖/‖w‖ ${formatNumber(b.rel)}` +
    (b.moved ? `; ${b.moved} changed shape or dtype, or are gone` : "");
}
