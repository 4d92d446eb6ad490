/** The message line under the toolbar: kernel errors (until dismissed), outcomes of actions, and prompts such
 * as "pick the parameter to tie to" with their own buttons. Every text it shows comes translated: callers pass
 * whole translated sentences ("Could not refresh"), the banner adds only its own words (a kernel error's
 * explanation by its type, "Dismiss"). */

import { KernelError } from "../protocol";
import { cls, h } from "./format";
import { __ } from "./i18n";

export type BannerKind = "error" | "info" | "success";

/** What the banner says about a failed request: `title` (the caller's sentence, or the type's own), an
 * explanation the front end owns for the kernel error's `type`, the detail (the kernel's English message, or
 * the exception's), and the stable English `type` (null for an error that is no kernel answer). */
export interface ErrorText {
  title: string;
  explanation: string | null;
  detail: string;
  type: string | null;
  /** Show the type itself (errors to report: a bug, an unknown type), as data. */
  showType: boolean;
}

/** The translated framing of `error` under `failed`, the whole sentence that says what did not happen
 * ("Could not take a snapshot", "Could not read %1" with the path, through the translator). The kernel's own message stays as the
 * detail: it is English data that names what to do. */
export function describeError(error: unknown, failed: string): ErrorText {
  if (!(error instanceof KernelError)) {
    return { title: failed, explanation: null, detail: error instanceof Error ? error.message : String(error), type: null,
      showType: false };
  }
  const known = (title: string, explanation: string | null, showType = false): ErrorText =>
    ({ title, explanation, detail: error.message, type: error.type, showType });
  switch (error.type) {
    case "ActionError": // refused or failed, the model unchanged: the message says why and what to do
      return known(failed, null);
    case "UndoConflict":
      return known(__("Undo would overwrite later changes"),
        __("What the action changed was changed again since, so nothing was undone."));
    case "BadRequest":
      return known(failed, __("The kernel refused a malformed request: a bug in paramscope, please report it."), true);
    case "InternalError":
      return known(failed,
        __("paramscope failed in the kernel and left the model unchanged. This is a bug: please report it with this message."),
        true);
    case "KernelUnavailable": // the VS Code host: the request did not reach the kernel
      return known(failed, __("The request did not reach the kernel."));
    default:
      return known(failed, null, true);
  }
}

export class ErrorBanner {
  readonly element: HTMLDivElement;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor() {
    this.element = h("div", { class: cls("banner"), hidden: true });
  }

  /** Show `message` (translated, or data); success and info lines fade after a while, errors stay until
   * dismissed. `title` leads it in bold. */
  show(kind: BannerKind, message: string, options: { title?: string; actions?: HTMLElement[]; explanation?: string;
    type?: string } = {}): void {
    clearTimeout(this.timer);
    const close = h("button", { class: cls("banner-close"), title: __("Dismiss"), "aria-label": __("Dismiss") }, "×");
    close.addEventListener("click", () => this.clear());
    this.element.className = `${cls("banner")} jp-mod-${kind}`;
    this.element.setAttribute("role", kind === "error" ? "alert" : "status");
    this.element.removeAttribute("data-error-type");
    this.element.replaceChildren(
      h("span", { class: cls("banner-icon"), "aria-hidden": "true" }, kind === "error" ? "!" : kind === "success" ? "✓" : "i"),
      h("span", { class: cls("banner-text") },
        options.title ? h("strong", { class: cls("banner-title") }, options.title) : null,
        options.title ? ": " : null,
        options.explanation ? h("span", { class: cls("banner-explanation") }, options.explanation, " ") : null,
        h("span", { class: cls("banner-detail") }, message),
        options.type ? h("code", { class: cls("banner-type") }, ` (${options.type})`) : null),
      ...(options.actions ?? []),
      close,
    );
    this.element.hidden = false;
    if (kind === "success") this.timer = setTimeout(() => this.clear(), 6000);
  }

  /** An exception from a request under `failed`, the whole translated sentence of what did not happen
   * ("Could not load more rows", translated): the kernel error's framing by its type (describeError), then its
   * message. The error's `type` stays on the banner as `data-error-type`. `actions`: buttons beside it. */
  showError(error: unknown, failed: string, actions: HTMLElement[] = []): void {
    const text = describeError(error, failed);
    this.show("error", text.detail, { title: text.title, explanation: text.explanation ?? undefined, actions,
      type: text.showType ? text.type ?? undefined : undefined });
    if (text.type !== null) this.element.dataset.errorType = text.type;
  }

  clear(): void {
    clearTimeout(this.timer);
    this.element.hidden = true;
    this.element.removeAttribute("data-error-type");
    this.element.replaceChildren();
  }

  get kind(): BannerKind | null {
    if (this.element.hidden) return null;
    return (["error", "info", "success"] as const).find((k) => this.element.classList.contains(`jp-mod-${k}`)) ?? null;
  }

  /** The `type` of the kernel error shown (stable English: "ActionError", "UndoConflict" …), else null. */
  get errorType(): string | null {
    return this.element.hidden ? null : this.element.dataset.errorType ?? null;
  }

  dispose(): void {
    clearTimeout(this.timer);
  }
}
