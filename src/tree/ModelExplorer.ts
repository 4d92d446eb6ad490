/** The whole explorer for one model: toolbar, message banner, virtualized tree, details panel, action menu and
 * forms. Host-agnostic: give it an element and a Transport (widget messages, kernel execute, postMessage). */

import { type ActionResult, Client, KernelError, type Node, type Transport, type UndoResult, type WatchState } from "../protocol";
import { Dialog, openReinit, openSetValue } from "./ActionForms";
import { type ActionName, ActionMenu } from "./ActionMenu";
import { type DetailsHost, DetailsLayout } from "./DetailsLayout";
import { ErrorBanner } from "./ErrorBanner";
import { HistoryPanel } from "./HistoryPanel";
import { SearchBox } from "./SearchBox";
import { Treemap } from "./Treemap";
import { ComparePanel } from "./Compare";
import { cls, formatBytes, formatCount, formatInteger, h } from "./format";
import { __, _n, locale } from "./i18n";
import { fetchStats, StatsPanel } from "./StatsPanel";
import { TreeState } from "./TreeState";
import { TreeView } from "./TreeView";
import { WatchPanel } from "./WatchPanel";

export interface ExplorerOptions {
  transport: Transport;
  /** The model's variable name in the kernel (what requests carry as `model`). */
  model: string;
  /** How "copy as code" hands over a node's code (default: the clipboard); resolves to what to report. */
  copyCode?: (code: string) => Promise<string>;
  /** Children per request when a block is expanded (default: TreeState's PAGE). */
  pageSize?: number;
  /** Where the details can open in a tab (the JupyterLab sidebar); without it they stay in a pane. */
  detailsHost?: DetailsHost;
}

export class ModelExplorer {
  readonly element: HTMLDivElement;
  readonly banner = new ErrorBanner();
  readonly tree: TreeState;
  readonly view: TreeView;
  readonly panel: StatsPanel;
  readonly menu: ActionMenu;
  readonly dialog = new Dialog(() => this.view.focus());
  readonly watch: WatchPanel;
  readonly history: HistoryPanel;
  readonly layout: DetailsLayout;
  readonly search: SearchBox;
  readonly treemap: Treemap;
  readonly compare: ComparePanel;
  private readonly client: Client;
  private readonly model: string;
  private readonly copyCode: (code: string) => Promise<string>;
  private readonly title: HTMLDivElement;
  private readonly revisionLabel: HTMLSpanElement;
  private selected: string | null = null;
  private folding = false;
  private readonly foldButton: HTMLButtonElement;
  private tieSource: string | null = null;
  private framework = "";
  private revision: number | null = null;
  private refreshing: Promise<void> | null = null;
  private stale = false;
  private busy = 0;
  // The selected tensor's fingerprint ("value|grad") when its statistics were read: what a cell may change.
  private shownPrint: { path: string; token: string } | null = null;
  private checking: Promise<void> | null = null;
  private readonly disposers: (() => void)[] = [];

