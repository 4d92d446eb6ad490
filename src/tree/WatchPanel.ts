/** The training watch of one model: Start/Stop and `every`, the charted statistic, a sparkline and flags on each
 * parameter row, and for the selected parameter a larger chart over steps with its histograms over time.
 *
 * Updates arrive as pushes while the training cell runs (inline widget messages, the sidebar's comm); where a
 * host has no push (VS Code) a poll goes out once a second, one at a time, and is answered when the kernel
 * is free (after the cell). */

import type { Client, Node, WatchFlag, WatchRecord, WatchState } from "../protocol";
import { cls, formatNumber, h } from "./format";
import { heatStrip, lineChart, type Series, sparkline } from "./Sparkline";

export const STATISTICS: Record<string, string> = {
  grad_norm: "gradient norm",
  grad_rms: "gradient RMS",
  mean: "mean",
  std: "std",
  rms: "RMS",
  update_ratio: "update ratio ‖Δw‖/‖w‖",
  zeros: "fraction of zeros",
  nonfinite: "NaN/Inf count",
};

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

const FLAG_TEXT: Record<WatchFlag, string> = {
  nonfinite: "NaN/Inf",
  exploding: "exploding gradient",
  vanishing: "vanishing gradient",
};

export interface WatchEvents {
  /** New data or state: redraw the rows. */
  changed(): void;
  error(error: unknown, doing: string): void;
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
    this.toggle = h("button", { class: cls("button", "watch-toggle"), title: "Record statistics of every parameter " +
      "and gradient while a training cell runs" }, "● Watch");
    this.toggle.addEventListener("click", () => void (this.active ? this.stop() : this.start()));
    this.every = h("input", { class: cls("watch-every"), type: "number", min: 1, value: "10", title: "record every N steps",
      "aria-label": "record every N steps" });
    const select = h("select", { class: cls("watch-stat"), "aria-label": "statistic to chart" },
      ...Object.entries(STATISTICS).map(([name, label]) => h("option", { value: name }, label)));
    select.addEventListener("change", () => {
      this.statistic = select.value;
      this.events.changed();
      this.drawDetail();
    });
    this.status = h("span", { class: cls("watch-status"), role: "status" }, "not watching");
    this.bar = h("div", { class: cls("watch-bar") }, this.toggle, h("label", {}, "every ", this.every, " steps"), select,
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
      this.events.error(error, "start the watch");
    }
  }

  async stop(): Promise<void> {
    try {
      this.receive(await this.client.call({ op: "watch_stop", model: this.model, since: this.since() }));
    } catch (error) {
      this.events.error(error, "stop the watch");
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
        title: `${STATISTICS[this.statistic] ?? this.statistic}: ${formatNumber(last)} at step ${xs[xs.length - 1]}` +
          (mine.length ? `\n${mine.map((f) => FLAG_TEXT[f]).join(", ")}` : "") },
        sparkline(xs, ys, 72, 16, mine.length > 0), ...mine.map((f) => flagBadge(f)));
    }
    const prefix = node.path ? `${node.path}.` : "";
    const under = Object.entries(flags).filter(([p]) => node.kind === "model" || p.startsWith(prefix) || p.startsWith(`${node.path}/`));
    if (under.length === 0) return null;
    const kinds = [...new Set(under.flatMap(([, f]) => f))];
    return h("span", { class: cls("watch-cell"), title: under.map(([p, f]) => `${p}: ${f.map((x) => FLAG_TEXT[x]).join(", ")}`).join("\n") },
      ...kinds.map((f) => flagBadge(f)), h("span", { class: cls("watch-flag-count") }, `${under.length}`));
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
    this.toggle.textContent = state?.active ? "■ Stop watch" : "● Watch";
    this.toggle.classList.toggle("jp-mod-active", state?.active ?? false);
    if (state) this.every.value = String(state.every);
    const flagged = state ? Object.keys(state.flags).length : 0;
    this.status.textContent = !state ? "not watching" : `${state.active ? "watching" : "stopped"} · step ${state.step} · ` +
      `${this.records.size} records${state.dropped ? ` (${state.dropped} oldest dropped, keeps ${state.max_records})` : ""}` +
      (flagged ? ` · ⚠ ${flagged} flagged` : "");
    this.status.classList.toggle("jp-mod-flagged", flagged > 0);
    const newest = [...this.records.values()].reduce<WatchRecord | null>((a, r) => (a === null || r.seq > a.seq ? r : a), null);
    // From the step's forward in the kernel to its point on screen (same machine's clock in the tests and bench).
    if (newest) this.bar.dataset.latencyMs = String(Math.round(Date.now() - newest.time * 1000));
    this.bar.dataset.records = String(this.records.size);
    this.drawDetail();
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
    const value: Series = { label: `${STATISTICS[chosen] ?? chosen}`, kind: "value", ...this.series(path, chosen) };
    const grad: Series = { label: "gradient norm", kind: "grad", ...this.series(path, "grad_norm") };
    const records = [...this.records.values()].sort((a, b) => a.seq - b.seq);
    const hist = records.filter((r) => r.hist[path]).map((r) => ({ step: r.step, ...r.hist[path] }));
    const gradHist = records.filter((r) => r.grad_hist[path]).map((r) => ({ step: r.step, ...r.grad_hist[path] }));
    const focus = h("button", { class: cls("button"), title: "Record this parameter's histograms at each recorded step " +
      "(takes effect when the kernel is free)" }, "Record histograms");
    focus.addEventListener("click", () => void this.focus(path));
    const flags = this.state?.flags[path] ?? [];
    this.detail.hidden = false;
    this.detail.replaceChildren(...[
      h("div", { class: cls("watch-detail-title") }, `watch · ${path}`, node.tied_to ? ` (tied: ${node.path} is the same parameter)` : "",
        ...flags.map((f) => flagBadge(f))),
      h("div", { class: cls("watch-legend") }, h("span", { class: cls("legend-value") }, value.label),
        h("span", { class: cls("legend-grad") }, "gradient norm (log)")),
      lineChart([value], 320, 72),
      lineChart([grad], 320, 72, true),
      hist.length ? h("div", { class: cls("watch-legend") }, "values over time") : null,
      hist.length ? heatStrip(hist) : null,
      gradHist.length ? h("div", { class: cls("watch-legend") }, "gradient over time") : null,
      gradHist.length ? heatStrip(gradHist) : null,
      hist.length || this.state?.focus.includes(path) ? null : focus,
    ].filter((el) => el !== null) as Element[]);
  }

  private async focus(path: string): Promise<void> {
    try {
      this.receive(await this.client.call({ op: "watch_focus", model: this.model, focus: [path], since: this.since() }));
    } catch (error) {
      this.events.error(error, "record histograms");
    }
  }
}

function flagBadge(flag: WatchFlag): HTMLElement {
  return h("span", { class: cls("badge", "watch-flag", `flag-${flag}`), title: FLAG_TEXT[flag] },
    flag === "nonfinite" ? "NaN" : flag === "exploding" ? "▲" : "▼");
}
