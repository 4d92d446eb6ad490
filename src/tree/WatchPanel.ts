/** The training watch of one model: Start/Stop and `every`, the charted statistic, a sparkline and flags on each
 * parameter row, and for the selected parameter a larger chart over steps with its histograms over time.
 *
 * Updates arrive as pushes while the training cell runs (inline widget messages, the sidebar's comm); where a
 * host has no push (VS Code) a poll goes out once a second, one at a time, and is answered when the kernel
 * is free (after the cell). */

import type { Client, Node, WatchFlag, WatchRecord, WatchState } from "../protocol";
import { cls, formatInteger, formatNumber, h } from "./format";
import { __, _n, _p } from "./i18n";
import { heatStrip, lineChart, type Series, sparkline } from "./Sparkline";

/** The statistics a watch charts: name -> label, in the page's language. */
export function statistics(): Record<string, string> {
  return {
    grad_norm: __("gradient norm"),
    grad_rms: __("gradient RMS"),
    mean: __("mean"),
    std: __("std"),
    rms: __("RMS"),
    update_ratio: __("update ratio ‖Δw‖/‖w‖"),
    zeros: __("fraction of zeros"),
    nonfinite: __("NaN/Inf count"),
  };
}

function statisticLabel(statistic: string): string {
  return statistics()[statistic] ?? statistic;
}

const POLL_MS = 1000;
// A host that pushed within this long needs no poll.
const PUSHED_MS = 2000;

/** The value of `statistic` for `path` in one record (null: not recorded at that step). */
export function statOf(record: WatchRecord, path: string, statistic: string): number | null {
  const value = record.values[path];
  const grad = record.grads[path];
  switch (statistic) {
    case "grad_norm":
      return grad?.norm ?? null;
    case "grad_rms":
      return grad?.rms ?? null;
    case "mean":
    case "std":
    case "rms":
      return value ? value[statistic] : null;
    case "zeros":
      return value ? value.zeros : null;
    case "update_ratio":
      return record.update[path] ?? null;
    case "nonfinite":
      return value || grad ? (value ? value.nan + value.inf : 0) + (grad ? grad.nan + grad.inf : 0) : null;
    default:
      return null;
  }
}

function flagText(flag: WatchFlag): string {
  switch (flag) {
    case "nonfinite":
      return __("NaN/Inf values");
    case "exploding":
      return __("exploding gradient");
    case "vanishing":
      return __("vanishing gradient");
  }
}

function flagList(flags: WatchFlag[]): string {
  return flags.map(flagText).join(", ");
}

export interface WatchEvents {
  /** New data or state: redraw the rows. */
  changed(): void;
  /** A request failed; `failed` is the whole translated sentence that says what did not happen. */
  error(error: unknown, failed: string): void;
}

export class WatchPanel {
  readonly bar: HTMLDivElement;
  readonly detail: HTMLDivElement;
  statistic = "grad_norm";
  private readonly records = new Map<number, WatchRecord>();
  private state: WatchState | null = null;
  private selected: Node | null = null;
  private readonly toggle: HTMLButtonElement;
  private readonly every: HTMLInputElement;
  private readonly status: HTMLSpanElement;
  private timer: ReturnType<typeof setInterval> | undefined;
  private polling = false;
  private lastPush = 0;
  private disposed = false;

  constructor(private readonly client: Client, private readonly model: string, private readonly events: WatchEvents) {
    this.toggle = h("button", { class: cls("button", "watch-toggle"),
      title: __("Record statistics of every parameter and gradient while a training cell runs") }, `● ${_p("verb", "Watch")}`);
    this.toggle.addEventListener("click", () => void (this.active ? this.stop() : this.start()));
    this.every = h("input", { class: cls("watch-every"), type: "number", min: 1, value: "10",
      title: __("record every N steps"), "aria-label": __("record every N steps") });
    const select = h("select", { class: cls("watch-stat"), "aria-label": __("statistic to chart") },
      ...Object.entries(statistics()).map(([name, label]) => h("option", { value: name }, label)));
    select.addEventListener("change", () => {
      this.statistic = select.value;
      this.events.changed();
      this.drawDetail();
    });
    this.status = h("span", { class: cls("watch-status"), role: "status" }, __("not watching"));
    // One sentence around the input ("every N steps", "her N adımda"): split where the translation puts N.
    const [before = "", after = ""] = __("every %1 steps", "\u0000").split("\u0000");
    this.bar = h("div", { class: cls("watch-bar") }, this.toggle, h("label", {}, before, this.every, after), select,
      this.status);
    this.detail = h("div", { class: cls("watch-detail") });
    this.detail.hidden = true;
  }

