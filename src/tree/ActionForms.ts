/** The forms behind "Reinitialize…" and "Set value…": they check what can be checked here, build the request,
 * and stay open with the kernel's message if it refuses (the kernel changes nothing then). */

import { type ArrayValue, type BiasMode, type Initializer, KernelError, type Node, type RequestBody, type SetMode } from "../protocol";
import { cls, formatInteger, formatShape, h } from "./format";
import { __ } from "./i18n";

export type Submit<T> = (body: T) => Promise<void>;
type ReinitBody = RequestBody<"reinit">;
type SetValueBody = RequestBody<"set_value">;

/** What a form's check found wrong: the message, and the name of the field it is about (null: the whole form). */
export interface FormProblem {
  field: string | null;
  message: string;
}

/** A modal form inside the explorer, placed in the part of it the user can see (never scrolling the page);
 * Escape or Cancel closes it. A refusal, by the form's own check or by the kernel, shows inside the form next
 * to the field it is about, and the form stays open to fix it. */
export class Dialog {
  readonly element: HTMLDivElement;
  private readonly onResize = () => this.place();

  /** `returnFocus` takes the focus back (to the tree) before the form goes: see ActionMenu. */
  constructor(private readonly returnFocus: () => void = () => {}) {
    this.element = h("div", { class: cls("dialog-backdrop"), hidden: true });
    // Presses in the form are ours, not the notebook's (which would focus the cell and scroll to it).
    this.element.addEventListener("mousedown", (e) => e.stopPropagation());
    this.element.addEventListener("keydown", (e) => {
      if (e.key === "Escape") {
        e.stopPropagation();
        this.close();
      }
    });
  }

  get isOpen(): boolean {
    return !this.element.hidden;
  }

  get form(): HTMLFormElement | null {
    return this.element.querySelector("form");
  }

  /** `submit` returns a problem (nothing sent), or a promise that rejects when the kernel refuses;
   * `locate` names the field a kernel message is about. */
  open(title: string, subtitle: string, fields: HTMLElement[], submitLabel: string,
    submit: () => Promise<void> | FormProblem, locate: (message: string) => string | null = () => null): void {
    const error = h("div", { class: cls("form-error"), role: "alert", hidden: true });
    const ok = h("button", { type: "submit", class: cls("button", "primary") }, submitLabel);
    const cancel = h("button", { type: "button", class: cls("button") }, __("Cancel"));
    cancel.addEventListener("click", () => this.close());
    // tabindex: a press on the form's text keeps the focus in it (Escape still closes it).
    const form = h("form", { class: cls("dialog"), role: "dialog", "aria-label": title, novalidate: true, tabindex: -1 },
      h("div", { class: cls("dialog-title") }, title, h("span", { class: cls("dialog-subtitle") }, subtitle)),
      ...fields, error,
      h("div", { class: cls("dialog-buttons") }, cancel, ok));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.clearProblem(form, error);
      const outcome = submit();
      if (!(outcome instanceof Promise)) {
        this.showProblem(form, error, outcome);
        return;
      }
      ok.disabled = true;
      ok.textContent = __("Working…");
      outcome.then(() => this.close(), (reason: unknown) => {
        ok.disabled = false;
        ok.textContent = submitLabel;
        // The kernel's refusals name what is wrong; other failures (no answer) are about the whole form.
        const message = reason instanceof Error ? reason.message : String(reason);
        this.showProblem(form, error, { field: reason instanceof KernelError ? locate(message) : null, message });
      });
    });
    this.element.replaceChildren(form);
    this.element.hidden = false;
    this.place();
    window.addEventListener("resize", this.onResize);
    form.querySelector<HTMLElement>("select, input")?.focus({ preventScroll: true });
  }

  close(): void {
    window.removeEventListener("resize", this.onResize);
    if (this.element.contains(document.activeElement)) this.returnFocus();
    this.element.hidden = true;
    this.element.replaceChildren();
  }

  /** Put the form in the visible part of the explorer: the explorer may be taller than the window or scrolled
   * partly out of its notebook, and focusing a field must not make the notebook scroll to it. */
  private place(): void {
    const form = this.form;
    const frame = this.element.getBoundingClientRect();
    if (!form || frame.height === 0) return;
    let top = 0;
    let bottom = window.innerHeight;
    // Clipping ancestors up to the page (whose own box can be 0 high, e.g. JupyterLab's body): the window clips it.
    for (let el = this.element.parentElement; el && el !== document.body; el = el.parentElement) {
      const overflow = getComputedStyle(el).overflowY;
      if (overflow === "visible") continue;
      const box = el.getBoundingClientRect();
      top = Math.max(top, box.top);
      bottom = Math.min(bottom, box.bottom);
    }
    const visibleTop = Math.max(top, frame.top);
    const visibleBottom = Math.min(bottom, frame.bottom);
    const margin = 12;
    const room = Math.max(160, visibleBottom - visibleTop - 2 * margin);
    form.style.maxHeight = `${room}px`;
    const height = Math.min(form.scrollHeight, room);
    // Near the top of what is visible, but never past the bottom of the explorer.
    const offset = Math.max(0, Math.min(visibleTop - frame.top + margin, frame.height - height - margin));
    form.style.marginTop = `${offset}px`;
  }

  private clearProblem(form: HTMLFormElement, general: HTMLElement): void {
    general.hidden = true;
    general.textContent = "";
    for (const el of form.querySelectorAll(".jp-ParamScope-field-error")) el.remove();
    for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  }

  private showProblem(form: HTMLFormElement, general: HTMLElement, problem: FormProblem): void {
    const field = problem.field === null ? null : form.querySelector<HTMLElement>(`[data-field="${problem.field}"]`);
    const input = field?.querySelector<HTMLElement>("input, select") ?? null;
    if (!field || !input) {
      general.textContent = problem.message;
      general.hidden = false;
      return;
    }
    const id = `${input.getAttribute("name") ?? "field"}-error-${++errors}`;
    field.append(h("span", { class: cls("field-error"), role: "alert", id }, problem.message));
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", id);
    input.focus({ preventScroll: true });
  }
}

