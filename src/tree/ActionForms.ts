/** The forms behind "Reinitialize…" and "Set value…": they check what can be checked here, build the request,
 * and stay open with the kernel's message if it refuses (the kernel changes nothing then). */

import type { ArrayValue, BiasMode, Initializer, Node, RequestBody, SetMode } from "../protocol";
import { cls, formatShape, h } from "./format";

export type Submit<T> = (body: T) => Promise<void>;
type ReinitBody = RequestBody<"reinit">;
type SetValueBody = RequestBody<"set_value">;

/** A modal form inside the widget; Escape or Cancel closes it. */
export class Dialog {
  readonly element: HTMLDivElement;

  constructor() {
    this.element = h("div", { class: cls("dialog-backdrop"), hidden: true });
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

  open(title: string, subtitle: string, fields: HTMLElement[], submitLabel: string, submit: () => Promise<void> | string): void {
    const error = h("div", { class: cls("form-error"), role: "alert", hidden: true });
    const ok = h("button", { type: "submit", class: cls("button", "primary") }, submitLabel);
    const cancel = h("button", { type: "button", class: cls("button") }, "Cancel");
    cancel.addEventListener("click", () => this.close());
    const form = h("form", { class: cls("dialog"), role: "dialog", "aria-label": title },
      h("div", { class: cls("dialog-title") }, title, h("span", { class: cls("dialog-subtitle") }, subtitle)),
      ...fields, error,
      h("div", { class: cls("dialog-buttons") }, cancel, ok));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const outcome = submit();
      if (typeof outcome === "string") {
        error.textContent = outcome;
        error.hidden = false;
        return;
      }
      error.hidden = true;
      ok.disabled = true;
      ok.textContent = "Working…";
      outcome.then(() => this.close(), () => {
        ok.disabled = false;
        ok.textContent = submitLabel;
      });
    });
    this.element.replaceChildren(form);
    this.element.hidden = false;
    form.querySelector<HTMLElement>("select, input")?.focus();
  }

  close(): void {
    this.element.hidden = true;
    this.element.replaceChildren();
  }
}

function field(label: string, input: HTMLElement, help?: string): HTMLElement {
  return h("label", { class: cls("field") }, h("span", { class: cls("field-label") }, label), input,
    help ? h("span", { class: cls("field-help") }, help) : null);
}

/** "Reinitialize…": a catalogue initializer with its arguments, or a custom one from the notebook; a seed. */
export function openReinit(dialog: Dialog, model: string, node: Node,
  available: { catalogue: Initializer[]; custom: string[] }, submit: Submit<ReinitBody>): void {
  const select = h("select", { name: "init", class: cls("input") },
    ...available.catalogue.map((init) =>
      h("option", { value: init.name }, init.args.length ? `${init.name}(${init.args.map((a) => a.name).join(", ")})` : init.name)));
  if (available.custom.length) {
    select.append(h("optgroup", { label: "From your notebook" },
      ...available.custom.map((name) => h("option", { value: name, "data-custom": "true" }, name))));
  }
  const args = h("div", { class: cls("args") });
  const note = h("div", { class: cls("field-help") });
  const seed = h("input", { name: "seed", class: cls("input"), inputmode: "numeric", placeholder: "random" });
  // On a block, a catalogue initializer's effect on biases, defaulting to the chapter's choice for it.
  const onBlock = node.kind === "model" || node.kind === "block";
  const bias = h("select", { name: "bias", class: cls("input") },
    h("option", { value: "zeros" }, "set to zero (as the chapter's init_normal)"),
    h("option", { value: "keep" }, "keep as they are (as init_42, init_xavier)"),
    h("option", { value: "same" }, "draw them too"));
  const biasField = field("biases", bias, "what this initializer does to biases (and normalization shifts)");
  let biasShown = false;
  const showArgs = () => {
    const init = available.catalogue.find((i) => i.name === select.value);
    args.replaceChildren(...(init?.args ?? []).map((arg) =>
      field(arg.name, h("input", { name: `arg-${arg.name}`, class: cls("input"), value: String(arg.default), inputmode: "decimal" }))));
    biasShown = onBlock && Boolean(init?.bias);
    biasField.style.display = biasShown ? "" : "none";
    if (init?.bias) bias.value = init.bias;
    note.textContent = init === undefined
      ? `custom initializer ${select.value} from the notebook`
      : init.needs_matrix
        ? "needs a matrix: 1-D parameters are skipped"
        : "";
  };
  select.addEventListener("change", showArgs);
  showArgs();
  dialog.open("Reinitialize", node.path || "whole model", [field("initializer", select), args, note, biasField,
    field("seed", seed, "optional; the same seed gives the same values")], "Reinitialize", () => {
    const values: Record<string, number> = {};
    for (const input of args.querySelectorAll<HTMLInputElement>("input")) {
      const name = input.name.slice("arg-".length);
      const value = Number(input.value.trim());
      if (input.value.trim() === "" || !Number.isFinite(value)) return `${name} must be a number, got "${input.value}"`;
      values[name] = value;
    }
    const seedText = seed.value.trim();
    const seedValue = seedText === "" ? null : Number(seedText);
    if (seedValue !== null && !(Number.isInteger(seedValue) && seedValue >= 0 && seedValue < 2 ** 32)) {
      return `seed must be a whole number between 0 and 4294967295, got "${seedText}"`;
    }
    const body: ReinitBody = { op: "reinit", model, path: node.path, init: select.value, args: values, seed: seedValue };
    if (biasShown) body.bias = bias.value as BiasMode;
    return submit(body);
  });
}

