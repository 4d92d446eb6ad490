/** The Models view's host side: what it tells the webview in every kernel state, the message round trip,
 * following the active notebook, refreshing after cells run, inserting code, the commands and the CSP. */

import type * as vscode from "vscode";
import { activate } from "../../src/extension";
import type { ToWebview } from "../../src/messages";
import { ModelsViewProvider } from "../../src/ModelsViewProvider";
import { answerOutputs, errorOutputs, FakeKernel, jupyterExtension, kernelWithModels } from "./jupyter.fake";
import { fake, FakeEditor, FakeWebviewView, notebook, Uri } from "./vscode.fake";

const CHAPTER = notebook("/notebooks/chapter.ipynb");
const OTHER = notebook("/notebooks/other.ipynb");
let kernels: Map<string, FakeKernel>;
let provider: ModelsViewProvider;
let view: FakeWebviewView;

beforeEach(() => {
  fake.reset();
  kernels = new Map();
  fake.extensions.set("ms-toolsai.jupyter", jupyterExtension(kernels));
});

afterEach(() => provider?.dispose());

/** Resolve the view as VS Code does and let its script say it is ready. */
async function open(): Promise<void> {
  provider = new ModelsViewProvider(Uri.file("/ext") as unknown as vscode.Uri);
  view = new FakeWebviewView();
  provider.resolveWebviewView(view as unknown as vscode.WebviewView);
  view.webview.receive({ type: "ready" });
  await settle();
}

const settle = (ms = 10) => new Promise((resolve) => setTimeout(resolve, ms));
const sent = () => view.webview.sent as ToWebview[];
const states = () => sent().flatMap((m) => (m.type === "state" ? [m] : []));
const lastState = () => states().at(-1);

describe("states", () => {
  it("asks for a notebook when none is open", async () => {
    await open();
    expect(lastState()).toEqual({ type: "state", state: { kind: "no-notebook" }, selected: null });
  });

  it("lists the kernel's models and selects the first", async () => {
    kernels.set(CHAPTER.uri.toString(), kernelWithModels("rgnet", "net"));
    fake.activeNotebookEditor = { notebook: CHAPTER };
    await open();
    expect(lastState()).toMatchObject({ state: { kind: "ready", notebook: "chapter.ipynb", busy: false }, selected: "rgnet" });
    expect((lastState()?.state as { models: { name: string }[] }).models.map((m) => m.name)).toEqual(["rgnet", "net"]);
  });

  it("says when the notebook has no kernel yet", async () => {
    fake.activeNotebookEditor = { notebook: CHAPTER };
    await open();
    expect(lastState()?.state).toEqual({ kind: "no-kernel", notebook: "chapter.ipynb" });
  });

  it("says how to install paramscope when the kernel lacks it", async () => {
    kernels.set(CHAPTER.uri.toString(), new FakeKernel(() => errorOutputs("ModuleNotFoundError", "No module named 'paramscope'")));
    fake.activeNotebookEditor = { notebook: CHAPTER };
    await open();
    expect(lastState()?.state).toMatchObject({ kind: "not-installed", notebook: "chapter.ipynb" });
    expect(JSON.stringify(lastState())).toContain("%pip install paramscope");
  });

  it("says when the Jupyter extension is missing", async () => {
    fake.extensions.clear();
    fake.activeNotebookEditor = { notebook: CHAPTER };
    await open();
    expect(lastState()?.state).toMatchObject({ kind: "no-jupyter" });
  });

  it("shows that the kernel is busy while a cell runs, then the models", async () => {
    let release: () => void = () => undefined;
    const kernel = new FakeKernel(async (request) => {
      await new Promise<void>((resolve) => (release = resolve));
      return answerOutputs({ id: request.id, ok: true, result: { models: [] }, revision: null });
    });
    kernel.status = "busy";
    kernels.set(CHAPTER.uri.toString(), kernel);
    fake.activeNotebookEditor = { notebook: CHAPTER };
    await open();
    expect(lastState()?.state).toEqual({ kind: "loading", notebook: "chapter.ipynb" });
    kernel.status = "idle";
    release();
    await settle();
    expect(lastState()?.state).toEqual({ kind: "ready", notebook: "chapter.ipynb", models: [], busy: false });
  });
});