let errors = 0;

function field(label: string, input: HTMLElement, help?: string): HTMLElement {
  return h("label", { class: cls("field"), "data-field": input.getAttribute("name") ?? undefined },
    h("span", { class: cls("field-label") }, label), input,
    help ? h("span", { class: cls("field-help") }, help) : null);
}

/** "Reinitialize…": a catalogue initializer with its arguments, or a custom one from the notebook; a seed. */
export function openReinit(dialog: Dialog, model: string, node: Node,
  available: { catalogue: Initializer[]; custom: string[] }, submit: Submit<ReinitBody>): void {
  const select = h("select", { name: "init", class: cls("input") },
    ...available.catalogue.map((init) =>
      h("option", { value: init.name }, init.args.length ? `${init.name}(${init.args.map((a) => a.name).join(", ")})` : init.name)));
  if (available.custom.length) {
    select.append(h("optgroup", { label: __("From your notebook") },
      ...available.custom.map((name) => h("option", { value: name, "data-custom": "true" }, name))));
  }
  const args = h("div", { class: cls("args") });
  const note = h("div", { class: cls("field-help") });
  const seed = h("input", { name: "seed", class: cls("input"), inputmode: "numeric", placeholder: __("random") });
  // On a block, a catalogue initializer's effect on biases, defaulting to the chapter's choice for it.
  const onBlock = node.kind === "model" || node.kind === "block";
  const bias = h("select", { name: "bias", class: cls("input") },
    h("option", { value: "zeros" }, __("set to zero (as the chapter's init_normal)")),
    h("option", { value: "keep" }, __("keep as they are (as init_42, init_xavier)")),
    h("option", { value: "same" }, __("draw them too")));
  const biasField = field(__("biases"), bias, __("what this initializer does to biases (and normalization shifts)"));
  let biasShown = false;
  const showArgs = () => {
    const init = available.catalogue.find((i) => i.name === select.value);
    args.replaceChildren(...(init?.args ?? []).map((arg) =>
      field(arg.name, h("input", { name: `arg-${arg.name}`, class: cls("input"), value: String(arg.default), inputmode: "decimal" }))));
    biasShown = onBlock && Boolean(init?.bias);
    biasField.style.display = biasShown ? "" : "none";
    if (init?.bias) bias.value = init.bias;
    note.textContent = init === undefined
      ? __("custom initializer %1 from the notebook", select.value)
      : init.needs_matrix
        ? __("needs a matrix: 1-D parameters are skipped")
        : "";
  };
  select.addEventListener("change", showArgs);
  showArgs();
  dialog.open(__("Reinitialize"), node.path || __("whole model"), [field(__("initializer"), select), args, note, biasField,
    field(__("seed"), seed, __("optional; the same seed gives the same values"))], __("Reinitialize"), () => {
    const values: Record<string, number> = {};
    for (const input of args.querySelectorAll<HTMLInputElement>("input")) {
      const name = input.name.slice("arg-".length);
      const value = Number(input.value.trim());
      if (input.value.trim() === "" || !Number.isFinite(value)) {
        return { field: input.name, message: __("%1 must be a number, got \"%2\"", name, input.value) };
      }
      values[name] = value;
    }
    const seedText = seed.value.trim();
    const seedValue = seedText === "" ? null : Number(seedText);
    if (seedValue !== null && !(Number.isInteger(seedValue) && seedValue >= 0 && seedValue < 2 ** 32)) {
      return { field: "seed", message: __("seed must be a whole number between 0 and %1, got \"%2\"", formatInteger(2 ** 32 - 1), seedText) };
    }
    const body: ReinitBody = { op: "reinit", model, path: node.path, init: select.value, args: values, seed: seedValue };
    if (biasShown) body.bias = bias.value as BiasMode;
    return submit(body);
  }, (message) => {
    if (/\bseed\b/.test(message)) return "seed";
    if (/\bbias\b/.test(message)) return "bias";
    const arg = [...args.querySelectorAll<HTMLInputElement>("input")].find((input) =>
      new RegExp(`\\b${input.name.slice("arg-".length)}\\b`).test(message));
    return arg ? arg.name : "init";
  });
}

