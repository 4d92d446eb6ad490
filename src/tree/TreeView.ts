/** The virtualized tree: only the rows in view (plus a margin) exist in the DOM, whatever the row count.
 * Keyboard: Up/Down move, Right expands or enters, Left collapses or goes to the parent, Home/End,
 * Enter toggles a block or opens the actions of a parameter, Space selects, the context-menu key opens actions. */

import type { Node } from "../protocol";
import { cls, formatBytes, formatCount, formatInteger, formatShape, h } from "./format";
import { __, _n, _p } from "./i18n";
import type { Row } from "./TreeState";

export const ROW_HEIGHT = 24;
const OVERSCAN = 8;
// Used until the browser has laid the list out (and in DOMs without layout).
const FALLBACK_VIEWPORT = 480;
let views = 0;

export interface TreeViewEvents {
  toggle(path: string): void;
  select(path: string): void;
  /** Open the action menu of `path` at client position (x, y). */
  menu(path: string, x: number, y: number): void;
  /** Select and show the canonical parameter of a tie marker. */
  jump(path: string): void;
  /** Rows [from, to) are in view and some of them are placeholders. */
  needRows(from: number, to: number): void;
}

export class TreeView {
  readonly element: HTMLDivElement;
  private readonly scroller: HTMLDivElement;
  private readonly canvas: HTMLDivElement;
  private readonly header: HTMLDivElement;
  private rows: Row[] = [];
  private selected: string | null = null;
  private highlighted: string | null = null;
  private expanded: (path: string) => boolean = () => false;
  private picking = false;
  private decorate: (node: Node) => HTMLElement | null = () => null;
  private pendingIndex: number | null = null; // keyboard target that was still loading
  private readonly windowKeydown = (e: KeyboardEvent) => {
    if (e.target === this.scroller) this.onKey(e);
  };
  private readonly idPrefix = `jp-ParamScope-${++views}-row`;

  constructor(private readonly events: TreeViewEvents) {
    this.canvas = h("div", { class: cls("rows") });
    this.scroller = h("div", { class: cls("scroller"), role: "tree", tabindex: 0, "aria-label": __("Blocks and parameters") },
      this.canvas);
    const header = h("div", { class: cls("header"), "aria-hidden": "true" },
      h("span", {}, _p("column", "name")), h("span", {}, _p("column", "shape")), h("span", {}, _p("column", "dtype")),
      h("span", {}, _p("column", "device")), h("span", { class: cls("num") }, _p("column", "params")), h("span", {}));
    this.header = h("div", { class: cls("header-clip") }, header);
    this.element = h("div", { class: cls("tree") }, this.header, this.scroller);
    this.scroller.addEventListener("scroll", () => {
      this.header.scrollLeft = this.scroller.scrollLeft;
      this.render();
    });
    this.scroller.addEventListener("keydown", (e) => this.onKey(e));
    // Notebook hosts handle the arrow keys in a capture listener on the document (moving between cells), so
    // while the tree has focus its keys are taken one step earlier, on the window.
    this.scroller.addEventListener("focus", () => window.addEventListener("keydown", this.windowKeydown, true));
    this.scroller.addEventListener("blur", () => window.removeEventListener("keydown", this.windowKeydown, true));
    this.canvas.addEventListener("click", (e) => this.onClick(e));
    this.canvas.addEventListener("contextmenu", (e) => this.onContextMenu(e));
    this.canvas.addEventListener("mouseover", (e) => this.onHover(e, true));
    this.canvas.addEventListener("mouseout", (e) => this.onHover(e, false));
  }

  dispose(): void {
    window.removeEventListener("keydown", this.windowKeydown, true);
  }

  /** Show `rows`; `expanded` tells which block rows are open. */
  update(rows: Row[], expanded: (path: string) => boolean): void {
    this.rows = rows;
    this.expanded = expanded;
    this.render();
    const pending = this.pendingIndex === null ? null : rows[this.pendingIndex]?.node;
    if (pending) {
      this.pendingIndex = null;
      this.events.select(pending.path);
    }
  }

  setSelected(path: string | null): void {
    this.selected = path;
    this.render();
  }

  /** Extra content at the end of each row's name cell (the watch's sparkline and flags), drawn again now. */
  setDecoration(decorate: (node: Node) => HTMLElement | null): void {
    this.decorate = decorate;
    this.render();
  }

  /** Tie picking mode: rows show as targets and a click picks instead of selecting. */
  setPicking(on: boolean): void {
    this.picking = on;
    this.element.classList.toggle("jp-mod-picking", on);
  }

  get isPicking(): boolean {
    return this.picking;
  }

  scrollTo(path: string): void {
    const i = this.rows.findIndex((r) => r.node?.path === path);
    if (i >= 0) this.scrollToIndex(i);
  }