describe("messages", () => {
  it("carries a protocol request to the kernel and its answer back with the same id", async () => {
    const kernel = kernelWithModels("rgnet");
    kernels.set(CHAPTER.uri.toString(), kernel);
    fake.activeNotebookEditor = { notebook: CHAPTER };
    await open();
    const request = { id: 42, op: "tree", model: "rgnet", path: "0.block 1", depth: 1, offset: 0, limit: 200 };
    view.webview.receive({ type: "request", request });
    await settle();
    expect(kernel.requests.at(-1)).toEqual(request);
    expect(sent().at(-1)).toEqual({ type: "response", response: { id: 42, ok: true, result: { echo: request }, revision: 0 } });
  });

  it("answers a request with an error response when the kernel is gone, and shows why", async () => {
    kernels.set(CHAPTER.uri.toString(), kernelWithModels("rgnet"));
    fake.activeNotebookEditor = { notebook: CHAPTER };
    await open();
    kernels.clear(); // the kernel was shut down
    view.webview.receive({ type: "request", request: { id: 5, op: "tree", model: "rgnet", path: "" } });
    await settle();
    const response = sent().find((m) => m.type === "response");
    expect(response).toMatchObject({ response: { id: 5, ok: false, error: { type: "KernelUnavailable" } } });
    expect(lastState()?.state).toEqual({ kind: "no-kernel", notebook: "chapter.ipynb" });
  });

  it("remembers the model picked in the view", async () => {
    kernels.set(CHAPTER.uri.toString(), kernelWithModels("rgnet", "net"));
    fake.activeNotebookEditor = { notebook: CHAPTER };
    await open();
    view.webview.receive({ type: "select", model: "net" });
    view.webview.receive({ type: "refresh" });
    await settle();
    expect(lastState()?.selected).toBe("net");
    expect(sent().at(-1)).toEqual({ type: "refresh" });
  });
});

describe("following the notebook", () => {
  it("switches to another notebook's kernel and keeps the notebook when focus goes elsewhere", async () => {
    kernels.set(CHAPTER.uri.toString(), kernelWithModels("rgnet"));
    kernels.set(OTHER.uri.toString(), kernelWithModels("model"));
    fake.activeNotebookEditor = { notebook: CHAPTER };
    await open();
    fake.activeNotebookChanged.fire({ notebook: OTHER });
    await settle();
    expect(lastState()).toMatchObject({ state: { kind: "ready", notebook: "other.ipynb" }, selected: "model" });
    const count = states().length;
    fake.activeNotebookChanged.fire(undefined); // a text editor or a panel got the focus
    await settle();
    expect(states()).toHaveLength(count);
    fake.activeNotebookEditor = undefined;
    fake.notebookClosed.fire(OTHER);
    await settle();
    expect(lastState()?.state).toEqual({ kind: "no-notebook" });
  });

  it("refreshes once after cells finish running, not when they start", async () => {
    const kernel = kernelWithModels("rgnet");
    kernels.set(CHAPTER.uri.toString(), kernel);
    fake.activeNotebookEditor = { notebook: CHAPTER };
    await open();
    const before = kernel.code.length;
    const cell = (summary: vscode.NotebookCellExecutionSummary) =>
      ({ notebook: CHAPTER, cellChanges: [{ executionSummary: summary } as vscode.NotebookDocumentCellChange] });
    fake.notebookChanged.fire(cell({ executionOrder: 3, timing: { startTime: 1, endTime: undefined as unknown as number } }));
    await settle(400);
    expect(kernel.code.length).toBe(before);
    fake.notebookChanged.fire(cell({ executionOrder: 3, success: true, timing: { startTime: 1, endTime: 2 } }));
    fake.notebookChanged.fire(cell({ executionOrder: 4, success: true, timing: { startTime: 2, endTime: 3 } }));
    fake.notebookChanged.fire({ notebook: OTHER, cellChanges: cell({ success: true }).cellChanges });
    await settle(400);
    expect(kernel.requests.slice(before).map((r) => r.op)).toEqual(["models"]);
    expect(sent().at(-1)).toEqual({ type: "refresh" });
  });
});

