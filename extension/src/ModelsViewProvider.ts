/** The "Models" webview view: follows the active notebook, carries the webview's protocol requests to that
 * notebook's kernel, refreshes after cells run, and inserts a node's code at the editor's cursor. */

import * as vscode from "vscode";
import type { ModelSummary, Request, Response, WatchPush } from "../../src/protocol";
import { connect, KernelUnavailable } from "./kernel";
import type { ToHost, ToWebview, ViewState } from "./messages";

// Cells often run in quick succession (Run All): refresh once they settle.
const REFRESH_DELAY_MS = 300;
const WATCH_MIME = "application/vnd.paramscope.watch+json";

export class ModelsViewProvider implements vscode.WebviewViewProvider, vscode.Disposable {
  static readonly viewType = "paramscope.models";

  private view: vscode.WebviewView | undefined;
  private notebook: vscode.NotebookDocument | undefined;
  private state: ViewState = { kind: "no-notebook" };
  private selected: string | null = null;
  private generation = 0;
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly extensionUri: vscode.Uri) {
    this.notebook = vscode.window.activeNotebookEditor?.notebook;
    this.disposables.push(
      vscode.window.onDidChangeActiveNotebookEditor((editor) => {
        // Focus moving to a text editor or a panel keeps the notebook shown; another notebook replaces it.
        if (editor && editor.notebook !== this.notebook) this.follow(editor.notebook);
      }),
      vscode.workspace.onDidCloseNotebookDocument((notebook) => {
        if (notebook === this.notebook) this.follow(vscode.window.activeNotebookEditor?.notebook);
      }),
      vscode.workspace.onDidChangeNotebookDocument((event) => {
        if (event.notebook !== this.notebook) return;
        for (const push of event.cellChanges.flatMap((change) => watchPushes(change.outputs))) this.post({ type: "watch", push });
        if (event.cellChanges.some((change) => finished(change.executionSummary))) this.scheduleRefresh();
      }),
    );
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    const media = vscode.Uri.joinPath(this.extensionUri, "media");
    view.webview.options = { enableScripts: true, localResourceRoots: [media] };
    view.webview.html = this.html(view.webview, media);
    const subscriptions = [
      view.webview.onDidReceiveMessage((message: ToHost) => void this.receive(message)),
      view.onDidChangeVisibility(() => {
        if (view.visible) void this.refresh();
      }),
    ];
    view.onDidDispose(() => {
      subscriptions.forEach((s) => s.dispose());
      if (this.view === view) this.view = undefined;
    });
  }

  /** Read the kernel's models again, and the shown model. */
  async refresh(): Promise<void> {
    await this.update();
    this.post({ type: "refresh" });
  }

  /** Pick a model of the active notebook's kernel and show it in the view. */
  async revealModel(): Promise<void> {
    await this.update();
    const state = this.state;
    if (state.kind !== "ready" || !state.models.length) {
      void vscode.window.showInformationMessage(`paramscope: ${nothingToReveal(state)}`);
      return;
    }
    const pick = await vscode.window.showQuickPick(
      state.models.map((m) => ({ label: m.name, description: modelDescription(m) })),
      { placeHolder: vscode.l10n.t("Pick a model of {0}", state.notebook) });
    if (!pick) return;
    this.selected = pick.label;
    await vscode.commands.executeCommand(`${ModelsViewProvider.viewType}.focus`);
    this.post({ type: "reveal", model: pick.label });
  }

  dispose(): void {
    clearTimeout(this.refreshTimer);
    this.disposables.forEach((d) => d.dispose());
  }

  private async receive(message: ToHost): Promise<void> {
    switch (message.type) {
      case "ready":
        this.postState();
        await this.update();
        break;
      case "request": {
        // The kernel cannot answer while a training cell runs: a watch started here also writes its updates
        // into that cell's output, where onDidChangeNotebookDocument sees them.
        const request = message.request.op === "watch_start" ? { ...message.request, display: true } : message.request;
        this.post({ type: "response", response: await this.ask(request) });
        break;
      }
      case "insert": {
        const { ok, message: text } = await insertAtCursor(message.code);
        this.post({ type: "inserted", id: message.id, ok, message: text });
        break;
      }
      case "select":
        this.selected = message.model;
        break;
      case "refresh":
        await this.refresh();
        break;
    }
  }

  private follow(notebook: vscode.NotebookDocument | undefined): void {
    this.notebook = notebook;
    this.selected = null;
    void this.update();
  }

  private scheduleRefresh(): void {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => void this.refresh(), REFRESH_DELAY_MS);
  }

  /** One protocol request for the webview; a kernel that cannot answer turns into an error response. */
  private async ask(request: Request): Promise<Response> {
    const notebook = this.notebook;
    try {
      if (!notebook) throw new KernelUnavailable("no-kernel", vscode.l10n.t("No notebook is open."));
      return await (await connect(notebook.uri)).request(request);
    } catch (error) {
      if (notebook === this.notebook && error instanceof KernelUnavailable && error.reason !== "failed") void this.update();
      return { id: request.id, ok: false, error: { type: "KernelUnavailable", message: errorText(error) }, revision: null };
    }
  }

  /** Work out what the view shows for the followed notebook and send it (the latest call wins). */
  private async update(): Promise<void> {
    const generation = ++this.generation;
    const notebook = this.notebook;
    const set = (state: ViewState) => {
      if (generation !== this.generation) return;
      this.state = state;
      if (state.kind === "ready" && !state.models.some((m) => m.name === this.selected)) {
        this.selected = state.models[0]?.name ?? null;
      }
      this.postState();
    };
    if (!notebook) return set({ kind: "no-notebook" });
    const name = notebookName(notebook);
    try {
      const session = await connect(notebook.uri);
      if (session.busy) {
        set(this.state.kind === "ready" && this.state.notebook === name ? { ...this.state, busy: true } : { kind: "loading", notebook: name });
      }
      const response = await session.request({ id: 0, op: "models" });
      if (!response.ok) return set({ kind: "error", notebook: name, message: response.error.message });
      const { models } = response.result as { models: Extract<ViewState, { kind: "ready" }>["models"] };
      set({ kind: "ready", notebook: name, models, busy: false });
    } catch (error) {
      if (!(error instanceof KernelUnavailable)) return set({ kind: "error", notebook: name, message: errorText(error) });
      switch (error.reason) {
        case "no-jupyter":
          return set({ kind: "no-jupyter", message: error.message });
        case "no-kernel":
          return set({ kind: "no-kernel", notebook: name });
        case "not-python":
          return set({ kind: "not-python", notebook: name, language: error.language });
        case "not-installed":
          return set({ kind: "not-installed", notebook: name, message: error.message });
        case "failed":
          return set({ kind: "error", notebook: name, message: error.message });
      }
    }
  }

  private postState(): void {
    this.post({ type: "state", state: this.state, selected: this.selected });
  }

  private post(message: ToWebview): void {
    void this.view?.webview.postMessage(message);
  }

  private html(webview: vscode.Webview, media: vscode.Uri): string {
    const nonce = makeNonce();
    const script = webview.asWebviewUri(vscode.Uri.joinPath(media, "webview.js"));
    const style = webview.asWebviewUri(vscode.Uri.joinPath(media, "webview.css"));
    // The page's texts follow VS Code's display language: the script picks its catalogue from <html lang>.
    const language = webviewLanguage(vscode.env.language);
    // No connect-src: the view talks only to the extension host, never to the network.
    const csp = [`default-src 'none'`, `img-src ${webview.cspSource} data:`, `style-src ${webview.cspSource}`,
      `font-src ${webview.cspSource}`, `script-src 'nonce-${nonce}'`].join("; ");
    return `<!DOCTYPE html>
<html lang="${language}">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${style}">
<title>${escapeHtml(vscode.l10n.t("Models"))}</title>
</head>
<body>
<div id="paramscope-root"></div>
<script nonce="${nonce}" src="${script}"></script>
</body>
</html>`;
  }
}

