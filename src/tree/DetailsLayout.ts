/** Where the details of the selection go: a pane under (or beside) the tree whose height the user drags, or a
 * tab of the host's main area (JupyterLab: split beside the notebook) so that the tree keeps its whole height.
 * Both choices are remembered in the browser's localStorage, for every explorer of every host. */

import { cls, h } from "./format";
import { __ } from "./i18n";

/** A host that can show the details in a tab of its own (the JupyterLab sidebar); others keep the pane. */
export interface DetailsHost {
  /** Show `element` in a new tab titled `title`; call `closed` when the user closes that tab. */
  open(element: HTMLElement, title: string, closed: () => void): { close(): void };
}

const PLACE_KEY = "paramscope.details";
const HEIGHT_KEY = "paramscope.treeHeight";
const MIN_HEIGHT = 96;
const STEP = 24; // one row per arrow key

export class DetailsLayout {
  /** The bar under the tree: drag it (or focus it and press Up/Down) to give the tree more or less height. */
  readonly handle: HTMLDivElement;
  /** "Details in a tab" / "Details here", present when the host has tabs. */
  readonly toggle: HTMLButtonElement | null = null;
  private tab: { close(): void } | null = null;

  constructor(private readonly explorer: HTMLElement, private readonly body: HTMLElement,
    private readonly details: HTMLElement, private readonly title: string, private readonly host?: DetailsHost) {
    this.handle = h("div", { class: cls("resize"), role: "separator", "aria-orientation": "horizontal",
      "aria-label": __("Tree height: drag, or press the up and down arrow keys"), tabindex: 0,
      title: __("Drag to give the tree more or less height") });
    this.handle.addEventListener("pointerdown", (e) => this.drag(e));
    this.handle.addEventListener("keydown", (e) => {
      if (e.key !== "ArrowUp" && e.key !== "ArrowDown") return;
      e.preventDefault();
      e.stopPropagation();
      this.setHeight(this.height() + (e.key === "ArrowDown" ? STEP : -STEP), true);
    });
    const saved = Number(read(HEIGHT_KEY));
    if (saved >= MIN_HEIGHT) this.setHeight(saved, false);
    if (host) {
      this.toggle = h("button", { class: cls("button", "icon-button", "details-toggle") });
      this.toggle.addEventListener("click", () => (this.tab ? this.toPane(true) : this.toTab(true)));
      this.label();
    }
  }

  /** Apply the remembered place (call once the explorer is in the page). */
  start(): void {
    if (this.host && read(PLACE_KEY) === "tab") this.toTab(false);
  }

  get inTab(): boolean {
    return this.tab !== null;
  }

  dispose(): void {
    const tab = this.tab;
    this.tab = null;
    tab?.close();
  }

  private toTab(remember: boolean): void {
    if (!this.host || this.tab) return;
    if (remember) write(PLACE_KEY, "tab");
    this.explorer.classList.add("jp-mod-details-tab");
    this.tab = this.host.open(this.details, this.title, () => {
      // The user closed the tab: the details come back here, and stay here next time.
      if (this.tab) this.toPane(true);
    });
    this.label();
  }

  private toPane(remember: boolean): void {
    if (remember) write(PLACE_KEY, "pane");
    const tab = this.tab;
    this.tab = null;
    this.body.append(this.details);
    tab?.close();
    this.explorer.classList.remove("jp-mod-details-tab");
    this.label();
  }

  private label(): void {
    if (!this.toggle) return;
    this.toggle.replaceChildren(this.tab ? "↙" : "↗",
      h("span", { class: cls("button-label") }, " ", this.tab ? __("Details here") : __("Details in a tab")));
    this.toggle.title = this.tab
      ? __("Show the details under the tree again")
      : __("Show the details in a tab beside the notebook, so the tree keeps its height");
    this.toggle.setAttribute("aria-pressed", String(this.tab !== null));
  }

  private height(): number {
    const scroller = this.explorer.querySelector<HTMLElement>(".jp-ParamScope-scroller");
    return scroller?.getBoundingClientRect().height || MIN_HEIGHT; // 0 before layout
  }

  private setHeight(px: number, remember: boolean): void {
    const height = Math.max(MIN_HEIGHT, Math.round(px));
    this.explorer.style.setProperty("--ps-tree-height", `${height}px`);
    this.handle.setAttribute("aria-valuenow", String(height));
    if (remember) write(HEIGHT_KEY, String(height));
  }

  private drag(start: PointerEvent): void {
    start.preventDefault();
    const from = this.height();
    this.handle.setPointerCapture?.(start.pointerId);
    const move = (e: PointerEvent) => this.setHeight(from + e.clientY - start.clientY, false);
    const up = (e: PointerEvent) => {
      this.handle.removeEventListener("pointermove", move);
      this.handle.removeEventListener("pointerup", up);
      this.setHeight(from + e.clientY - start.clientY, true);
    };
    this.handle.addEventListener("pointermove", move);
    this.handle.addEventListener("pointerup", up);
  }
}

// localStorage can be missing or refuse (sandboxed frames, privacy settings): then nothing is remembered.
function read(key: string): string | null {
  try {
    return window.localStorage.getItem(key);
  } catch {
    return null;
  }
}

function write(key: string, value: string): void {
  try {
    window.localStorage.setItem(key, value);
  } catch {
    // not remembered
  }
}