  constructor(host: HTMLElement, options: ExplorerOptions) {
    this.model = options.model;
    this.copyCode = options.copyCode ?? copyText;
    this.client = new Client(options.transport);
    this.tree = new TreeState(async (path, offset, limit) => {
      const result = await this.request(() =>
        this.client.call({ op: "tree", model: this.model, path, depth: 1, offset, limit }));
      this.framework = result.framework;
      return result.node;
    }, options.pageSize);
    this.view = new TreeView({
      toggle: (path) => void this.toggle(path),
      select: (path) => this.select(path),
      menu: (path, x, y) => this.openMenu(path, x, y),
      jump: (path) => void this.jump(path),
      needRows: (from, to) => {
        this.tree.ensureLoaded(from, to).then(() => this.update(), (e) => this.banner.showError(e, __("Could not load more rows")));
      },
    });
    this.panel = new StatsPanel({
      stats: (path, progress, signal) => this.request(() => fetchStats(this.client, this.model, path, 48, progress, signal)),
      values: (path) => this.request(() => this.client.call({ op: "values", model: this.model, path, max_elems: 4096 })),
    }, {
      action: (name, path) => void this.runAction(name, path),
      jump: (path) => void this.jump(path),
      error: (error, failed) => this.banner.showError(error, failed),
    });
    this.title = h("div", { class: cls("title") }, this.model);
    this.revisionLabel = h("span", { class: cls("revision"), title: __("Changes made through paramscope") });
    const refresh = h("button", { class: cls("button", "icon-button"),
      title: __("Refresh: read the model again (after changes from code)") },
    "↻", h("span", { class: cls("button-label") }, " ", __("Refresh")));
    const undo = h("button", { class: cls("button", "icon-button"), title: __("Undo the last paramscope action on this model") },
      "↶", h("span", { class: cls("button-label") }, " ", __("Undo")));
    refresh.addEventListener("click", () => void this.refresh());
    undo.addEventListener("click", () => void this.runAction("undo", this.selected ?? ""));
    this.watch = new WatchPanel(this.client, this.model, {
      changed: () => this.view.setDecoration((node) => this.decorate(node)),
      error: (error, failed) => this.banner.showError(error, failed),
    });
    this.compare = new ComparePanel(this.client, this.model, {
      changed: () => this.view.setDecoration((node) => this.decorate(node)),
      select: (path) => void this.jump(path),
      error: (error, failed) => this.banner.showError(error, failed),
    });
    this.history = new HistoryPanel(this.client, this.model, {
      undone: async (result) => {
        await this.caughtUp();
        const undone = result.undone.map((e) => e.description);
        this.banner.show("success", undone.length === 1 ? __("undid \"%1\"", undone[0])
          : _n("undid %2 action: %3", "undid %2 actions: %3", undone.length, formatInteger(undone.length), quotedList(undone)));
      },
      error: (error, failed) => this.banner.showError(error, failed),
    });
    const historyButton = h("button", { class: cls("button", "icon-button", "history-toggle"),
      title: __("History: every action on this model; undo back to any of them") },
    "☰", h("span", { class: cls("button-label") }, " ", __("History")));
    historyButton.addEventListener("click", () => this.history.toggle());
    this.foldButton = h("button", { class: cls("button", "icon-button", "fold-toggle"), "aria-pressed": "false",
      title: __("Fold repeated blocks: runs of blocks of the same type and parameter shapes (a transformer's layers) become one row, opened by its arrow") },
    "≡", h("span", { class: cls("button-label") }, " ", __("Fold repeats")));
    this.foldButton.addEventListener("click", () => void this.setFolding(!this.folding));
    this.treemap = new Treemap({
      load: (path, color) => this.request(() =>
        this.client.call({ op: "sizes", model: this.model, path, depth: 2, ...(color === "dtype" ? {} : { color }) })),
      select: (path) => void this.jump(path),
      error: (error, failed) => this.banner.showError(error, failed),
    });
    const mapButton = h("button", { class: cls("button", "icon-button", "map-toggle"),
      title: __("Map: a treemap of where the parameters are (by count or bytes, coloured by dtype or a statistic); click selects") },
    "▦", h("span", { class: cls("button-label") }, " ", __("Map")));
    mapButton.addEventListener("click", () => {
      void this.treemap.toggle();
      mapButton.setAttribute("aria-pressed", String(this.treemap.visible));
    });
    const toolbar = h("div", { class: cls("toolbar") }, this.title, this.revisionLabel,
      h("span", { class: cls("spinner"), "aria-hidden": "true" }), historyButton, this.foldButton, mapButton, this.compare.button, refresh, undo);
    this.search = new SearchBox({
      search: (query) => this.request(() => this.client.call({ op: "search", model: this.model, query, limit: 500 })),
      show: (result) => {
        this.tree.setFilter(result ? result.rows : null);
        this.update();
      },
    });
    this.menu = new ActionMenu(host, () => this.view.focus());
    const body = h("div", { class: cls("body") }, this.view.element, this.panel.element);
    // data-lm-suppress-shortcuts: keys typed here are ours, not the notebook's (JupyterLab, Notebook 7);
    // data-jp-suppress-context-menu: a right-click opens our menu only, not JupyterLab's as well (which, closing,
    // focuses the notebook and scrolls it to the top).
    this.element = h("div", { class: cls("explorer"), "data-lm-suppress-shortcuts": "true",
      "data-jp-suppress-context-menu": "true" }, toolbar, this.search.element, this.treemap.element,
      this.watch.bar, this.compare.bar, this.banner.element, body, this.watch.detail, this.history.element, this.menu.element, this.dialog.element);
    this.layout = new DetailsLayout(this.element, body, this.panel.element, `${this.model} · paramscope`,
      options.detailsHost);
    this.view.element.append(this.layout.handle);
    if (this.layout.toggle) toolbar.append(this.layout.toggle);
    this.element.addEventListener("keydown", (e) => {
      if (e.key === "/" && !(e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement)) {
        this.search.focus(); // "/" finds, as in a browser's or an editor's tree
        e.preventDefault();
      }
      if (e.key === "Escape" && this.tieSource !== null) {
        this.cancelTie();
        e.preventDefault();
      }
    });
    this.disposers.push(this.client.onRevision((revision) => this.onRevision(revision)));
    host.classList.add("jp-ParamScope");
    host.append(this.element);
  }

