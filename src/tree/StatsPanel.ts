/** Details of the selected row: metadata, the action bar, and for a parameter or buffer its statistics,
 * histogram and heatmap, then the same for its gradient. */

import type { Client, Node, Stats, StatsPending, Unavailable, Values } from "../protocol";
import { type ActionName, actionsFor } from "./ActionMenu";
import { cls, exactNumber, formatBytes, formatCount, formatInteger, formatNumber, formatPercent, formatProgress, formatShape,
  h } from "./format";
import { renderHeatmap } from "./Heatmap";
import { renderHistogram } from "./Histogram";
import { __, _n, _p } from "./i18n";
import { renderPlacement, renderReplicaCheck } from "./Placement";

export interface TensorSource {
  /** Statistics of `path`; `progress(fraction)` while a long job runs; rejects with StatsCancelled on abort. */
  stats(path: string, progress: (fraction: number) => void, signal: AbortSignal): Promise<Stats | Unavailable>;
  values(path: string): Promise<Values | Unavailable>;
}

/** How long the kernel works on statistics per request before answering `pending` (then the panel polls). */
export const STATS_SLICE_MS = 300;

/** The user cancelled the statistics, or the selection moved on. */
export class StatsCancelled extends Error {
  constructor() {
    super("statistics cancelled");
    this.name = "StatsCancelled";
  }
}

/** `stats`, then `stats_poll` until done: one request at a time (the sidebar's executes queue), each one a
 * slice of work in the kernel; `stats_cancel` as soon as `signal` aborts. */
export async function fetchStats(client: Client, model: string, path: string, bins: number,
  progress: (fraction: number) => void, signal: AbortSignal): Promise<Stats | Unavailable> {
  let answer: Stats | Unavailable | StatsPending =
    await client.call({ op: "stats", model, path, bins, budget_ms: STATS_SLICE_MS });
  while ("pending" in answer) {
    const job = answer.job;
    if (signal.aborted) {
      client.call({ op: "stats_cancel", model, job }).catch(() => undefined); // gone already: nothing to stop
      throw new StatsCancelled();
    }
    progress(answer.progress);
    answer = await client.call({ op: "stats_poll", model, job, budget_ms: STATS_SLICE_MS });
  }
  if (signal.aborted) throw new StatsCancelled();
  return answer;
}

export interface StatsPanelEvents {
  action(name: ActionName, path: string): void;
  jump(path: string): void;
  /** `failed`: the whole translated sentence of what failed ("Could not read w"), the banner's title. */
  error(error: unknown, failed: string): void;
}

// Moving through the tree with the arrow keys asks for statistics only where the selection rests.
const SETTLE_MS = 120;

export class StatsPanel {
  readonly element: HTMLDivElement;
  private node: Node | null = null;
  private generation = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private loading: Promise<void> = Promise.resolve();
  private running: AbortController[] = [];

  constructor(private readonly source: TensorSource, private readonly events: StatsPanelEvents) {
    this.element = h("div", { class: cls("details"), "aria-live": "polite" });
    this.element.addEventListener("click", (e) => {
      const target = e.target as HTMLElement;
      const button = target.closest<HTMLButtonElement>("button[data-action]");
      if (button && this.node) this.events.action(button.dataset.action as ActionName, this.node.path);
      const jump = target.closest<HTMLElement>("[data-jump]");
      if (jump) this.events.jump(jump.dataset.jump as string);
    });
    this.showEmpty();
  }

  /** Resolves when the plots for the current selection are in (or failed). */
  get settled(): Promise<void> {
    return this.loading;
  }

  /** Show `node` (null: nothing selected); statistics are fetched again even for the same node. */
  show(node: Node | null): void {
    clearTimeout(this.timer);
    this.abortRunning();
    const generation = ++this.generation;
    this.node = node;
    if (node === null) {
      this.showEmpty();
      this.loading = Promise.resolve();
      return;
    }
    const isTensor = node.kind === "param" || node.kind === "buffer";
    const plots = h("div", { class: cls("plots") });
    this.element.replaceChildren(this.header(node), this.actionBar(node), this.meta(node), plots);
    if (!isTensor) {
      this.loading = Promise.resolve();
      return;
    }
    const sections = [this.section(__("values"), node.path)];
    if (node.has_grad) sections.push(this.section(__("gradient"), `${node.path}#grad`));
    plots.append(...sections.map((s) => s.element));
    if (node.sharding) plots.append(renderPlacement(node.sharding));
    if (!node.has_grad) {
      plots.append(h("div", { class: cls("muted") }, node.kind === "param"
        ? __("No gradient yet: run loss.backward() (or the framework's equivalent) and refresh.")
        : ""));
    }
    this.loading = new Promise<void>((resolve) => {
      this.timer = setTimeout(() => {
        Promise.all(sections.map((s) => s.load(generation))).finally(resolve);
      }, SETTLE_MS);
    });
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.abortRunning();
    this.generation++;
  }

