/** Typed fake of the part of the `vscode` module the extension uses (aliased as "vscode" in vitest.config.ts):
 * events the tests fire, a webview that records what it is sent, editors, extensions and commands. */

import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import type * as vscode from "vscode";

type Listener<T> = (value: T) => unknown;

export class EventEmitter<T> {
  private readonly listeners = new Set<Listener<T>>();

  readonly event: vscode.Event<T> = (listener: Listener<T>) => {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  };

  fire(value: T): void {
    this.listeners.forEach((listener) => listener(value));
  }

  get size(): number {
    return this.listeners.size;
  }
}

export class CancellationTokenSource {
  cancelled = false;
  readonly token: vscode.CancellationToken = {
    isCancellationRequested: false,
    onCancellationRequested: new EventEmitter<unknown>().event,
  };

  cancel(): void {
    this.cancelled = true;
  }

  dispose(): void {}
}

export class Uri {
  private constructor(readonly scheme: string, readonly path: string) {}

  static file(path: string): Uri {
    return new Uri("file", path);
  }

  static joinPath(base: Uri, ...parts: string[]): Uri {
    return new Uri(base.scheme, [base.path, ...parts].join("/"));
  }

  toString(): string {
    return `${this.scheme}://${this.path}`;
  }
}

/** A notebook as the view sees it: its uri. */
export function notebook(path: string): vscode.NotebookDocument {
  return { uri: Uri.file(path) } as unknown as vscode.NotebookDocument;
}

/** A text editor over one line of text whose selections `edit` replaces, as VS Code's edit builder does. */
export class FakeEditor {
  text: string;
  selections: { start: number; end: number }[];
  readonly document = { uri: Uri.file("/cell") };

  constructor(text: string, cursor: number) {
    this.text = text;
    this.selections = [{ start: cursor, end: cursor }];
  }

  async edit(callback: (builder: { replace(selection: { start: number; end: number }, text: string): void }) => void): Promise<boolean> {
    const replacements: [{ start: number; end: number }, string][] = [];
    callback({ replace: (selection, text) => replacements.push([selection, text]) });
    for (const [selection, text] of replacements.sort(([a], [b]) => b.start - a.start)) {
      this.text = this.text.slice(0, selection.start) + text + this.text.slice(selection.end);
    }
    return true;
  }
}

/** The webview of a resolved view: `sent` holds every posted message; `receive` plays the webview's script. */
export class FakeWebview {
  options: vscode.WebviewOptions = {};
  html = "";
  readonly cspSource = "https://webview.test";
  readonly sent: unknown[] = [];
  private readonly incoming = new EventEmitter<unknown>();
  readonly onDidReceiveMessage = this.incoming.event;

  asWebviewUri(uri: Uri): Uri {
    return Uri.joinPath(Uri.file("/webview-resource"), uri.path);
  }

  async postMessage(message: unknown): Promise<boolean> {
    this.sent.push(structuredClone(message));
    return true;
  }

  receive(message: unknown): void {
    this.incoming.fire(message);
  }
}

export class FakeWebviewView {
  readonly webview = new FakeWebview();
  visible = true;
  private readonly visibility = new EventEmitter<void>();
  private readonly disposed = new EventEmitter<void>();
  readonly onDidChangeVisibility = this.visibility.event;
  readonly onDidDispose = this.disposed.event;

  dispose(): void {
    this.disposed.fire();
  }
}

export interface FakeExtension {
  isActive: boolean;
  exports: unknown;
  activate(): Promise<unknown>;
}

/** What the tests set up and fire; reset before each test. */
export const fake = {
  activeNotebookEditor: undefined as { notebook: vscode.NotebookDocument } | undefined,
  activeTextEditor: undefined as FakeEditor | undefined,
  extensions: new Map<string, FakeExtension>(),
  clipboard: "",
  quickPick: undefined as ((items: { label: string; description?: string }[], options?: vscode.QuickPickOptions) =>
    { label: string } | undefined) | undefined,
  executed: [] as string[],
  messages: [] as string[],
  commands: new Map<string, (...args: unknown[]) => unknown>(),
  activeNotebookChanged: new EventEmitter<{ notebook: vscode.NotebookDocument } | undefined>(),
  notebookClosed: new EventEmitter<vscode.NotebookDocument>(),
  notebookChanged: new EventEmitter<Pick<vscode.NotebookDocumentChangeEvent, "notebook" | "cellChanges">>(),
  views: new Map<string, unknown>(),
  /** VS Code's display language (`env.language`): "en", "tr", "pt-br" … */
  language: "en",
  /** Every message asked of `l10n.t`, untranslated. */
  translated: [] as string[],
  reset(): void {
    this.activeNotebookEditor = undefined;
    this.activeTextEditor = undefined;
    this.extensions.clear();
    this.clipboard = "";
    this.quickPick = undefined;
    this.executed = [];
    this.messages = [];
    this.commands.clear();
    this.views.clear();
    this.language = "en";
    this.translated = [];
    this.activeNotebookChanged = new EventEmitter();
    this.notebookClosed = new EventEmitter();
    this.notebookChanged = new EventEmitter();
  },
};