describe("watch", () => {
  it("starts a watch that also writes into the running cell, and forwards what it writes there", async () => {
    const kernel = kernelWithModels("rgnet");
    kernels.set(CHAPTER.uri.toString(), kernel);
    fake.activeNotebookEditor = { notebook: CHAPTER };
    await open();
    view.webview.receive({ type: "request", request: { id: 7, op: "watch_start", model: "rgnet", every: 2 } });
    await settle();
    expect(kernel.requests.at(-1)).toMatchObject({ op: "watch_start", every: 2, display: true });
    const push = { event: "watch", model: "rgnet", state: { active: true, step: 4, records: [], next: 2 } };
    const item = (mime: string, value: unknown) => ({ mime, data: new TextEncoder().encode(JSON.stringify(value)) });
    const outputs = [{ items: [item("application/vnd.paramscope.watch+json", push), item("text/plain", "paramscope: watching")] },
      { items: [item("text/plain", "loss 0.3")] }];
    fake.notebookChanged.fire({ notebook: CHAPTER, cellChanges: [{ outputs } as unknown as vscode.NotebookDocumentCellChange] });
    fake.notebookChanged.fire({ notebook: OTHER, cellChanges: [{ outputs } as unknown as vscode.NotebookDocumentCellChange] });
    expect(sent().filter((m) => m.type === "watch")).toEqual([{ type: "watch", push }]);
  });
});

describe("copy as code", () => {
  it("inserts the node's code at the cursor of the active editor", async () => {
    fake.activeTextEditor = new FakeEditor("w = ", 4);
    await open();
    view.webview.receive({ type: "insert", id: 1, code: "rgnet[0][1][0].weight" });
    await settle();
    expect(fake.activeTextEditor.text).toBe("w = rgnet[0][1][0].weight");
    expect(sent().at(-1)).toEqual({ type: "inserted", id: 1, ok: true, message: "Inserted rgnet[0][1][0].weight at the cursor" });
  });

  it("copies to the clipboard when no editor has a cursor", async () => {
    await open();
    view.webview.receive({ type: "insert", id: 2, code: "net[2].bias" });
    await settle();
    expect(fake.clipboard).toBe("net[2].bias");
    expect(sent().at(-1)).toMatchObject({ type: "inserted", id: 2, message: expect.stringContaining("clipboard") });
  });
});

describe("commands", () => {
  it("registers the view and the commands into the extension's subscriptions", () => {
    const context = { extensionUri: Uri.file("/ext"), subscriptions: [] as { dispose(): unknown }[] };
    activate(context as unknown as vscode.ExtensionContext);
    expect([...fake.views.keys()]).toEqual([ModelsViewProvider.viewType]);
    expect([...fake.commands.keys()].sort()).toEqual(["paramscope.refresh", "paramscope.revealModel"]);
    expect(context.subscriptions).toHaveLength(4);
    context.subscriptions.forEach((d) => d.dispose());
    expect(fake.commands.size).toBe(0);
    expect(fake.activeNotebookChanged.size).toBe(0);
  });

  it("Reveal model picks a model of the kernel, focuses the view and shows it", async () => {
    kernels.set(CHAPTER.uri.toString(), kernelWithModels("rgnet", "net"));
    fake.activeNotebookEditor = { notebook: CHAPTER };
    await open();
    let offered: string[] = [];
    fake.quickPick = (items) => {
      offered = items.map((i) => i.label);
      return items[1];
    };
    await provider.revealModel();
    expect(offered).toEqual(["rgnet", "net"]);
    expect(fake.executed).toEqual(["paramscope.models.focus"]);
    expect(sent().at(-1)).toEqual({ type: "reveal", model: "net" });
  });

  it("Reveal model says why there is nothing to reveal", async () => {
    await open();
    await provider.revealModel();
    expect(fake.messages).toEqual(["paramscope: Open a Jupyter notebook to reveal a model of its kernel."]);
  });
});

describe("webview html", () => {
  it("loads only the extension's own script, with a nonce, under a CSP without network access", async () => {
    await open();
    const html = view.webview.html;
    const csp = /http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(html)?.[1] ?? "";
    const nonce = /script-src 'nonce-([0-9a-f]{32})'/.exec(csp)?.[1];
    expect(nonce).toBeDefined();
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|connect-src|https?:\/\/(?!webview\.test)/);
    const scripts = [...html.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts).toHaveLength(1);
    expect(scripts[0][1]).toContain(`nonce="${nonce}"`);
    expect(scripts[0][1]).toContain('src="file:///webview-resource//ext/media/webview.js"');
    expect(scripts[0][2]).toBe("");
    expect(html).not.toMatch(/\son[a-z]+=/i); // no inline event handlers
    expect(view.webview.options).toMatchObject({ enableScripts: true });
  });
});
