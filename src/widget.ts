/** The anywidget entry: `render({model, el})` shows a ModelExplorer whose requests travel as widget messages. */

import type { Request, Response, Transport, WatchPush, WatchState } from "./protocol";
import { ModelExplorer } from "./tree/ModelExplorer";
import type { Language } from "./i18n/catalog";
import { __, setLanguage } from "./tree/i18n";
import "./style.css";

/** The traits of paramscope.widget.ParamScopeWidget (synced from Python). */
export interface WidgetModel {
  model_name: string;
  /** `ps.show(model, locale="tr")`; "" follows the page. */
  locale?: string;
}

/** The language the widget speaks: the `locale` asked for in Python, else JupyterLab's (Settings → Language: a
 * JupyterLab or Notebook 7 page, known by its #jupyter-config-data, has it on <html lang>), else the browser's
 * (VS Code notebooks, Colab, exported pages), else English. */
export function widgetLanguage(asked: string | undefined, doc: Document = document,
  nav: { language?: string } | null = globalThis.navigator ?? null): string {
  if (asked) return asked;
  const lab = doc.getElementById("jupyter-config-data") !== null ? doc.documentElement.lang : "";
  return lab || nav?.language || "en";
}

/** The part of anywidget's model API this entry uses (see @anywidget/types AnyModel). */
export interface AnyModel<T> {
  get<K extends keyof T>(key: K): T[K];
  send(content: unknown): void;
  on(event: "msg:custom" | "change:locale", callback: (msg: unknown) => void): void;
  off(event: "msg:custom" | "change:locale", callback: (msg: unknown) => void): void;
}

// A kernel busy with a long cell answers only when the cell is done; past this, say so instead of waiting forever.
const TIMEOUT_MS = 120_000;

/** Requests as custom messages to the Python widget, answers matched back by id. */
export class WidgetTransport implements Transport {
  private readonly waiting = new Map<number, { resolve(r: Response): void; reject(e: Error): void; timer: ReturnType<typeof setTimeout> }>();
  private readonly listener = (msg: unknown) => this.receive(msg);

  constructor(private readonly model: AnyModel<WidgetModel>, private readonly timeoutMs = TIMEOUT_MS) {
    model.on("msg:custom", this.listener);
  }

  request(req: Request): Promise<Response> {
    return new Promise<Response>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(req.id);
        reject(new Error(__("no answer from the kernel after %1 s: is it busy running a cell, or was it restarted?",
          this.timeoutMs / 1000)));
      }, this.timeoutMs);
      this.waiting.set(req.id, { resolve, reject, timer });
      this.model.send(req);
    });
  }

  dispose(): void {
    this.model.off("msg:custom", this.listener);
    for (const { reject, timer } of this.waiting.values()) {
      clearTimeout(timer);
      reject(new Error(__("the widget was closed")));
    }
    this.waiting.clear();
  }

  /** Called when the kernel says the model changed elsewhere (sidebar, another widget, code in a cell). */
  onRevision: (revision: number) => void = () => {};
  /** Called with each watch update the kernel pushes while a training cell runs. */
  onWatch: (state: WatchState) => void = () => {};
  /** Called when a user's cell finished: values may have changed without a revision. */
  onCell: () => void = () => {};

  private receive(msg: unknown): void {
    const event = msg as { event?: unknown; revision?: unknown } | null;
    if (event !== null && typeof event === "object" && event.event === "revision" && typeof event.revision === "number") {
      this.onRevision(event.revision);
      return;
    }
    if (event !== null && typeof event === "object" && event.event === "cell") {
      this.onCell();
      return;
    }
    if (event !== null && typeof event === "object" && event.event === "watch") {
      this.onWatch((msg as WatchPush).state);
      return;
    }
    const response = msg as Response;
    if (typeof response !== "object" || response === null || typeof response.id !== "number") return;
    const waiter = this.waiting.get(response.id);
    if (!waiter) return;
    clearTimeout(waiter.timer);
    this.waiting.delete(response.id);
    waiter.resolve(response);
  }
}

/** Set the page's language for the widget of `model` (before its explorer is built); returns the one chosen. */
export function useLanguage(model: AnyModel<WidgetModel>): Language | "en" {
  return setLanguage(widgetLanguage(model.get("locale")));
}

function render({ model, el }: { model: AnyModel<WidgetModel>; el: HTMLElement }): () => void {
  const transport = new WidgetTransport(model);
  const build = (): ModelExplorer => {
    useLanguage(model);
    const made = new ModelExplorer(el, { transport, model: model.get("model_name") });
    transport.onRevision = (revision) => made.noteRevision(revision);
    transport.onWatch = (state) => made.noteWatch(state);
    transport.onCell = () => void made.checkStale();
    void made.start();
    return made;
  };
  let explorer = build();
  // `widget.locale = "pt-BR"` in Python: the explorer is made again in that language.
  const relocate = () => {
    explorer.dispose();
    explorer = build();
  };
  model.on("change:locale", relocate);
  return () => {
    model.off("change:locale", relocate);
    explorer.dispose();
    transport.dispose();
  };
}

export default { render };
