/** The message line under the toolbar: kernel errors (until dismissed), outcomes of actions, and prompts such
 * as "pick the parameter to tie to" with their own buttons. */

import { KernelError } from "../protocol";
import { cls, h } from "./format";

export type BannerKind = "error" | "info" | "success";

export class ErrorBanner {
  readonly element: HTMLDivElement;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor() {
    this.element = h("div", { class: cls("banner"), hidden: true });
  }

  /** Show `message`; success and info lines fade after a while, errors stay until dismissed. */
  show(kind: BannerKind, message: string, options: { title?: string; actions?: HTMLElement[] } = {}): void {
    clearTimeout(this.timer);
    const close = h("button", { class: cls("banner-close"), title: "Dismiss", "aria-label": "Dismiss" }, "×");
    close.addEventListener("click", () => this.clear());
    this.element.className = `${cls("banner")} jp-mod-${kind}`;
    this.element.setAttribute("role", kind === "error" ? "alert" : "status");
    this.element.replaceChildren(
      h("span", { class: cls("banner-icon"), "aria-hidden": "true" }, kind === "error" ? "!" : kind === "success" ? "✓" : "i"),
      h("span", { class: cls("banner-text") },
        options.title ? h("strong", {}, `${options.title}: `) : null, message),
      ...(options.actions ?? []),
      close,
    );
    this.element.hidden = false;
    if (kind === "success") this.timer = setTimeout(() => this.clear(), 6000);
  }

  /** An exception from a request: the kernel's own message, or what went wrong on the way. */
  showError(error: unknown, doing: string): void {
    if (error instanceof KernelError) {
      this.show("error", error.message, { title: error.type === "ActionError" ? `Could not ${doing}` : error.type });
    } else {
      this.show("error", error instanceof Error ? error.message : String(error), { title: `Could not ${doing}` });
    }
  }

  clear(): void {
    clearTimeout(this.timer);
    this.element.hidden = true;
    this.element.replaceChildren();
  }

  get kind(): BannerKind | null {
    if (this.element.hidden) return null;
    return (["error", "info", "success"] as const).find((k) => this.element.classList.contains(`jp-mod-${k}`)) ?? null;
  }

  dispose(): void {
    clearTimeout(this.timer);
  }
}
