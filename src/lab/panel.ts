/** The sidebar's content, free of JupyterLab: the models of one kernel as rows (name, framework, class,
 * unique params, memory, device); expanding a row mounts the shared ModelExplorer for that model.
 *
 * Re-listing is one cheap `models` request; an expanded explorer reloads only when its model's summary
 * changed (a new revision, or a different class/size/device from code), so unchanged subtrees are not sent again. */

import { Client, type ModelSummary, type Request, type Response, type Transport, type WatchState } from "../protocol";
import type { DetailsHost } from "../tree/DetailsLayout";
import { ModelExplorer } from "../tree/ModelExplorer";
import { cls, formatBytes, formatCount, formatInteger, h } from "../tree/format";
import { __, _n } from "../tree/i18n";
import { NotInstalledError } from "./transport";

export interface PanelOptions {
  /** Children per request in expanded trees (the "maxChildrenPerPage" setting). */
  pageSize: number;
  /** Where explorers can show their details in a tab (JupyterLab's main area); none in Notebook 7. */
  detailsHost?: DetailsHost;
}

/** After this long without an answer the status line says the kernel is busy instead of looking frozen. */
const WAITING_MS = 400;

interface Row {
  summary: ModelSummary;
  element: HTMLDivElement;
  header: HTMLButtonElement;
  body: HTMLDivElement;
  explorer: ModelExplorer | null;
}

type StatusKind = "idle" | "busy" | "error" | "empty";

export class ModelsPanel {
  readonly element: HTMLDivElement;
  private readonly labelEl: HTMLSpanElement;
  private readonly statusEl: HTMLDivElement;
  private readonly listEl: HTMLDivElement;
  private readonly rows = new Map<string, Row>();
  private readonly expanded = new Set<string>(); // kept by name across re-lists, restarts and kernels
  private transport: Transport | null = null;
  private client: Client | null = null;
  private generation = 0;
  private refreshing: Promise<void> | null = null;
  private again = false;
  private cellBusy = false;
  private waiting = false;
  private waitTimer: ReturnType<typeof setTimeout> | undefined;
  private listed = false; // the current kernel answered one listing
  private problem: string | null = null;
  private notice: string | null;
  private pageSize: number;
  private readonly detailsHost: DetailsHost | undefined;

  constructor(options: PanelOptions) {
    this.pageSize = options.pageSize;
    this.detailsHost = options.detailsHost;
    this.notice = __("Open a notebook or console to see the models of its kernel.");
    const refresh = h("button", { class: cls("button", "icon-button", "sidebar-refresh"),
      title: __("Refresh: list the kernel's models again"), "aria-label": __("Refresh the model list") }, "↻");
    refresh.addEventListener("click", () => void this.refresh());
    this.labelEl = h("span", { class: cls("sidebar-kernel") });
    this.statusEl = h("div", { class: cls("sidebar-status"), role: "status" });
    this.listEl = h("div", { class: cls("sidebar-list") });
    this.element = h("div", { class: `jp-ParamScope ${cls("sidebar")}` },
      h("div", { class: cls("sidebar-header") }, h("span", { class: cls("sidebar-title") }, __("Models")), this.labelEl,
        h("span", { class: cls("spinner"), "aria-hidden": "true" }), refresh),
      this.statusEl, this.listEl);
    this.render();
  }

  /** Show the models of a kernel reached by `transport` (null: no kernel, `notice` says why); `refresh` lists them. */
  connect(transport: Transport | null, label: string, notice?: string): void {
    this.generation++;
    this.clearRows();
    this.listed = false;
    this.problem = null;
    this.cellBusy = false;
    this.transport = transport && this.observe(transport);
    this.client = this.transport && new Client(this.transport);
    this.labelEl.textContent = label;
    this.labelEl.title = label;
    this.notice = transport ? null : notice ?? __("Open a notebook or console to see the models of its kernel.");
    this.render();
  }

  /** The kernel is going away (restart, death): drop every explorer; `refresh` when it is back. */
  reset(notice: string): void {
    this.generation++;
    this.clearRows();
    this.listed = false;
    this.problem = null;
    this.notice = notice;
    this.render();
  }

