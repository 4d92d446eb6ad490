/** The action history of one model: every paramscope action with its description, time and saved size, and
 * "Undo back to here" on any entry (that entry and every later one, all or none). The bound and what it
 * dropped are shown at the top. */

import { type Client, type HistoryEntry, KernelError, type Ops, type UndoToRequest, type UndoToResult } from "../protocol";
import { cls, formatBytes, formatInteger, h } from "./format";
import { __, _n, locale } from "./i18n";

type History = Ops["history"]["result"];

export interface HistoryEvents {
  /** Entries were undone: the model changed. */
  undone(result: UndoToResult): Promise<void>;
  /** A request failed; `failed` is the whole translated sentence that says what did not happen. */
  error(error: unknown, failed: string): void;
}

export class HistoryPanel {
  readonly element: HTMLDivElement;
  private history: History | null = null;
  private loading: Promise<void> = Promise.resolve();

  constructor(private readonly client: Client, private readonly model: string, private readonly events: HistoryEvents) {
    this.element = h("div", { class: cls("history"), role: "region", "aria-label": __("Action history") });
    this.element.hidden = true;
  }

  get open(): boolean {
    return !this.element.hidden;
  }

  /** Resolves when the shown history is loaded. */
  get settled(): Promise<void> {
    return this.loading;
  }

  toggle(): void {
    this.element.hidden = !this.element.hidden;
    if (this.open) this.refresh();
  }

  /** Read the history again (after any change) when open. */
  refresh(): void {
    if (!this.open) return;
    this.loading = (async () => {
      try {
        this.history = await this.client.call({ op: "history", model: this.model });
        this.render();
      } catch (error) {
        this.events.error(error, __("Could not read the history"));
      }
    })();
  }

  async undoTo(index: number, force = false): Promise<void> {
    const request: UndoToRequest = { op: "undo", model: this.model, to: index, force };
    try {
      // The undo op with `to` answers with every entry it undid (see UndoToResult).
      const result = (await this.client.call(request)) as unknown as UndoToResult;
      await this.events.undone(result);
    } catch (error) {
      if (error instanceof KernelError && error.type === "UndoConflict" && !force) {
        this.offerForce(index, error.message);
        return;
      }
      this.events.error(error, __("Could not undo back to #%1", index));
    }
    this.refresh();
  }

  private offerForce(index: number, message: string): void {
    const force = h("button", { class: cls("button", "history-force") }, __("Undo anyway"));
    const cancel = h("button", { class: cls("button") }, __("Cancel"));
    const box = h("div", { class: cls("history-conflict"), role: "alert" }, h("div", {}, message), force, cancel);
    force.addEventListener("click", () => {
      box.remove();
      void this.undoTo(index, true);
    });
    cancel.addEventListener("click", () => box.remove());
    this.element.prepend(box);
  }

  private render(): void {
    const history = this.history;
    if (!history) return;
    const limit = history.limit_entries;
    const now = history.entries.length;
    const bound = [
      _n("keeps the last %2 action and %3 of saved values", "keeps the last %2 actions and %3 of saved values", limit,
        formatInteger(limit), formatBytes(history.limit_bytes)),
      _n("now %2 using %3", "now %2 using %3", now, formatInteger(now), formatBytes(history.bytes)),
    ].join("; ");
    const n = history.dropped;
    // The descriptions come from the kernel as they are.
    const descriptions = history.dropped_entries.map((e) => e.description).join("; ");
    const dropped = n
      ? h("div", { class: cls("history-dropped") }, descriptions
        ? _n("%2 older action dropped to stay in bounds: %3", "%2 older actions dropped to stay in bounds: %3", n,
          formatInteger(n), descriptions)
        : _n("%2 older action dropped to stay in bounds", "%2 older actions dropped to stay in bounds", n, formatInteger(n)))
      : null;
    const list = h("ol", { class: cls("history-list"), start: 0 },
      ...history.entries.map((entry) => this.row(entry)).reverse());
    this.element.replaceChildren(...[
      h("div", { class: cls("history-header") }, h("strong", {}, __("History")), h("span", { class: cls("history-bound") }, bound)),
      dropped,
      history.entries.length ? list : h("div", { class: cls("history-empty") },
        __("No actions yet: reinitialize, set, tie or untie a parameter.")),
    ].filter((el) => el !== null) as HTMLElement[]);
  }

  private row(entry: HistoryEntry): HTMLElement {
    const when = new Date(entry.time * 1000).toLocaleTimeString(locale());
    const undo = h("button", { class: cls("button", "history-undo"), "data-index": entry.index,
      disabled: !entry.undoable, title: entry.undoable ? __("Undo this action and every later one") :
        __("Its saved copy was larger than the undo limit") }, __("Undo back to here"));
    undo.addEventListener("click", () => void this.undoTo(entry.index));
    return h("li", { class: cls("history-entry"), value: entry.index, "data-index": entry.index },
      h("span", { class: cls("history-index") }, `#${entry.index}`),
      h("span", { class: cls("history-description") }, entry.description),
      h("span", { class: cls("history-time") }, when),
      h("span", { class: cls("history-size") }, formatBytes(entry.bytes)),
      undo);
  }
}