/** A cell execution that has ended (the summary also changes when one starts). */
/** The watch pushes in a cell's changed outputs (the kernel's display of `WATCH_MIME`). */
export function watchPushes(outputs: readonly vscode.NotebookCellOutput[] | undefined): WatchPush[] {
  const found: WatchPush[] = [];
  for (const item of (outputs ?? []).flatMap((output) => output.items)) {
    if (item.mime !== WATCH_MIME) continue;
    try {
      const push = JSON.parse(new TextDecoder().decode(item.data)) as WatchPush;
      if (push.event === "watch" && typeof push.state === "object" && push.state !== null) found.push(push);
    } catch {
      // Not ours after all: skip it.
    }
  }
  return found;
}

function finished(summary: vscode.NotebookCellExecutionSummary | undefined): boolean {
  return summary?.success !== undefined || summary?.timing?.endTime !== undefined;
}

/** Puts `code` at every cursor of the active editor (a notebook cell or a file); the clipboard when there is none. */
export async function insertAtCursor(code: string): Promise<{ ok: boolean; message: string }> {
  const editor = vscode.window.activeTextEditor;
  if (editor) {
    const done = await editor.edit((edit) => editor.selections.forEach((selection) => edit.replace(selection, code)));
    if (done) return { ok: true, message: vscode.l10n.t("Inserted {0} at the cursor", code) };
  }
  await vscode.env.clipboard.writeText(code);
  return { ok: true, message: vscode.l10n.t("No editor has a cursor: copied {0} to the clipboard", code) };
}

/** VS Code's display language ("tr", "pt-br", "en") as a language tag for the page; anything odd is "en". */
export function webviewLanguage(language: string | undefined): string {
  return language && /^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$/.test(language) ? language : "en";
}

/** Why Reveal model has no model to offer, in a sentence that says what to do. */
function nothingToReveal(state: ViewState): string {
  switch (state.kind) {
    case "loading":
      return vscode.l10n.t("A cell is running: the kernel lists its models when the cell is done.");
    case "no-notebook":
      return vscode.l10n.t("Open a Jupyter notebook to reveal a model of its kernel.");
    case "no-jupyter":
    case "not-installed":
    case "error":
      return state.message;
    case "no-kernel":
      return vscode.l10n.t("No kernel is running for {0}: select a kernel and run a cell.", state.notebook);
    case "not-python":
      return vscode.l10n.t("The kernel of {0} runs {1}; paramscope needs a Python kernel.", state.notebook, state.language);
    case "ready":
      return vscode.l10n.t("No models in {0} yet: create one in a cell.", state.notebook);
  }
}

/** A model's line in Reveal model: its class, framework and parameter count, digits grouped as the view groups
 * them (the languages of the catalogue in their own way, any other in English's, like the view's texts). */
function modelDescription(model: ModelSummary): string {
  const language = vscode.env.language.toLowerCase();
  const locale = language === "tr" || language.startsWith("tr-") ? "tr-TR" : language === "pt-br" ? "pt-BR" : "en";
  const count = new Intl.NumberFormat(locale).format(model.n_params);
  return model.n_params === 1
    ? vscode.l10n.t("{0} · {1} · 1 parameter", model.type, model.framework)
    : vscode.l10n.t("{0} · {1} · {2} parameters", model.type, model.framework, count);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
}

function notebookName(notebook: vscode.NotebookDocument): string {
  return notebook.uri.path.split("/").pop() || notebook.uri.toString();
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function makeNonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