  /** A user's cell is running (its answers queue behind it) or finished. */
  setCellBusy(busy: boolean): void {
    this.cellBusy = busy;
    this.render();
  }

  /** How many requests wait for the kernel; past WAITING_MS the panel says it is waiting. */
  setPending(pending: number): void {
    clearTimeout(this.waitTimer);
    if (pending === 0) {
      this.waiting = false;
      this.render();
    } else if (!this.waiting) {
      this.waitTimer = setTimeout(() => {
        this.waiting = true;
        this.render();
      }, WAITING_MS);
    }
  }

  /** New explorers page by `pageSize`; the open ones are mounted again with it. */
  setPageSize(pageSize: number): void {
    if (pageSize === this.pageSize) return;
    this.pageSize = pageSize;
    for (const [name, row] of this.rows) {
      if (row.explorer) {
        row.explorer.dispose();
        row.explorer = null;
        this.mount(name, row);
      }
    }
  }

  /** List the models again (one in flight at a time; calls meanwhile make one more pass). */
  refresh(): Promise<void> {
    if (this.refreshing) {
      this.again = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      try {
        do {
          this.again = false;
          await this.list();
        } while (this.again);
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  /** A user's cell finished: list again, then let each open explorer check the values it shows. */
  async afterCell(): Promise<void> {
    await this.refresh();
    await Promise.all([...this.rows.values()].map((row) => row.explorer?.checkStale()));
  }

  /** Resolves when the list and every open explorer are done loading (for hosts and tests). */
  async settled(): Promise<void> {
    while (this.refreshing) await this.refreshing;
    await Promise.all([...this.rows.values()].map((row) => row.explorer?.settled()));
  }

  isExpanded(name: string): boolean {
    return this.expanded.has(name);
  }

  /** Expand or collapse a model's row (what clicking its header does). */
  toggle(name: string): void {
    const row = this.rows.get(name);
    if (!row) return;
    if (this.expanded.has(name)) {
      this.expanded.delete(name);
      row.explorer?.dispose();
      row.explorer = null;
    } else {
      this.expanded.add(name);
      this.mount(name, row);
    }
    this.renderRow(row);
    if (row.explorer) row.header.scrollIntoView?.({ block: "start" });
  }

  /** A watch update the kernel pushed for model `name`: its open explorer draws it. */
  noteWatch(name: string, state: WatchState): void {
    this.rows.get(name)?.explorer?.noteWatch(state);
  }

    explorer(name: string): ModelExplorer | null {
    return this.rows.get(name)?.explorer ?? null;
  }

  dispose(): void {
    this.generation++;
    clearTimeout(this.waitTimer);
    this.clearRows();
    this.element.remove();
  }

  private async list(): Promise<void> {
    const client = this.client;
    if (!client) return;
    const generation = this.generation;
    let models: ModelSummary[];
    try {
      models = (await client.call({ op: "models" })).models;
    } catch (error) {
      if (generation !== this.generation) return;
      if (error instanceof NotInstalledError) this.clearRows();
      this.notice = null;
      this.problem = error instanceof Error ? error.message : String(error);
      this.render();
      return;
    }
    if (generation !== this.generation) return;
    this.listed = true;
    this.notice = null;
    this.problem = null;
    const names = new Set(models.map((m) => m.name));
    for (const [name, row] of this.rows) {
      if (!names.has(name)) {
        row.explorer?.dispose();
        row.element.remove();
        this.rows.delete(name);
      }
    }
    models.forEach((summary, i) => this.place(summary, i));
    this.render();
  }

  /** Create or update the row of `summary` at position `index`; refresh its explorer only if the model changed. */
  private place(summary: ModelSummary, index: number): void {
    let row = this.rows.get(summary.name);
    if (!row) {
      row = this.createRow(summary);
      this.rows.set(summary.name, row);
      if (this.expanded.has(summary.name)) this.mount(summary.name, row);
    } else {
      const before = row.summary;
      row.summary = summary;
      if (row.explorer) {
        if (before.revision !== summary.revision) row.explorer.noteRevision(summary.revision);
        else if (!sameShape(before, summary)) void row.explorer.refresh();
      }
    }
    this.renderRow(row);
    if (this.listEl.children[index] !== row.element) this.listEl.insertBefore(row.element, this.listEl.children[index] ?? null);
  }

  private createRow(summary: ModelSummary): Row {
    const header = h("button", { class: cls("model-header"), "aria-expanded": "false" });
    const body = h("div", { class: cls("model-body") });
    const element = h("div", { class: cls("model"), "data-model": summary.name }, header, body);
    const row: Row = { summary, element, header, body, explorer: null };
    header.addEventListener("click", () => this.toggle(row.summary.name));
    return row;
  }

  private mount(name: string, row: Row): void {
    if (!this.transport) return;
    row.explorer = new ModelExplorer(row.body, { transport: this.transport, model: name, pageSize: this.pageSize,
      detailsHost: this.detailsHost });
    void row.explorer.start();
  }

  private renderRow(row: Row): void {
    const s = row.summary;
    const open = this.expanded.has(s.name);
    row.header.setAttribute("aria-expanded", String(open));
    // One line per fact: data (name, class, device, dtype) stays as it is, the words around it are translated.
    row.header.title = [
      `${s.name}: ${s.type} (${s.framework})`,
      _n("%2 unique parameter", "%2 unique parameters", s.n_params, formatInteger(s.n_params)),
      _n("%2 byte", "%2 bytes", s.nbytes, formatInteger(s.nbytes)),
      ...(s.device ? [__("on %1", s.device)] : []),
      ...(s.dtype ? [s.dtype] : []),
    ].join("\n");
    row.header.replaceChildren(
      h("span", { class: cls("caret"), "aria-hidden": "true" }, open ? "▾" : "▸"),
      h("span", { class: cls("model-name") }, s.name),
      h("span", { class: cls("framework") }, s.framework),
      h("span", { class: cls("model-type") }, s.type),
      h("span", { class: cls("model-stats") },
        [__("%1 params", formatCount(s.n_params)), formatBytes(s.nbytes), ...(s.device ? [s.device] : [])].join(" · ")),
    );
    row.body.hidden = !open;
  }

  private render(): void {
    let kind: StatusKind = "idle";
    let text = "";
    if (this.notice !== null) {
      kind = "empty";
      text = this.notice;
    } else if (this.problem !== null) {
      kind = "error";
      text = this.problem;
    } else if (this.cellBusy) {
      kind = "busy";
      text = __("Kernel busy running a cell: the list updates when it finishes.");
    } else if (this.waiting) {
      kind = "busy";
      text = __("Waiting for the kernel…");
    } else if (!this.listed) {
      kind = "busy";
      text = __("Listing models…");
    } else if (this.rows.size === 0) {
      kind = "empty";
      text = __("No models in this kernel yet: create one in a cell (PyTorch, Keras or MXNet Gluon).");
    } else {
      text = _n("%1 model", "%1 models", this.rows.size);
    }
    this.statusEl.textContent = text;
    this.statusEl.className = `${cls("sidebar-status")} jp-mod-${kind}`;
    this.element.classList.toggle("jp-mod-busy", this.cellBusy || this.waiting);
  }

  private clearRows(): void {
    for (const row of this.rows.values()) {
      row.explorer?.dispose();
      row.element.remove();
    }
    this.rows.clear();
  }

  /** Answers to actions (from any explorer here) change a model's summary: list again to show it. */
  private observe(transport: Transport): Transport {
    return {
      request: async (req: Request): Promise<Response> => {
        const response = await transport.request(req);
        if (response.ok && isMutation(req)) void this.refresh();
        return response;
      },
    };
  }
}

const MUTATIONS = new Set(["reinit", "set_value", "tie", "untie", "undo"]);

function isMutation(req: Request): boolean {
  return MUTATIONS.has(req.op);
}

/** Same class, size, placement and state: an unchanged revision then means an unchanged tree. */
function sameShape(a: ModelSummary, b: ModelSummary): boolean {
  return a.type === b.type && a.n_params === b.n_params && a.nbytes === b.nbytes && a.device === b.device &&
    a.dtype === b.dtype && a.state === b.state && a.framework === b.framework;
}