/** Read the value field: a number, a JSON list of numbers, or the name of a function in the notebook. */
export function parseValue(text: string): { value: ArrayValue } | { fn: string } | string {
  const trimmed = text.trim();
  if (trimmed === "") return __("enter a value: a number, a list such as [1, 2], or a function name");
  const number = Number(trimmed);
  if (Number.isFinite(number) || /^[-+]?(inf|infinity|nan)$/i.test(trimmed)) {
    if (!Number.isFinite(number)) return __("NaN and infinity cannot be set from here; use code");
    return { value: number };
  }
  if (trimmed.startsWith("[")) {
    try {
      const parsed: unknown = JSON.parse(trimmed);
      if (isArrayValue(parsed)) return { value: parsed };
    } catch {
      // fall through to the message below
    }
    return __("cannot read %1: write a list of numbers such as [1, 2] or [[1, 2], [3, 4]]", trimmed);
  }
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(trimmed)) return { fn: trimmed };
  return __("cannot read \"%1\": write a number, a list such as [1, 2], or the name of a function fn(old)", trimmed);
}

function isArrayValue(x: unknown): x is ArrayValue {
  return typeof x === "number" ? Number.isFinite(x) : Array.isArray(x) && x.every(isArrayValue);
}

/** "Set value…": whole tensor or index text like "0, 0"; mode set/add/mul. */
export function openSetValue(dialog: Dialog, model: string, node: Node, submit: Submit<SetValueBody>): void {
  const value = h("input", { name: "value", class: cls("input"), placeholder: __("1.5, [1, 2], or fn name") });
  const index = h("input", { name: "index", class: cls("input"), placeholder: __("all values") });
  const mode = h("select", { name: "mode", class: cls("input") },
    h("option", { value: "set" }, __("set to")), h("option", { value: "add" }, __("add")),
    h("option", { value: "mul" }, __("multiply by")));
  dialog.open(__("Set value"), `${node.path} · ${formatShape(node.shape) || __("shape unknown")}`, [
    field(__("mode"), mode),
    field(__("value"), value, __("a number, a list of numbers, or a notebook function of the old value")),
    field(__("index"), index, __("empty for every value; or e.g. 0, 0 or 1:3, :")),
  ], __("Apply"), () => {
    const parsed = parseValue(value.value);
    if (typeof parsed === "string") return { field: "value", message: parsed };
    const where = index.value.trim() === "" ? null : index.value.trim();
    if (where !== null && !/^[\s\d:,.\-[\]]+$/.test(where)) {
      return { field: "index", message: __("cannot read index \"%1\": write integers and slices, e.g. 0, 0 or 1:3, :", where) };
    }
    return submit({ op: "set_value", model, path: node.path, ...parsed, index: where, mode: mode.value as SetMode });
  }, (message) => (/\ban index\b|\bindex [[\d"']/.test(message) ? "index" : "value"));
}