/** Read the value field: a number, a JSON list of numbers, or the name of a function in the notebook. */
export function parseValue(text: string): { value: ArrayValue } | { fn: string } | string {
  const trimmed = text.trim();
  if (trimmed === "") return "enter a value: a number, a list such as [1, 2], or a function name";
  const number = Number(trimmed);
  if (Number.isFinite(number) || /^[-+]?(inf|infinity|nan)$/i.test(trimmed)) {
    if (!Number.isFinite(number)) return "NaN and infinity cannot be set from here; use code";
    return { value: number };
  }
  if (trimmed.startsWith("[")) {
    try {
      const parsed: unknown = JSON.parse(trimmed);
      if (isArrayValue(parsed)) return { value: parsed };
    } catch {
      // fall through to the message below
    }
    return `cannot read ${trimmed}: write a list of numbers such as [1, 2] or [[1, 2], [3, 4]]`;
  }
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(trimmed)) return { fn: trimmed };
  return `cannot read "${trimmed}": write a number, a list such as [1, 2], or the name of a function fn(old)`;
}

function isArrayValue(x: unknown): x is ArrayValue {
  return typeof x === "number" ? Number.isFinite(x) : Array.isArray(x) && x.every(isArrayValue);
}

/** "Set value…": whole tensor or index text like "0, 0"; mode set/add/mul. */
export function openSetValue(dialog: Dialog, model: string, node: Node, submit: Submit<SetValueBody>): void {
  const value = h("input", { name: "value", class: cls("input"), placeholder: "1.5, [1, 2], or fn name" });
  const index = h("input", { name: "index", class: cls("input"), placeholder: "all values" });
  const mode = h("select", { name: "mode", class: cls("input") },
    h("option", { value: "set" }, "set to"), h("option", { value: "add" }, "add"), h("option", { value: "mul" }, "multiply by"));
  dialog.open("Set value", `${node.path} · ${formatShape(node.shape) || "shape unknown"}`, [
    field("mode", mode),
    field("value", value, "a number, a list of numbers, or a notebook function of the old value"),
    field("index", index, "empty for every value; or e.g. 0, 0 or 1:3, :"),
  ], "Apply", () => {
    const parsed = parseValue(value.value);
    if (typeof parsed === "string") return parsed;
    const where = index.value.trim() === "" ? null : index.value.trim();
    if (where !== null && !/^[\s\d:,.\-[\]]+$/.test(where)) {
      return `cannot read index "${where}": write integers and slices, e.g. 0, 0 or 1:3, :`;
    }
    return submit({ op: "set_value", model, path: node.path, ...parsed, index: where, mode: mode.value as SetMode });
  });
}