  /** Stop the statistics jobs of the previous selection (the kernel drops them at its next answer). */
  private abortRunning(): void {
    for (const controller of this.running) controller.abort();
    this.running = [];
  }

  private showEmpty(): void {
    this.node = null;
    this.element.replaceChildren(h("div", { class: cls("placeholder-text") },
      __("Select a block or parameter to see its statistics. Right-click (or ⋯) for actions.")));
  }

  private header(node: Node): HTMLElement {
    return h("div", { class: cls("details-header") },
      h("span", { class: cls("icon", `icon-${node.kind}`), "aria-hidden": "true" }),
      h("span", { class: cls("details-name") }, node.path || node.name),
      h("span", { class: cls("type") }, node.type),
      h("code", { class: cls("code"), title: __("Python expression for this node") }, node.code));
  }

  private actionBar(node: Node): HTMLElement {
    return h("div", { class: cls("actionbar"), role: "toolbar", "aria-label": __("Actions") },
      ...actionsFor(node).filter((a) => a.name !== "undo").map((a) =>
        h("button", { class: cls("button"), "data-action": a.name, disabled: !a.enabled, title: a.hint }, a.short)));
  }

  /** The node's facts as one wrapped line of chips: shape, dtype, device, counts, state, ties. */
  private meta(node: Node): HTMLElement {
    const chips: (string | HTMLElement)[] = [];
    if (node.shape !== null) chips.push(formatShape(node.shape));
    if (node.dtype) chips.push(node.dtype);
    if (node.device) chips.push(node.device);
    if (node.kind !== "buffer") {
      chips.push(node.n_params_with_aliases === node.n_params
        ? _n("%2 param", "%2 params", node.n_params, formatInteger(node.n_params))
        : _n("%2 param (%3 with every tied use)", "%2 params (%3 with every tied use)", node.n_params,
          formatInteger(node.n_params), formatInteger(node.n_params_with_aliases)));
    }
    chips.push(formatBytes(node.nbytes));
    if (node.sharding?.strategy) {
      chips.push(__("mirrored on %1 (%2)", (node.sharding.devices ?? []).join(", "), node.sharding.strategy));
    } else if (node.sharding) {
      chips.push(__("sharded [%1]: %2 (%3) on rank %4", node.sharding.placements.join(", "),
        formatShape(node.sharding.local_shape), formatBytes(node.sharding.local_nbytes), node.sharding.rank));
    }
    if (node.trainable !== null) chips.push(node.trainable ? __("trainable") : __("frozen"));
    if (node.state !== "ready") chips.push(stateLabel(node.state));
    if (node.n_children) chips.push(_n("%2 child", "%2 children", node.n_children, formatInteger(node.n_children)));
    if (node.alt_name) chips.push(__("also named %1", node.alt_name));
    if (node.tied_to !== null) {
      const target = h("button", { class: cls("link"), "data-jump": node.tied_to }, node.tied_to || __("model"));
      chips.push(sentence(__("tied to %1", PLACE), target));
    }
    if (node.aliases.length) {
      const links = node.aliases.map((p) => h("button", { class: cls("link"), "data-jump": p }, p));
      chips.push(sentence(node.tied_to === null ? __("also used at %1", PLACE) : __("shared with %1", PLACE), ...links));
    }
    return h("div", { class: cls("meta") }, ...chips.map((c) => h("span", { class: cls("chip") }, c)));
  }