  get active(): boolean {
    return this.state?.active ?? false;
  }

  async start(): Promise<void> {
    const every = Math.max(1, Math.floor(Number(this.every.value) || 10));
    const focus = this.selected?.kind === "param" ? [this.selected.tied_to ?? this.selected.path] : [];
    try {
      this.records.clear();
      this.receive(await this.client.call({ op: "watch_start", model: this.model, every, focus }));
    } catch (error) {
      this.events.error(error, __("Could not start the watch"));
    }
  }

  async stop(): Promise<void> {
    try {
      this.receive(await this.client.call({ op: "watch_stop", model: this.model, since: this.since() }));
    } catch (error) {
      this.events.error(error, __("Could not stop the watch"));
    }
  }

  /** A push from the kernel, or a poll's answer. */
  receive(state: WatchState, pushed = false): void {
    if (pushed) this.lastPush = Date.now();
    if (this.state && state.next < this.state.next) this.records.clear(); // a new watch replaced the old one
    for (const record of state.records) this.records.set(record.seq, record);
    for (const seq of this.records.keys()) if (seq < state.next - state.max_records) this.records.delete(seq);
    this.state = state;
    this.schedule();
    this.render();
    this.events.changed();
  }

  select(node: Node | null): void {
    this.selected = node;
    this.drawDetail();
  }

  /** The sparkline and flags for a row (null when there is nothing to show). */
  decorate(node: Node): HTMLElement | null {
    if (!this.state || this.records.size === 0) return null;
    const flags = this.state.flags;
    if (node.kind === "param") {
      const path = node.tied_to ?? node.path;
      const { xs, ys } = this.series(path, this.statistic);
      if (xs.length === 0) return null;
      const mine = flags[path] ?? [];
      const last = ys[ys.length - 1];
      return h("span", { class: cls("watch-cell"), "data-watch": path,
        title: __("%1: %2 at step %3", statisticLabel(this.statistic), formatNumber(last), formatInteger(xs[xs.length - 1])) +
          (mine.length ? `\n${flagList(mine)}` : "") },
        sparkline(xs, ys, 72, 16, mine.length > 0), ...mine.map((f) => flagBadge(f)));
    }
    const prefix = node.path ? `${node.path}.` : "";
    const under = Object.entries(flags).filter(([p]) => node.kind === "model" || p.startsWith(prefix) || p.startsWith(`${node.path}/`));
    if (under.length === 0) return null;
    const kinds = [...new Set(under.flatMap(([, f]) => f))];
    return h("span", { class: cls("watch-cell"), title: under.map(([p, f]) => `${p}: ${flagList(f)}`).join("\n") },
      ...kinds.map((f) => flagBadge(f)), h("span", { class: cls("watch-flag-count"),
        "aria-label": _n("%2 flagged parameter", "%2 flagged parameters", under.length, formatInteger(under.length)) },
      formatInteger(under.length)));
  }

  /** Steps and values of `statistic` for `path`, oldest first. */
  series(path: string, statistic: string): { xs: number[]; ys: (number | null)[] } {
    const xs: number[] = [];
    const ys: (number | null)[] = [];
    for (const record of [...this.records.values()].sort((a, b) => a.seq - b.seq)) {
      const value = statOf(record, path, statistic);
      if (value === null && !(path in record.values) && !(path in record.grads)) continue;
      xs.push(record.step);
      ys.push(value);
    }
    return { xs, ys };
  }

  dispose(): void {
    this.disposed = true;
    clearInterval(this.timer);
  }

  private since(): number {
    return Math.max(0, (this.state?.next ?? 0) - 1);
  }