  /** Load the model row and its children; resolves when shown (errors go to the banner). */
  async start(): Promise<void> {
    this.layout.start();
    try {
      await this.tree.load();
      this.select("");
    } catch (error) {
      this.banner.showError(error, __("Could not show %1", this.model));
    }
    this.update();
  }

  /** Read the model again, keeping what is expanded and selected where it still exists. */
  /** A row's extra content: the watch's sparkline and flags, then the change since the compare snapshot. */
  private decorate(node: Node): HTMLElement | null {
    const parts = [this.watch.decorate(node), this.compare.decorate(node)].filter((p) => p !== null);
    return parts.length <= 1 ? parts[0] ?? null : h("span", { class: cls("decorations") }, ...parts);
  }

  refresh(): Promise<void> {
    if (this.refreshing) {
      this.stale = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      try {
        do {
          this.stale = false;
          await this.tree.refresh();
        } while (this.stale);
        if (this.folding) await this.loadRuns(this.tree.expandedPaths());
        void this.treemap.refresh();
        await this.search.rerun();
        if (this.selected !== null && !this.tree.node(this.selected)) this.selected = "";
        this.update();
        this.showDetails(this.selected === null ? null : this.tree.node(this.selected) ?? null);
      } catch (error) {
        this.banner.showError(error, __("Could not refresh"));
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  /** A cell ran: values may have changed behind paramscope's back. Compare the fingerprints of the tensors in
   * view and the selection with what is shown; refresh the tree when a gradient appeared or went or a tensor
   * is gone, the details when the selected tensor changed. Frameworks without fingerprints refresh. */
  checkStale(): Promise<void> {
    if (this.checking) return this.checking;
    this.checking = (async () => {
      try {
        await this.compareFingerprints();
      } catch (error) {
        this.banner.showError(error, __("Could not check for changed values"));
      } finally {
        this.checking = null;
      }
    })();
    return this.checking;
  }

  private async compareFingerprints(): Promise<void> {
    if (this.refreshing) await this.refreshing;
    if (!this.tree.root) return;
    const selected = this.selected === null ? null : this.tree.node(this.selected) ?? null;
    const paths = new Set(this.view.visibleTensors());
    if (selected && isTensor(selected)) paths.add(selected.path);
    if (!paths.size) return;
    const answer = await this.request(() =>
      this.client.call({ op: "fingerprints", model: this.model, paths: [...paths] }));
    if (!answer.supported) {
      await this.refresh();
      return;
    }
    let treeChanged = false;
    for (const [path, print] of Object.entries(answer.fingerprints)) {
      const node = this.tree.node(path);
      if (print === null || !node) treeChanged = true;
      else if ((print.grad !== "none") !== node.has_grad) treeChanged = true;
    }
    const print = selected ? answer.fingerprints[selected.path] : null;
    const selectedChanged = selected !== null && print !== null && print !== undefined &&
      this.shownPrint?.path === selected.path && this.shownPrint.token !== `${print.value}|${print.grad}`;
    if (treeChanged) await this.refresh();
    else if (selectedChanged) this.showDetails(selected);
  }

  /** Show `node` in the details panel, noting the fingerprint of what it reads (asked right behind its reads). */
  private showDetails(node: Node | null): void {
    this.panel.show(node);
    this.shownPrint = null;
    if (!node || !isTensor(node)) return;
    const path = node.path;
    this.client.call({ op: "fingerprints", model: this.model, paths: [path] }).then((answer) => {
      const print = answer.fingerprints[path];
      if (print && this.selected === path) this.shownPrint = { path, token: `${print.value}|${print.grad}` };
    }, () => undefined); // no baseline: the next check only refreshes on gradients and removals
  }

  /** The kernel pushed the state of this model's watch (the host's live channel, during a training cell). */
  noteWatch(state: WatchState): void {
    this.watch.receive(state, true);
  }

  /** The host learned the model's revision elsewhere (e.g. a listing of models): refresh if it moved on. */
  noteRevision(revision: number): void {
    this.onRevision(revision);
  }

  /** After an action: its answer's new revision has started a refresh; wait for it (or refresh now). */
  private caughtUp(): Promise<void> {
    return this.refreshing ?? this.refresh();
  }

  /** Resolves once the tree, the plots and any refresh in flight are done (for hosts and tests). */
  async settled(): Promise<void> {
    while (this.refreshing) await this.refreshing;
    await this.search.settled;
    await this.treemap.settled;
    await this.panel.settled;
  }

  dispose(): void {
    this.disposers.forEach((d) => d());
    this.layout.dispose();
    this.search.dispose();
    this.watch.dispose();
    this.view.dispose();
    this.panel.dispose();
    this.menu.dispose();
    this.banner.dispose();
    this.element.remove();
  }

  private async request<T>(call: () => Promise<T>): Promise<T> {
    this.busy++;
    this.element.classList.add("jp-mod-busy");
    try {
      return await call();
    } finally {
      if (--this.busy === 0) this.element.classList.remove("jp-mod-busy");
    }
  }

  /** Any answer with a revision other than the one shown means the model changed: refresh. */
  private onRevision(revision: number): void {
    const previous = this.revision;
    this.revision = revision;
    this.revisionLabel.textContent = __("rev %1", formatInteger(revision));
    if (previous !== null && previous !== revision) {
      void this.refresh();
      this.history.refresh();
    }
  }

  private update(): void {
    const root = this.tree.root;
    if (root) {
      const params = root.n_buffers
        ? _n("%2 param + %3 in buffers", "%2 params + %3 in buffers", root.n_params, formatCount(root.n_params),
          formatCount(root.n_buffers))
        : _n("%2 param", "%2 params", root.n_params, formatCount(root.n_params));
      this.title.replaceChildren(h("strong", {}, this.model), " ", h("span", { class: cls("type") }, root.type),
        h("span", { class: cls("summary"), title: ownCount(this.framework, root) },
          [params, formatBytes(root.nbytes), this.framework].filter((part) => part !== "").join(" · ")));
    }
    this.view.update(this.tree.rows(), (path) => this.tree.isExpanded(path));
  }

  private async toggle(path: string): Promise<void> {
    try {
      if (this.tree.filtered) await this.tree.toggleFiltered(path);
      else if (this.tree.foldAt(path)) this.tree.unfold(path);
      else if (this.tree.isExpanded(path)) this.tree.collapse(path);
      else {
        await this.tree.expand(path);
        if (this.folding) await this.loadRuns([path]);
      }
    } catch (error) {
      this.banner.showError(error, __("Could not expand %1", path || this.model));
    }
    this.update();
  }

  /** Fold repeated blocks in every expanded block (and in those expanded later), or show them all again. */
  private async setFolding(on: boolean): Promise<void> {
    this.folding = on;
    this.foldButton.setAttribute("aria-pressed", String(on));
    this.foldButton.classList.toggle("jp-mod-active", on);
    if (!on) this.tree.setRuns(null);
    else await this.loadRuns(this.tree.expandedPaths());
    this.update();
  }

  private async loadRuns(paths: string[]): Promise<void> {
    try {
      await Promise.all(paths.map(async (path) => {
        const answer = await this.request(() => this.client.call({ op: "repeats", model: this.model, path }));
        if (this.folding) this.tree.setRuns(path, answer.runs);
      }));
    } catch (error) {
      this.banner.showError(error, __("Could not find repeated blocks"));
    }
  }

  private select(path: string): void {
    if (this.tieSource !== null) {
      void this.finishTie(path);
      return;
    }
    if (path === this.selected) return;
    this.selected = path;
    this.view.setSelected(path);
    this.showDetails(this.tree.node(path) ?? null);
    this.watch.select(this.tree.node(path) ?? null);
  }

  private async jump(path: string): Promise<void> {
    // A tie's target outside the search's rows: back to the tree, where it is revealed.
    if (this.tree.filtered && !this.tree.rows().some((r) => r.node?.path === path)) this.search.clear();
    try {
      if (!(await this.tree.reveal(path))) {
        this.banner.show("error", __("%1 is not in the tree any more; refresh", path), { title: __("Not found") });
        return;
      }
    } catch (error) {
      this.banner.showError(error, __("Could not find %1", path));
      return;
    }
    this.update();
    this.select(path);
    this.view.scrollTo(path);
  }

  private openMenu(path: string, x: number, y: number): void {
    const node = this.tree.node(path);
    if (!node || this.tieSource !== null) return;
    this.menu.open(node, x, y, (name) => void this.runAction(name, path));
  }

  private async runAction(name: ActionName, path: string): Promise<void> {
    const node = this.tree.node(path);
    if (!node) return;
    const where = path || this.model;
    let failed = __("The action failed");
    try {
      switch (name) {
        case "reinit": {
          failed = __("Could not list the initializers");
          const available = await this.request(() => this.client.call({ op: "initializers", model: this.model }));
          openReinit(this.dialog, this.model, node, available,
            (body) => this.act(() => this.client.call(body), __("Could not reinitialize %1", where), true));
          break;
        }
        case "set_value":
          openSetValue(this.dialog, this.model, node,
            (body) => this.act(() => this.client.call(body), __("Could not set the value of %1", where), true));
          break;
        case "tie":
          this.startTie(node);
          break;
        case "untie":
          await this.act(() => this.client.call({ op: "untie", model: this.model, path }), __("Could not untie %1", where))
            .catch(() => undefined); // already shown in the banner
          break;
        case "undo":
          failed = __("Could not undo");
          await this.undoLast(false);
          break;
        case "copy":
          failed = __("Could not copy the code of %1", where);
          this.banner.show("success", await this.copyCode(node.code));
          break;
      }
    } catch (error) {
      this.banner.showError(error, failed);
    }
  }

  /** Undo the last action. When the user changed what it changed since, the kernel refuses (UndoConflict) and
   * says what; the banner then offers "Undo anyway", which puts the saved state back regardless. */
  private async undoLast(force: boolean): Promise<void> {
    let result: UndoResult;
    try {
      result = await this.request(() => this.client.call({ op: "undo", model: this.model, ...(force ? { force } : {}) }));
    } catch (error) {
      if (!force && error instanceof KernelError && error.type === "UndoConflict") {
        const anyway = h("button", { class: cls("button") }, __("Undo anyway"));
        anyway.addEventListener("click", () => void this.undoLast(true).catch((e) => this.banner.showError(e, __("Could not undo"))));
        this.banner.showError(error, __("Could not undo"), [anyway]);
        return;
      }
      throw error;
    }
    await this.caughtUp();
    const done = result.undone.description;
    const notes = result.notes?.length ? result.notes.map((n) => `${n.path}: ${n.reason}`).join("; ") : null;
    this.banner.show("success", result.forced
      ? notes === null ? __("undid \"%1\" anyway", done) : __("undid \"%1\" anyway (%2)", done, notes)
      : notes === null ? __("undid \"%1\"", done) : __("undid \"%1\" (%2)", done, notes));
  }

  /** Run an action request; on success refresh and report what changed. On failure rethrow: a form shows the
   * message next to its field and stays open (`inForm`), otherwise the banner shows it under `failed`. */
  private async act(call: () => Promise<ActionResult>, failed: string, inForm = false): Promise<void> {
    let result: ActionResult;
    try {
      result = await this.request(call);
    } catch (error) {
      if (!inForm) this.banner.showError(error, failed);
      throw error;
    }
    await this.caughtUp();
    // The action's description, its note and what it printed are the kernel's (data); the clauses between
    // them are whole translated sentences.
    const stats = result.kept?.filter((k) => k.reason.startsWith("running statistic")).length ?? 0;
    const output = result.output?.trim() ?? "";
    const text = [result.action.description, describeChanged(result.changed)].filter((t) => t !== null).join(" — ") +
      (result.skipped?.length ? ` (${__("skipped %1", result.skipped.map((s) => `${s.path}: ${s.reason}`).join("; "))})` : "") +
      (stats ? ` (${_n("%1 running statistic left as it was", "%1 running statistics left as they were", stats)})` : "") +
      (result.note ? ` — ${result.note}` : "") +
      (output ? ` — ${__("it printed: %1", output.slice(0, 2000))}` : "");
    this.banner.show(result.note || output ? "info" : "success", text);
  }

  private startTie(node: Node): void {
    this.tieSource = node.path;
    this.view.setPicking(true);
    const cancel = h("button", { class: cls("button") }, __("Cancel"));
    cancel.addEventListener("click", () => this.cancelTie());
    this.banner.show("info", __("click the parameter that %1 should share (same shape); Esc cancels", node.path),
      { title: __("Tie to…"), actions: [cancel] });
    this.view.focus();
  }

  private cancelTie(): void {
    this.tieSource = null;
    this.view.setPicking(false);
    this.banner.clear();
  }

  private async finishTie(target: string): Promise<void> {
    const source = this.tieSource as string;
    const node = this.tree.node(target);
    if (!node || node.kind !== "param") {
      const name = target || this.model;
      const why = node?.kind === "block" ? __("%1 is a block: pick a parameter (Esc cancels)", name)
        : node?.kind === "model" ? __("%1 is the model: pick a parameter (Esc cancels)", name)
          : node?.kind === "buffer" ? __("%1 is a buffer: pick a parameter (Esc cancels)", name)
            : __("%1 is not loaded yet: pick a parameter (Esc cancels)", name);
      this.banner.show("info", why, { title: __("Tie to…") });
      return;
    }
    this.tieSource = null;
    this.view.setPicking(false);
    this.banner.clear();
    await this.act(() => this.client.call({ op: "tie", model: this.model, path: source, to: target }),
      __("Could not tie %1 to %2", source, target))
      .catch(() => undefined); // already shown in the banner
  }
}

function isTensor(node: Node): boolean {
  return node.kind === "param" || node.kind === "buffer";
}

/** "changed 0.weight, 0.bias" (the first few, then how many more); null when nothing changed. */
function describeChanged(changed: string[]): string | null {
  if (!changed.length) return null;
  const shown = changed.slice(0, 4).map((p) => p || __("the model")).join(", ");
  const more = changed.length - 4;
  return more > 0 ? _n("changed %2 and %3 more", "changed %2 and %3 more", more, shown, formatInteger(more))
    : __("changed %1", shown);
}

/** `"a", "b" and "c"`: each quoted, listed in the locale's words ("ve" in Turkish, "e" in Portuguese). */
function quotedList(items: string[]): string {
  const quoted = items.map((item) => `"${item}"`);
  return typeof Intl.ListFormat === "function"
    ? new Intl.ListFormat(locale(), { style: "long", type: "conjunction" }).format(quoted) : quoted.join(", ");
}

async function copyText(text: string): Promise<string> {
  if (navigator.clipboard?.writeText) {
    try {
      await navigator.clipboard.writeText(text);
      return __("copied %1", text);
    } catch {
      // Not allowed here (no focus, insecure context): fall back to a selection copy.
    }
  }
  const area = h("textarea", { class: cls("offscreen") });
  area.value = text;
  document.body.append(area);
  area.select();
  const ok = document.execCommand("copy");
  area.remove();
  if (!ok) throw new Error(__("the browser refused clipboard access; copy it from the details panel instead"));
  return __("copied %1", text);
}

/** How the framework's own summary counts, for the header's tooltip: paramscope shows parameters (trainable and
 * frozen) and buffers (running statistics) apart, in every framework. */
function ownCount(framework: string, root: Node): string {
  const params = formatCount(root.n_params);
  const both = formatCount(root.n_params + root.n_buffers);
  const apart = _n("%2 parameter (trainable + frozen), %3 in buffers / running statistics.",
    "%2 parameters (trainable + frozen), %3 in buffers / running statistics.", root.n_params, params,
    formatCount(root.n_buffers));
  const theirs = framework === "keras" ? __("Keras' model.count_params() and summary() count both: %1", both)
    : framework === "mxnet" ? __("Gluon's collect_params() holds both (running_mean/var too): %1", both)
      : framework === "pytorch" ? __("PyTorch's sum(p.numel() for p in net.parameters()) counts parameters only: %1", params)
        : null;
  return theirs === null ? apart : `${apart} ${theirs}`;
}
