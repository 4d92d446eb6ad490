/** The Models view's script: a model picker, the state of the notebook's kernel, and the shared ModelExplorer
 * for the picked model, whose requests go to the extension host (which runs them in the kernel). */

import { __, setLanguage } from "../../src/tree/i18n";
import { ModelExplorer } from "../../src/tree/ModelExplorer";
import "../../src/style.css";
import type { ToHost, ToWebview, ViewState } from "../src/messages";
import { busyText, describe } from "./describe";
import { PostMessageTransport } from "./transport";
import "./view.css";

declare function acquireVsCodeApi(): { postMessage(message: ToHost): void };

// VS Code's display language, which the extension host writes into <html lang>: before any text is made. The page
// then says which language its texts are in (English for a language without a catalogue), for screen readers.
const language = setLanguage(document.documentElement.lang);
document.documentElement.lang = language === "en" ? "en" : language.replace("_", "-");

const vscode = acquireVsCodeApi();
const post = (message: ToHost) => vscode.postMessage(message);
const transport = new PostMessageTransport(post);
const inserts = new Map<number, { resolve(message: string): void; reject(error: Error): void }>();
let nextInsert = 1;

const root = document.getElementById("paramscope-root") as HTMLDivElement;
const picker = element("select", "picker");
picker.title = __("Model in the kernel");
const header = element("div", "header");
const notebookLabel = element("span", "notebook");
header.append(picker, notebookLabel);
const status = element("div", "status");
status.setAttribute("role", "status");
const host = element("div", "host");
root.append(header, status, host);

let explorer: { model: string; view: ModelExplorer; summary: string } | null = null;
// The shown model's summary in the latest state: a refresh re-reads the tree only when it changed.
let summary = "";

picker.addEventListener("change", () => {
  show(picker.value);
  post({ type: "select", model: picker.value });
});

window.addEventListener("message", (event: MessageEvent<ToWebview>) => {
  const message = event.data;
  switch (message.type) {
    case "state":
      render(message.state, message.selected);
      break;
    case "response":
      transport.receive(message.response);
      break;
    case "inserted": {
      const waiter = inserts.get(message.id);
      inserts.delete(message.id);
      if (message.ok) waiter?.resolve(message.message);
      else waiter?.reject(new Error(message.message));
      break;
    }
    case "refresh":
      // After a cell: a model whose class, size or revision changed is read again; otherwise only the values in
      // view are checked (fingerprints), which also shows a gradient that appeared.
      if (explorer && explorer.summary !== summary) {
        explorer.summary = summary;
        void explorer.view.refresh();
      } else {
        void explorer?.view.checkStale();
      }
      break;
    case "watch":
      // A watch update the kernel wrote into the running cell's output (VS Code has no comm to push on).
      if (explorer && message.push.model === explorer.model) explorer.view.noteWatch(message.push.state);
      break;
    case "reveal":
      picker.value = message.model;
      show(message.model);
      break;
  }
});

function render(state: ViewState, selected: string | null): void {
  root.dataset.state = state.kind;
  notebookLabel.textContent = "notebook" in state ? state.notebook : "";
  if (state.kind !== "ready") {
    picker.hidden = true;
    status.textContent = describe(state);
    if (state.kind !== "loading") show(null);
    return;
  }
  status.textContent = state.busy ? busyText() : "";
  picker.replaceChildren(...state.models.map((m) => {
    const option = document.createElement("option");
    option.value = m.name;
    option.textContent = `${m.name} (${m.type}, ${m.framework})`;
    return option;
  }));
  picker.hidden = state.models.length === 0;
  if (!state.models.length) status.textContent = describe(state);
  if (selected !== null) picker.value = selected;
  summary = JSON.stringify(state.models.find((m) => m.name === selected) ?? null);
  show(selected);
}

/** Show the explorer of `model` (null: none), keeping the current one when it is already that model. */
function show(model: string | null): void {
  if (explorer?.model === model) return;
  explorer?.view.dispose();
  explorer = null;
  if (model === null) return;
  const view = new ModelExplorer(host, { transport, model, copyCode: insertCode });
  explorer = { model, view, summary };
  void view.start();
}

/** "Copy as code" in VS Code: the host inserts the code at the editor's cursor and says where it went. */
function insertCode(code: string): Promise<string> {
  const id = nextInsert++;
  return new Promise<string>((resolve, reject) => {
    inserts.set(id, { resolve, reject });
    post({ type: "insert", id, code });
  });
}

function element<K extends keyof HTMLElementTagNameMap>(tag: K, part: string): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  el.className = `jp-ParamScope-vscode-${part}`;
  return el;
}

post({ type: "ready" });