  /** Poll while active and no push came lately; one poll at a time (a busy kernel answers after the cell). */
  private schedule(): void {
    if (this.active && this.timer === undefined && !this.disposed) {
      this.timer = setInterval(() => void this.poll(), POLL_MS);
    } else if (!this.active && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private async poll(): Promise<void> {
    if (this.polling || Date.now() - this.lastPush < PUSHED_MS) return;
    this.polling = true;
    try {
      this.receive(await this.client.call({ op: "watch_poll", model: this.model, since: this.since() }));
    } catch {
      // A timeout while a long cell runs, or a restart: the next poll tries again.
    } finally {
      this.polling = false;
    }
  }

  private render(): void {
    const state = this.state;
    this.toggle.textContent = state?.active ? `■ ${__("Stop watch")}` : `● ${_p("verb", "Watch")}`;
    this.toggle.classList.toggle("jp-mod-active", state?.active ?? false);
    if (state) this.every.value = String(state.every);
    const flagged = state ? Object.keys(state.flags).length : 0;
    this.status.textContent = state ? this.statusLine(state, flagged) : __("not watching");
    this.status.classList.toggle("jp-mod-flagged", flagged > 0);
    const newest = [...this.records.values()].reduce<WatchRecord | null>((a, r) => (a === null || r.seq > a.seq ? r : a), null);
    // From the step's forward in the kernel to its point on screen (same machine's clock in the tests and bench).
    if (newest) this.bar.dataset.latencyMs = String(Math.round(Date.now() - newest.time * 1000));
    this.bar.dataset.records = String(this.records.size);
    this.drawDetail();
  }

  /** "watching · step 40 · 20 records (3 oldest dropped, keeps 1,000) · ⚠ 1 flagged" */
  private statusLine(state: WatchState, flagged: number): string {
    const size = this.records.size;
    const records = state.dropped
      ? _n("%2 record (%3 oldest dropped, keeps %4)", "%2 records (%3 oldest dropped, keeps %4)", size, formatInteger(size),
        formatInteger(state.dropped), formatInteger(state.max_records))
      : _n("%2 record", "%2 records", size, formatInteger(size));
    return [
      state.active ? __("watching") : __("stopped"),
      __("step %1", formatInteger(state.step)),
      records,
      flagged ? `⚠ ${_n("%2 flagged", "%2 flagged", flagged, formatInteger(flagged))}` : null,
    ].filter((part) => part !== null).join(" · ");
  }

  private drawDetail(): void {
    const node = this.selected;
    if (!node || node.kind !== "param" || this.records.size === 0) {
      this.detail.hidden = true;
      this.detail.replaceChildren();
      return;
    }
    const path = node.tied_to ?? node.path;
    const chosen = this.statistic.startsWith("grad") ? "rms" : this.statistic;
    const value: Series = { label: statisticLabel(chosen), kind: "value", ...this.series(path, chosen) };
    const grad: Series = { label: __("gradient norm"), kind: "grad", ...this.series(path, "grad_norm") };
    const records = [...this.records.values()].sort((a, b) => a.seq - b.seq);
    const hist = records.filter((r) => r.hist[path]).map((r) => ({ step: r.step, ...r.hist[path] }));
    const gradHist = records.filter((r) => r.grad_hist[path]).map((r) => ({ step: r.step, ...r.grad_hist[path] }));
    const focus = h("button", { class: cls("button"),
      title: __("Record this parameter's histograms at each recorded step (takes effect when the kernel is free)") },
    __("Record histograms"));
    focus.addEventListener("click", () => void this.focus(path));
    const flags = this.state?.flags[path] ?? [];
    this.detail.hidden = false;
    this.detail.replaceChildren(...[
      h("div", { class: cls("watch-detail-title") }, __("watch · %1", path),
        node.tied_to ? ` ${__("(tied: %1 is the same parameter)", node.path)}` : "", ...flags.map((f) => flagBadge(f))),
      h("div", { class: cls("watch-legend") }, h("span", { class: cls("legend-value") }, value.label),
        h("span", { class: cls("legend-grad") }, __("gradient norm (log)"))),
      lineChart([value], 320, 72),
      lineChart([grad], 320, 72, true),
      hist.length ? h("div", { class: cls("watch-legend") }, __("values over time")) : null,
      hist.length ? heatStrip(hist) : null,
      gradHist.length ? h("div", { class: cls("watch-legend") }, __("gradient over time")) : null,
      gradHist.length ? heatStrip(gradHist) : null,
      hist.length || this.state?.focus.includes(path) ? null : focus,
    ].filter((el) => el !== null) as Element[]);
  }

  private async focus(path: string): Promise<void> {
    try {
      this.receive(await this.client.call({ op: "watch_focus", model: this.model, focus: [path], since: this.since() }));
    } catch (error) {
      this.events.error(error, __("Could not record histograms"));
    }
  }
}

function flagBadge(flag: WatchFlag): HTMLElement {
  return h("span", { class: cls("badge", "watch-flag", `flag-${flag}`), title: flagText(flag) },
    flag === "nonfinite" ? "NaN" : flag === "exploding" ? "▲" : "▼");
}