  private section(title: string, path: string): { element: HTMLElement; load(generation: number): Promise<void> } {
    const body = h("div", { class: cls("section-body") }, h("div", { class: cls("muted") }, __("loading…")));
    const element = h("section", { class: cls("tensor"), "data-tensor": path }, h("h4", {}, title), body);
    const load = async (generation: number) => {
      const controller = new AbortController();
      this.running.push(controller);
      let bar: HTMLProgressElement | null = null;
      let label: HTMLElement | null = null;
      const progress = (fraction: number) => {
        if (generation !== this.generation) return;
        if (bar === null || label === null) {
          // Shown only once the kernel said "pending": statistics that take over STATS_SLICE_MS.
          bar = h("progress", { class: cls("progress-bar"), max: "1", value: "0", "aria-label": __("reading %1", path) });
          label = h("span", { class: cls("progress-label") });
          const cancel = h("button", { class: cls("button"), "data-cancel": path, title: __("Stop reading this tensor") },
            __("Cancel"));
          cancel.addEventListener("click", () => controller.abort());
          body.replaceChildren(h("div", { class: cls("progress"), role: "status" }, bar, label, cancel));
        }
        bar.value = fraction;
        label.textContent = __("reading values… %1", formatProgress(fraction));
      };
      try {
        const [stats, values] = await Promise.all([this.source.stats(path, progress, controller.signal),
          this.source.values(path)]);
        if (generation !== this.generation) return;
        body.replaceChildren(...renderTensor(stats, values, path));
      } catch (error) {
        if (generation !== this.generation) return;
        if (error instanceof StatsCancelled) {
          const again = h("button", { class: cls("button"), "data-retry": path }, __("Compute again"));
          again.addEventListener("click", () => {
            body.replaceChildren(h("div", { class: cls("muted") }, __("loading…")));
            this.loading = load(generation);
          });
          body.replaceChildren(h("div", { class: cls("muted"), "data-cancelled": path }, `${__("Statistics cancelled.")} `), again);
          return;
        }
        body.replaceChildren(h("div", { class: cls("muted") }, __("statistics unavailable (see the message above)")));
        this.events.error(error, __("Could not read %1", path));
      } finally {
        this.running = this.running.filter((c) => c !== controller);
      }
    };
    return { element, load };
  }
}

function renderTensor(stats: Stats | Unavailable, values: Values | Unavailable, label: string): HTMLElement[] {
  if (!stats.available) return [h("div", { class: cls("unavailable") }, stats.reason)];
  const cell = (key: string, name: string, shown: string, title: string, warn = false) =>
    h("div", { class: cls("stat") + (warn ? " jp-mod-warn" : ""), "data-stat": key, title },
      h("span", { class: cls("stat-label") }, name), h("span", { class: cls("stat-value") }, shown));
  // Each card shows a short value; its title the exact one.
  const exact = (key: string, name: string, x: number | null) => cell(key, name, formatNumber(x), `${name}: ${exactNumber(x)}`);
  const zeros = Math.round(stats.zeros * stats.numel);
  const zerosLabel = _p("statistic", "zeros");
  const grid = h("div", { class: cls("stats") },
    exact("mean", _p("statistic", "mean"), stats.mean),
    exact("std", _p("statistic", "std"), stats.std),
    exact("min", _p("statistic", "min"), stats.min),
    exact("max", _p("statistic", "max"), stats.max),
    cell("zeros", zerosLabel, formatPercent(stats.zeros),
      `${zerosLabel}: ${_n("%2 of %3 value", "%2 of %3 values", stats.numel, formatInteger(zeros), formatInteger(stats.numel))}`),
    cell("NaN", "NaN", formatCount(stats.nan), `NaN: ${formatInteger(stats.nan)}`, stats.nan > 0),
    cell("Inf", "Inf", formatCount(stats.inf), `Inf: ${formatInteger(stats.inf)}`, stats.inf > 0));
  const out: HTMLElement[] = [grid, renderHistogram(stats.hist, label)];
  if (stats.replicas) out.unshift(renderReplicaCheck(stats.replicas));
  if (stats.changed) {
    out.unshift(h("div", { class: cls("muted") },
      __("The values changed while they were read (training?): these numbers mix old and new values.")));
  }
  const during = stats.during_step ? stats.training : values.available && values.during_step ? values.training : undefined;
  if (during) {
    const who = during.map((t) => `"${t}"`).join(", ");
    out.unshift(h("div", { class: cls("muted"), "data-during-step": "" },
      _n("Read while thread %2 trains: these values may mix two steps. Select the row again for a newer read.",
        "Read while threads %2 train: these values may mix two steps. Select the row again for a newer read.",
        during.length, who)));
  }
  out.push(values.available ? renderHeatmap(values, label) : h("div", { class: cls("unavailable") }, values.reason));
  return out;
}

/** Where an element goes in a translated sentence (`__("tied to %1", PLACE)`): the text around it stays whole. */
const PLACE = "\u0000";

/** A span of `text` with `elements` where PLACE is. */
function sentence(text: string, ...elements: HTMLElement[]): HTMLElement {
  const at = text.indexOf(PLACE);
  if (at < 0) return h("span", {}, text, " ", ...elements);
  return h("span", {}, text.slice(0, at), ...elements, text.slice(at + PLACE.length));
}

/** A node's state as a word of the page's language (the TreeView's badge and search keep the kernel's word). */
function stateLabel(state: Node["state"]): string {
  switch (state) {
    case "lazy":
      return _p("node state", "lazy");
    case "meta":
      return _p("node state", "meta");
    case "deferred":
      return _p("node state", "deferred");
    case "unbuilt":
      return _p("node state", "unbuilt");
    case "ready":
      return _p("node state", "ready");
  }
}
