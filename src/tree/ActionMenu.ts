/** The actions of a block or parameter, as a context menu at the pointer and as buttons in the details panel. */

import type { Node } from "../protocol";
import { cls, h } from "./format";
import { __ } from "./i18n";

export type ActionName = "reinit" | "set_value" | "tie" | "untie" | "undo" | "copy";

export interface ActionItem {
  name: ActionName;
  label: string; // in the menu ("Reinitialize…")
  short: string; // on the details panel's action bar ("Reinit")
  enabled: boolean;
  hint: string; // why it is disabled, or what it does
}

/** The actions that apply to `node`, in menu order (disabled ones say why), in the page's language. */
export function actionsFor(node: Node): ActionItem[] {
  const isTensor = node.kind === "param" || node.kind === "buffer";
  const tied = node.tied_to !== null || node.aliases.length > 0;
  return [
    {
      name: "reinit",
      label: __("Reinitialize…"),
      short: __("Reinit"),
      enabled: node.n_params > 0,
      hint: node.n_params === 0
        ? __("no parameters here")
        : node.path
          ? __("new values for every parameter in %1", node.path)
          : __("new values for every parameter in the whole model"),
    },
    {
      name: "set_value",
      label: __("Set value…"),
      short: __("Set value"),
      enabled: isTensor,
      hint: isTensor ? __("set, add to or multiply all values or one element/slice") : __("pick a parameter or buffer"),
    },
    {
      name: "tie",
      label: __("Tie to…"),
      short: __("Tie to"),
      enabled: node.kind === "param",
      hint: node.kind === "param" ? __("share one parameter with another of the same shape") : __("pick a parameter"),
    },
    {
      name: "untie",
      label: __("Untie"),
      short: __("Untie"),
      enabled: (node.kind === "param" || node.kind === "block") && tied,
      hint: !tied
        ? __("not tied")
        : node.kind === "param"
          ? __("give this use its own copy of the values")
          : node.kind === "block"
            ? __("give this use its own copy of the block (one module used at %1)", [node.path, ...node.aliases].join(", "))
            : __("the model itself cannot be untied"),
    },
    {
      name: "undo",
      label: __("Undo last action"),
      short: __("Undo"),
      enabled: true,
      hint: __("revert the last paramscope action on this model"),
    },
    { name: "copy", label: __("Copy as code"), short: __("Copy as code"), enabled: true, hint: node.code },
  ];
}

/** A popup menu; `open` places it at client (x, y) inside `host`, keyboard: Up/Down, Enter, Escape. */
export class ActionMenu {
  readonly element: HTMLDivElement;
  private onPick: ((name: ActionName) => void) | null = null;
  private readonly outside = (e: Event) => {
    if (!this.element.contains(e.target as globalThis.Node)) this.close();
  };

  /** Where focus goes when the menu closes (the tree): a focused element that disappears would leave focus to
   * the page, and a notebook then focuses the active cell, scrolling to its top. */
  constructor(private readonly host: HTMLElement, private readonly returnFocus: () => void = () => {}) {
    this.element = h("div", { class: cls("menu"), role: "menu", hidden: true, tabindex: -1 });
    this.element.addEventListener("click", (e) => {
      const item = (e.target as HTMLElement).closest<HTMLButtonElement>("button[data-action]");
      if (item && !item.disabled) this.pick(item.dataset.action as ActionName);
    });
    this.element.addEventListener("keydown", (e) => this.onKey(e));
    // A notebook reacts to a press in a cell by activating and focusing that cell, which scrolls to its top
    // when the cell is taller than the window: presses in the menu are ours.
    this.element.addEventListener("mousedown", (e) => e.stopPropagation());
  }

  get isOpen(): boolean {
    return !this.element.hidden;
  }

  open(node: Node, x: number, y: number, onPick: (name: ActionName) => void): void {
    this.onPick = onPick;
    const items = actionsFor(node).map((item) =>
      h("button", { role: "menuitem", class: cls("menu-item"), "data-action": item.name, disabled: !item.enabled,
        title: item.hint }, item.label));
    this.element.replaceChildren(
      h("div", { class: cls("menu-title") }, node.path || node.name), ...items);
    this.element.hidden = false;
    const frame = this.host.getBoundingClientRect();
    // Keep the menu inside the widget: flip left/up when it would overflow.
    const left = Math.max(0, Math.min(x - frame.left, frame.width - (this.element.offsetWidth || 180)));
    const top = Math.max(0, Math.min(y - frame.top, frame.height - (this.element.offsetHeight || 200)));
    this.element.style.left = `${left}px`;
    this.element.style.top = `${top}px`;
    this.element.querySelector<HTMLButtonElement>("button:not([disabled])")?.focus({ preventScroll: true });
    document.addEventListener("mousedown", this.outside, true);
  }

  close(): void {
    if (this.element.hidden) return;
    if (this.element.contains(document.activeElement)) this.returnFocus();
    this.element.hidden = true;
    this.onPick = null;
    document.removeEventListener("mousedown", this.outside, true);
  }

  dispose(): void {
    this.close();
  }

  private pick(name: ActionName): void {
    const onPick = this.onPick;
    this.close();
    onPick?.(name);
  }

  private onKey(e: KeyboardEvent): void {
    const items = [...this.element.querySelectorAll<HTMLButtonElement>("button:not([disabled])")];
    const at = items.indexOf(document.activeElement as HTMLButtonElement);
    if (e.key === "ArrowDown") items[(at + 1) % items.length]?.focus({ preventScroll: true });
    else if (e.key === "ArrowUp") items[(at - 1 + items.length) % items.length]?.focus({ preventScroll: true });
    else if (e.key === "Escape") this.close();
    else if (e.key === "Enter" && at >= 0) this.pick(items[at].dataset.action as ActionName);
    else return;
    e.preventDefault();
    e.stopPropagation();
  }
}