  private scrollToIndex(i: number): void {
    const top = i * ROW_HEIGHT;
    const height = this.viewport();
    if (top < this.scroller.scrollTop) this.scroller.scrollTop = top;
    else if (top + ROW_HEIGHT > this.scroller.scrollTop + height) this.scroller.scrollTop = top + ROW_HEIGHT - height;
    this.render();
  }

  focus(): void {
    this.scroller.focus({ preventScroll: true });
  }

  /** Number of row elements in the DOM (what virtualization keeps small). */
  get renderedRows(): number {
    return this.canvas.childElementCount;
  }

  /** Paths of the parameters and buffers in the rows now in view (what a staleness check asks about). */
  visibleTensors(): string[] {
    const first = Math.floor(this.scroller.scrollTop / ROW_HEIGHT);
    const last = Math.min(this.rows.length, Math.ceil((this.scroller.scrollTop + this.viewport()) / ROW_HEIGHT));
    const out: string[] = [];
    for (const row of this.rows.slice(first, last)) {
      if (row.node && (row.node.kind === "param" || row.node.kind === "buffer")) out.push(row.node.path);
    }
    return out;
  }

  private viewport(): number {
    return this.scroller.clientHeight || FALLBACK_VIEWPORT;
  }

  private render(): void {
    const total = this.rows.length;
    this.canvas.style.height = `${total * ROW_HEIGHT}px`;
    const first = Math.max(0, Math.floor(this.scroller.scrollTop / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(total, Math.ceil((this.scroller.scrollTop + this.viewport()) / ROW_HEIGHT) + OVERSCAN);
    const elements: HTMLElement[] = [];
    let placeholders = false;
    for (let i = first; i < last; i++) {
      const row = this.rows[i];
      placeholders ||= row.node === null;
      elements.push(this.renderRow(row, i));
    }
    this.canvas.replaceChildren(...elements);
    this.fitWidth(elements);
    const active = this.selected === null ? -1 : this.rows.findIndex((r) => r.node?.path === this.selected);
    if (active >= 0) this.scroller.setAttribute("aria-activedescendant", this.rowId(active));
    else this.scroller.removeAttribute("aria-activedescendant");
    if (placeholders) this.events.needRows(first, last);
  }

  /** Rows never cut a name: when one is wider than the view, the rows get that width and the tree scrolls
   * sideways (rows are absolutely placed, so their width is set here rather than by the layout). */
  private fitWidth(elements: HTMLElement[]): void {
    this.canvas.style.minWidth = "";
    const visible = this.scroller.clientWidth;
    if (!visible) return;
    const widest = Math.max(0, ...elements.map((el) => el.scrollWidth));
    const width = widest > visible ? `${widest}px` : "";
    this.canvas.style.minWidth = width;
    (this.header.firstElementChild as HTMLElement).style.minWidth = width;
  }

  private renderRow(row: Row, i: number): HTMLElement {
    const style = `top:${i * ROW_HEIGHT}px;height:${ROW_HEIGHT}px`;
    // The indent step comes from the CSS (narrower in a narrow view).
    const indent = h("span", { class: cls("indent"), style: `--ps-depth:${row.depth}` });
    const node = row.node;
    if (node === null) {
      return h("div", { class: cls("row", "placeholder"), style, id: this.rowId(i), role: "treeitem", "aria-level": row.depth + 1 },
        h("span", { class: cls("cell", "main") }, indent, h("span", { class: cls("loading") }, __("loading…"))));
    }
    const isBlock = node.kind === "model" || node.kind === "block";
    const open = isBlock && this.expanded(node.path);
    const twisty = h("span", { class: cls("twisty"), "aria-hidden": "true" },
      isBlock && node.n_children > 0 ? (open ? "▾" : "▸") : "");
    const tied = node.tied_to !== null
      ? h("button", { class: cls("tie"), "data-jump": node.tied_to, title: isBlock
        ? __("tied to %1: the same block, counted once (click to go there)", node.tied_to || __("the model"))
        : __("tied to %1: the same parameter, counted once (click to go there)", node.tied_to || __("the model")) },
      `⇄ ${node.tied_to || __("model")}`)
      : node.aliases.length > 0
        ? h("span", { class: cls("tie", "canonical"), title: __("also used at %1", node.aliases.join(", ")) },
          `⇄ ×${node.aliases.length + 1}`)
        : null;
    const where = node.path || node.name;
    const main = h("span", { class: cls("cell", "main") }, indent, twisty,
      h("span", { class: cls("icon", `icon-${node.kind}`), title: kindLabel(node.kind) }),
      // Never cut (the row scrolls instead); the full path and the code are on hover and in the details.
      h("span", { class: cls("name"), title: `${where} (${kindLabel(node.kind)})\n${node.code}` }, node.name),
      h("span", { class: cls("type"), title: node.type }, node.type),
      // A narrow view drops the shape column and shows a tensor's shape here instead (its kind is the icon).
      isBlock ? null : h("span", { class: cls("inline-shape") }, formatShape(node.shape)),
      tied,
      node.state !== "ready" ? h("span", { class: cls("badge", `state-${node.state}`), title: stateHelp(node.state),
        "data-state": node.state }, stateLabel(node.state)) : null,
      node.trainable === false ? h("span", { class: cls("badge", "frozen"), title: __("not trainable") }, __("frozen")) : null,
      this.decorate(node));
    const count = node.kind === "buffer" ? "" : formatCount(node.n_params);
    const countTitle = node.kind === "buffer"
      ? __("buffer: %1, not a parameter", formatBytes(node.nbytes))
      : node.n_params_with_aliases !== node.n_params
        ? _n("%2 parameter (%3 counting every use of tied ones), %4", "%2 parameters (%3 counting every use of tied ones), %4",
          node.n_params, formatInteger(node.n_params), formatInteger(node.n_params_with_aliases), formatBytes(node.nbytes))
        : _n("%2 parameter, %3", "%2 parameters, %3", node.n_params, formatInteger(node.n_params), formatBytes(node.nbytes));
    const el = h("div", {
      class: cls("row", `kind-${node.kind}`),
      style,
      // A right-click re-renders the rows (it selects), so the host's menu handler, which runs after ours, finds
      // its target detached: the row itself says that JupyterLab's context menu is not wanted here.
      "data-jp-suppress-context-menu": "true",
      id: this.rowId(i),
      role: "treeitem",
      "aria-level": row.depth + 1,
      "aria-expanded": isBlock && node.n_children > 0 ? String(open) : undefined,
      "aria-selected": String(node.path === this.selected),
      "data-path": node.path,
    },
      main,
      h("span", { class: cls("cell", "shape") }, formatShape(node.shape)),
      h("span", { class: cls("cell", "dtype") }, node.dtype ?? ""),
      h("span", { class: cls("cell", "device") }, node.device ?? ""),
      h("span", { class: cls("cell", "num"), title: countTitle }, count),
      h("button", { class: cls("more"), title: __("Actions"), "aria-label": __("Actions for %1", node.path || node.name) }, "⋯"));
    if (node.path === this.selected) el.classList.add("jp-mod-selected");
    if (node.path === this.highlighted) el.classList.add("jp-mod-highlighted");
    if (row.fold) { // a folded run of alike blocks: "h.0 … h.11 × 12 (same shape)", opened by its twisty
      const owner = /^\d+$/.test(node.name) && row.parent ? `${row.parent.split(/[./]/).pop()}.` : "";
      main.querySelector(".jp-ParamScope-name")!.textContent =
        `${owner}${node.name} … ${owner}${row.fold.last} × ${row.fold.count}`;
      main.append(h("span", { class: cls("badge", "fold"), title: _n(
        "%2 block of the same type and parameter shapes, folded: open to list them",
        "%2 blocks of the same type and parameter shapes, folded: open to list them", row.fold.count,
        formatInteger(row.fold.count)) }, __("same shape")));
      const num = el.querySelector<HTMLElement>(".jp-ParamScope-num")!;
      const total = node.n_params * row.fold.count;
      num.textContent = formatCount(total);
      num.title = _n("%2 parameter in the %3 blocks", "%2 parameters in the %3 blocks", total, formatInteger(total),
        formatInteger(row.fold.count));
      el.classList.add("jp-mod-folded");
    }
    if (row.hits !== undefined) { // a search's row: a match, or a block shown because matches are under it
      el.classList.add(row.match ? "jp-mod-match" : "jp-mod-context");
      if (!row.match || row.hits > 1) {
        main.append(h("span", { class: cls("badge", "hits"), title: _n("%2 match at or under %3", "%2 matches at or under %3",
          row.hits, formatInteger(row.hits), where) }, _n("%2 found", "%2 found", row.hits, formatInteger(row.hits))));
      }
    }
    return el;
  }

  private rowAt(target: EventTarget | null): { el: HTMLElement; node: Node } | null {
    const el = (target as HTMLElement | null)?.closest<HTMLElement>(".jp-ParamScope-row[data-path]");
    if (!el) return null;
    const node = this.rows.find((r) => r.node?.path === el.dataset.path)?.node;
    return node ? { el, node } : null;
  }

  private onClick(e: MouseEvent): void {
    const target = e.target as HTMLElement;
    const hit = this.rowAt(target);
    if (!hit) return;
    const jump = target.closest<HTMLElement>("[data-jump]");
    if (jump && !this.picking) {
      this.events.jump(jump.dataset.jump as string);
    } else if (target.closest(".jp-ParamScope-more")) {
      const box = target.getBoundingClientRect();
      this.events.menu(hit.node.path, box.left, box.bottom);
    } else if (target.closest(".jp-ParamScope-twisty")) {
      // Also while picking a tie target: the target may be deeper in the tree.
      this.events.toggle(hit.node.path);
    } else {
      this.events.select(hit.node.path);
    }
    this.focus();
  }

  private onContextMenu(e: MouseEvent): void {
    const hit = this.rowAt(e.target);
    if (!hit) return;
    e.preventDefault();
    this.events.select(hit.node.path);
    this.events.menu(hit.node.path, e.clientX, e.clientY);
  }

  /** Hovering a tie marker highlights the canonical row. */
  private onHover(e: MouseEvent, on: boolean): void {
    const jump = (e.target as HTMLElement).closest<HTMLElement>("[data-jump]");
    if (!jump) return;
    this.highlighted = on ? (jump.dataset.jump as string) : null;
    for (const el of this.canvas.querySelectorAll<HTMLElement>(".jp-ParamScope-row[data-path]")) {
      el.classList.toggle("jp-mod-highlighted", el.dataset.path === this.highlighted);
    }
  }

  private openMenu(index: number, node: Node): void {
    const box = this.canvas.querySelector<HTMLElement>(`#${this.rowId(index)}`)?.getBoundingClientRect();
    this.events.menu(node.path, box?.left ?? 0, box?.bottom ?? 0);
  }

  /** Row ids are unique per view, since several widgets can share a page. */
  private rowId(i: number): string {
    return `${this.idPrefix}-${i}`;
  }

  private onKey(e: KeyboardEvent): void {
    const index = this.rows.findIndex((r) => r.node !== null && r.node.path === this.selected);
    const node = index >= 0 ? this.rows[index].node : null;
    const isBlock = node !== null && (node.kind === "model" || node.kind === "block") && node.n_children > 0;
    const move = (to: number) => {
      const at = Math.max(0, Math.min(this.rows.length - 1, to));
      const row = this.rows[at];
      if (row?.node) {
        this.events.select(row.node.path);
        this.scrollTo(row.node.path);
      } else if (row) {
        // Not loaded yet: scroll there (which asks for its page) and select it when it arrives.
        this.pendingIndex = at;
        this.scrollToIndex(at);
      }
    };
    switch (e.key) {
      case "ArrowDown":
        move(index + 1);
        break;
      case "ArrowUp":
        move(index < 0 ? 0 : index - 1);
        break;
      case "Home":
        move(0);
        break;
      case "End":
        move(this.rows.length - 1);
        break;
      case "ArrowRight":
        if (node && isBlock && !this.expanded(node.path)) this.events.toggle(node.path);
        else if (node && isBlock) move(index + 1);
        break;
      case "ArrowLeft":
        if (node && isBlock && this.expanded(node.path)) this.events.toggle(node.path);
        else if (index >= 0 && this.rows[index].parent !== null) {
          const parent = this.rows[index].parent;
          move(this.rows.findIndex((r) => r.node?.path === parent));
        }
        break;
      case "Enter":
        if (node && isBlock) this.events.toggle(node.path);
        else if (node && this.picking) this.events.select(node.path);
        else if (node) this.openMenu(index, node);
        break;
      case " ":
        if (node) this.events.select(node.path);
        else move(0);
        break;
      case "ContextMenu":
      case "F10":
        if (e.key === "F10" && !e.shiftKey) return;
        if (node) this.openMenu(index, node);
        break;
      default:
        return;
    }
    e.preventDefault();
    e.stopPropagation(); // a notebook would also move between cells on the arrow keys
  }
}


/** What a node is, in words (a function: the texts are translated when shown). */
function kindLabel(kind: Node["kind"]): string {
  switch (kind) {
    case "model":
      return __("model");
    case "block":
      return __("block");
    case "param":
      return __("parameter");
    case "buffer":
      return __("buffer");
  }
}

/** A state badge's word; the search term (`state:lazy`) stays the English state, on `data-state`. */
function stateLabel(state: Node["state"]): string {
  switch (state) {
    case "ready":
      return "";
    case "lazy":
      return _p("state", "lazy");
    case "meta":
      return _p("state", "meta");
    case "deferred":
      return _p("state", "deferred");
    case "unbuilt":
      return _p("state", "unbuilt");
  }
}

function stateHelp(state: Node["state"]): string {
  switch (state) {
    case "ready":
      return "";
    case "lazy":
      return __("lazy: the shape is known only after the first forward pass");
    case "meta":
      return __("meta device: shapes without values (materialize with to_empty())");
    case "deferred":
      return __("deferred initialization: run a forward pass to create the values");
    case "unbuilt":
      return __("not built yet: call the model on data (or build()) to create its weights");
  }
}
