/** The explorer's search box: the query is checked here (SearchQuery, the kernel's grammar), run in the kernel
 * (op `search`, which sends matches with their ancestors, never the whole tree), and a bad one is explained
 * under the box. Enter runs at once, typing runs after a short pause, Escape clears. */

import type { SearchResult } from "../protocol";
import { cls, formatBytes, formatCount, formatInteger, h } from "./format";
import { __, _n } from "./i18n";
import { parseQuery, QueryError } from "./SearchQuery";

const PAUSE_MS = 250;

/** The box's tooltip: the grammar's words stay as they are in every language. */
function help(): string {
  const terms = 'type:Linear, dtype:float16, device:cuda:0, state:lazy, kind:param, trainable, frozen, tied, ' +
    `numel>1e6, nbytes<=4M, "${__("quoted text")}"`;
  return __("Search: a name or path (%1), a glob (%2), %3; terms separated by spaces must all hold; %4 leaves out. Enter searches, Esc clears.",
    "c_attn", "h.*.attn.c_attn.weight", terms, "-term");
}

export interface SearchEvents {
  /** Run `query` in the kernel. */
  search(query: string): Promise<SearchResult>;
  /** Show these rows instead of the tree (null: the tree again). */
  show(result: SearchResult | null): void;
}

export class SearchBox {
  readonly element: HTMLDivElement;
  readonly input: HTMLInputElement;
  private readonly status: HTMLDivElement;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private runs = 0;
  private shown = ""; // the query whose rows are on screen ("" : none)
  private running: Promise<void> = Promise.resolve();

  constructor(private readonly events: SearchEvents) {
    this.input = h("input", { class: cls("input", "search-input"), type: "search", placeholder: __("Search blocks and parameters"),
      title: help(), "aria-label": __("Search blocks and parameters"), spellcheck: "false", autocomplete: "off" });
    this.status = h("div", { class: cls("search-status"), role: "status", "aria-live": "polite" });
    this.element = h("div", { class: cls("search") }, this.input, this.status);
    this.input.addEventListener("input", () => this.schedule());
    this.input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") {
        e.preventDefault();
        void this.run();
      } else if (e.key === "Escape" && this.input.value) {
        e.preventDefault();
        e.stopPropagation();
        this.clear();
      }
    });
  }

  /** True while search rows are shown. */
  get active(): boolean {
    return this.shown !== "";
  }

  /** Resolves when the latest search has been answered and shown (for hosts and tests). */
  get settled(): Promise<void> {
    return this.running;
  }

  focus(): void {
    this.input.focus();
    this.input.select();
  }

  /** Empty the box and show the tree again. */
  clear(): void {
    this.input.value = "";
    void this.run();
  }

  /** The model changed: search again with what the box holds (a no-op when nothing is searched). */
  rerun(): Promise<void> {
    return this.active ? this.run() : Promise.resolve();
  }

  dispose(): void {
    if (this.timer !== null) clearTimeout(this.timer);
  }

  private schedule(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.run(), PAUSE_MS);
  }

  /** Check, run and show the box's query; a later run overtakes an earlier one still waiting for the kernel. */
  run(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const run = ++this.runs;
    const query = this.input.value.trim();
    this.running = this.answer(run, query);
    return this.running;
  }

  private async answer(run: number, query: string): Promise<void> {
    let terms;
    try {
      terms = parseQuery(query);
    } catch (error) {
      if (!(error instanceof QueryError)) throw error;
      this.say(error.message, true);
      return; // the rows of the last good query stay until this one is fixed
    }
    if (!terms.length) {
      this.shown = "";
      this.say("", false);
      this.events.show(null);
      return;
    }
    this.say(__("searching…"), false);
    try {
      const result = await this.events.search(query);
      if (run !== this.runs) return;
      this.shown = query;
      this.events.show(result);
      this.say(describe(result), false);
    } catch (error) {
      if (run !== this.runs) return;
      this.say(error instanceof Error ? error.message : String(error), true);
    }
  }

  private say(text: string, isError: boolean): void {
    this.status.textContent = text;
    this.status.classList.toggle("jp-mod-error", isError);
    this.input.setAttribute("aria-invalid", String(isError));
    this.element.classList.toggle("jp-mod-empty", !text);
  }
}

/** "12 found · 21.2M params · 81.0 MiB" (+ how many are shown when the answer was cut). */
function describe(result: SearchResult): string {
  if (!result.total) return __("nothing found");
  const found = _n("%2 found", "%2 found", result.total, formatInteger(result.total));
  const params = _n("%2 param", "%2 params", result.params, formatCount(result.params));
  const summary = `${found} · ${params} · ${formatBytes(result.nbytes)}`;
  if (!result.truncated) return summary;
  const shown = result.rows.filter((r) => r.match).length;
  return _n("%2 — the first %3 shown: add terms to narrow it", "%2 — the first %3 shown: add terms to narrow it", shown, summary,
    formatInteger(shown));
}