export const window = {
  get activeNotebookEditor() {
    return fake.activeNotebookEditor;
  },
  get activeTextEditor() {
    return fake.activeTextEditor;
  },
  onDidChangeActiveNotebookEditor: ((listener: Listener<{ notebook: vscode.NotebookDocument } | undefined>) =>
    fake.activeNotebookChanged.event(listener)) as vscode.Event<{ notebook: vscode.NotebookDocument } | undefined>,
  registerWebviewViewProvider(viewType: string, provider: unknown): vscode.Disposable {
    fake.views.set(viewType, provider);
    return { dispose: () => fake.views.delete(viewType) };
  },
  async showQuickPick<T extends { label: string }>(items: T[], options?: vscode.QuickPickOptions): Promise<T | undefined> {
    return fake.quickPick?.(items, options) as T | undefined;
  },
  async showInformationMessage(message: string): Promise<undefined> {
    fake.messages.push(message);
    return undefined;
  },
};

export const workspace = {
  onDidCloseNotebookDocument: ((listener: Listener<vscode.NotebookDocument>) => fake.notebookClosed.event(listener)) as
    vscode.Event<vscode.NotebookDocument>,
  onDidChangeNotebookDocument: ((listener: Listener<Pick<vscode.NotebookDocumentChangeEvent, "notebook" | "cellChanges">>) =>
    fake.notebookChanged.event(listener)) as vscode.Event<Pick<vscode.NotebookDocumentChangeEvent, "notebook" | "cellChanges">>,
};

export const extensions = {
  getExtension(id: string): FakeExtension | undefined {
    return fake.extensions.get(id);
  },
};

export const commands = {
  registerCommand(id: string, callback: (...args: unknown[]) => unknown): vscode.Disposable {
    fake.commands.set(id, callback);
    return { dispose: () => fake.commands.delete(id) };
  },
  async executeCommand(id: string): Promise<undefined> {
    fake.executed.push(id);
    return undefined;
  },
};

export const env = {
  get language() {
    return fake.language;
  },
  clipboard: {
    async writeText(text: string): Promise<void> {
      fake.clipboard = text;
    },
  },
};

// VS Code loads the extension's l10n/bundle.l10n.<language>.json for env.language; these are the same bundles,
// made by the repository's scripts/i18n.mjs from src/i18n (as the extension's build does).
const CATALOGUE_LANGUAGES: Record<string, string> = { tr: "tr_TR", "pt-br": "pt_BR" };
const bundles = new Map<string, Record<string, string>>();

/** The l10n bundle VS Code would load for `language` (none for English and languages without one). */
export function l10nBundle(language: string): Record<string, string> {
  const catalogueLanguage = CATALOGUE_LANGUAGES[language];
  if (catalogueLanguage === undefined) return {};
  let bundle = bundles.get(language);
  if (bundle === undefined) {
    const script = fileURLToPath(new URL("../../../scripts/i18n.mjs", import.meta.url));
    const code = `import { hostCatalogues } from ${JSON.stringify(script)};
      process.stdout.write(JSON.stringify(hostCatalogues(${JSON.stringify(catalogueLanguage)}).vscode));`;
    bundle = JSON.parse(execFileSync("node", ["--input-type=module", "-e", code], { encoding: "utf8" })) as Record<string, string>;
    bundles.set(language, bundle);
  }
  return bundle;
}

export const l10n = {
  /** vscode.l10n.t(message, ...args): the bundle's text for the display language, `{0}` … replaced by args. */
  t(message: string, ...args: (string | number | boolean)[]): string {
    fake.translated.push(message);
    const text = l10nBundle(fake.language)[message] ?? message;
    return text.replace(/\{(\d+)\}/g, (match, index: string) => (args[Number(index)] === undefined ? match : String(args[Number(index)])));
  },
};
