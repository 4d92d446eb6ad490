/** The extension host in VS Code's display language: its texts through vscode.l10n.t (bundles made from
 * src/i18n/vscode.json), the language handed to the webview, and package.json's %keys% in every package.nls file. */

import { readFileSync } from "node:fs";
import type * as vscode from "vscode";
import { readAnswer } from "../../src/kernel";
import { ModelsViewProvider, webviewLanguage } from "../../src/ModelsViewProvider";
import type { ToWebview } from "../../src/messages";
import { answerOutputs, errorOutputs, FakeKernel, jupyterExtension, summary } from "./jupyter.fake";
import { fake, FakeEditor, FakeWebviewView, l10nBundle, notebook, Uri } from "./vscode.fake";

const EXTENSION = new URL("../../", import.meta.url);
const read = (path: string) => readFileSync(new URL(path, EXTENSION), "utf8");
const CHAPTER = notebook("/notebooks/chapter.ipynb");
const LANGUAGES = ["tr", "pt-br"] as const;
let provider: ModelsViewProvider | undefined;

beforeEach(() => fake.reset());
afterEach(() => provider?.dispose());

async function open(): Promise<FakeWebviewView> {
  provider = new ModelsViewProvider(Uri.file("/ext") as unknown as vscode.Uri);
  const view = new FakeWebviewView();
  provider.resolveWebviewView(view as unknown as vscode.WebviewView);
  view.webview.receive({ type: "ready" });
  await new Promise((resolve) => setTimeout(resolve, 10));
  return view;
}

const lastState = (view: FakeWebviewView) =>
  (view.webview.sent as ToWebview[]).flatMap((m) => (m.type === "state" ? [m.state] : [])).at(-1);

/** Every `vscode.l10n.t("…")` text of the extension host's sources, as the catalogue tool reads them. */
function hostMessages(): string[] {
  const found: string[] = [];
  for (const file of ["extension.ts", "kernel.ts", "ModelsViewProvider.ts", "jupyter.ts", "messages.ts"]) {
    for (const match of read(`src/${file}`).matchAll(/l10n\.t\(\s*"((?:[^"\\]|\\.)*)"/g)) found.push(JSON.parse(`"${match[1]}"`) as string);
  }
  return found;
}

describe("the webview's language", () => {
  it.each([["tr", "tr"], ["pt-br", "pt-br"], ["en", "en"], ["de", "de"], ["", "en"], ['tr"><script>', "en"]])(
    "VS Code in %j writes <html lang=%j> into the view's page", async (language, lang) => {
      fake.language = language;
      const view = await open();
      expect(view.webview.html).toContain(`<html lang="${lang}">`);
      expect(webviewLanguage(language)).toBe(lang);
    });

  it("titles the page in the display language", async () => {
    fake.language = "tr";
    expect((await open()).webview.html).toContain("<title>Modeller</title>");
    provider?.dispose();
    fake.language = "pt-br";
    expect((await open()).webview.html).toContain("<title>Modelos</title>");
  });
});

describe("host texts through vscode.l10n.t", () => {
  it("has a Turkish and a Portuguese text for every message of the host", () => {
    const messages = hostMessages();
    expect(messages.length).toBeGreaterThan(15);
    for (const language of LANGUAGES) {
      const bundle = l10nBundle(language);
      for (const message of messages) {
        expect(bundle[message], `${language}: ${message}`).toBeTruthy();
        expect(bundle[message]).not.toBe(message);
        const placeholders = (text: string) => [...text.matchAll(/\{(\d+)\}/g)].map((m) => m[1]).sort();
        expect(placeholders(bundle[message]!), `${language}: ${message}`).toEqual(placeholders(message));
      }
    }
  });

  it("says why there is nothing to reveal in Turkish and in Portuguese", async () => {
    fake.language = "tr";
    await open();
    await provider!.revealModel();
    fake.language = "pt-br";
    await provider!.revealModel();
    expect(fake.messages).toEqual([
      "paramscope: Çekirdeğindeki bir modeli göstermek için bir Jupyter defteri açın.",
      "paramscope: Abra um notebook Jupyter para revelar um modelo do kernel dele.",
    ]);
    expect(fake.translated).toContain("Open a Jupyter notebook to reveal a model of its kernel.");
  });

  it("offers the models with Turkish descriptions and Turkish digit grouping", async () => {
    fake.language = "tr";
    const big = { ...summary("gpt2"), type: "GPT2LMHeadModel", n_params: 124_439_808 };
    const one = { ...summary("scale"), type: "Scale", n_params: 1 };
    const kernels = new Map([[CHAPTER.uri.toString(), new FakeKernel((request) =>
      answerOutputs({ id: request.id, ok: true, result: { models: [big, one] }, revision: null }))]]);
    fake.extensions.set("ms-toolsai.jupyter", jupyterExtension(kernels));
    fake.activeNotebookEditor = { notebook: CHAPTER };
    await open();
    let offered: { label: string; description?: string }[] = [];
    let placeHolder = "";
    fake.quickPick = (items, options) => {
      offered = items;
      placeHolder = options?.placeHolder ?? "";
      return undefined;
    };
    await provider!.revealModel();
    expect(offered.map((i) => i.description)).toEqual(["GPT2LMHeadModel · pytorch · 124.439.808 parametre", "Scale · pytorch · 1 parametre"]);
    expect(placeHolder).toBe("chapter.ipynb içinden bir model seçin");
  });

  it("tells the view in Portuguese why the kernel cannot answer", async () => {
    fake.language = "pt-br";
    fake.activeNotebookEditor = { notebook: CHAPTER };
    const view = await open();
    expect(lastState(view)).toMatchObject({ kind: "no-jupyter", message: "A extensão Jupyter (ms-toolsai.jupyter) não está instalada: instale-a pela visualização Extensões." });
    const kernels = new Map([[CHAPTER.uri.toString(), new FakeKernel(() => errorOutputs("ModuleNotFoundError", "No module named 'paramscope'"))]]);
    fake.extensions.set("ms-toolsai.jupyter", jupyterExtension(kernels));
    await provider!.refresh();
    expect(lastState(view)).toMatchObject({ kind: "not-installed", message: expect.stringContaining("Execute `%pip install paramscope` em uma célula") });
  });

  it("words kernel failures in Turkish, keeping the kernel's own error as it is", () => {
    fake.language = "tr";
    expect(() => readAnswer(errorOutputs("ValueError", "bad shape"))).toThrow("Çekirdek paramscope'u çalıştıramadı: ValueError: bad shape");
    expect(() => readAnswer([])).toThrow(/^Çekirdek paramscope'a yanıt vermedi/);
  });

  it("reports copy as code in Turkish", async () => {
    fake.language = "tr";
    fake.activeTextEditor = new FakeEditor("w = ", 4);
    const view = await open();
    view.webview.receive({ type: "insert", id: 1, code: "net[0].weight" });
    fake.activeTextEditor = undefined;
    view.webview.receive({ type: "insert", id: 2, code: "net[2].bias" });
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect((view.webview.sent as ToWebview[]).filter((m) => m.type === "inserted").map((m) => m.type === "inserted" && m.message))
      .toEqual(["net[0].weight imlecin bulunduğu yere eklendi", "İmleci olan bir düzenleyici yok: net[2].bias panoya kopyalandı"]);
  });

  it("stays English, numbers too, for a language without a bundle", async () => {
    fake.language = "de";
    await open();
    await provider!.revealModel();
    expect(fake.messages).toEqual(["paramscope: Open a Jupyter notebook to reveal a model of its kernel."]);
    const big = { ...summary("gpt2"), type: "GPT2LMHeadModel", n_params: 124_439_808 };
    const kernels = new Map([[CHAPTER.uri.toString(), new FakeKernel((request) =>
      answerOutputs({ id: request.id, ok: true, result: { models: [big] }, revision: null }))]]);
    fake.extensions.set("ms-toolsai.jupyter", jupyterExtension(kernels));
    fake.activeNotebookChanged.fire({ notebook: CHAPTER });
    let offered: { description?: string }[] = [];
    fake.quickPick = (items) => {
      offered = items;
      return undefined;
    };
    await provider!.revealModel();
    expect(offered.map((i) => i.description)).toEqual(["GPT2LMHeadModel · pytorch · 124,439,808 parameters"]);
  });
});

describe("package.json's contributed texts", () => {
  const manifest = read("package.json");
  const keys = [...manifest.matchAll(/"%([^%"]+)%"/g)].map((m) => m[1]!);

  it("point into ./l10n for vscode.l10n and use %keys% for what VS Code shows", () => {
    const json = JSON.parse(manifest) as { l10n: string; description: string; contributes: { views: Record<string, { name: string }[]>; commands: { title: string }[] } };
    expect(json.l10n).toBe("./l10n");
    expect(json.description).toBe("%description%");
    expect(Object.values(json.contributes.views).flat().map((v) => v.name)).toEqual(["%view.models%"]);
    expect(json.contributes.commands.map((c) => c.title)).toEqual(["%command.revealModel%", "%command.refresh%"]);
  });

  it.each(["package.nls.json", "package.nls.tr.json", "package.nls.pt-br.json"])("has every %%key%% in %s, and no other", (file) => {
    const nls = JSON.parse(read(file)) as Record<string, string>;
    expect(Object.keys(nls).sort()).toEqual([...new Set(keys)].sort());
    for (const key of keys) expect(nls[key]?.trim(), `${file}: ${key}`).toBeTruthy();
  });

  it("translates every key", () => {
    const english = JSON.parse(read("package.nls.json")) as Record<string, string>;
    for (const file of ["package.nls.tr.json", "package.nls.pt-br.json"]) {
      const nls = JSON.parse(read(file)) as Record<string, string>;
      for (const key of keys) expect(nls[key], `${file}: ${key}`).not.toBe(english[key]);
    }
  });

  it("ships the nls files and the l10n bundles in the .vsix", () => {
    const ignore = read(".vscodeignore").split("\n");
    for (const kept of ["!package.nls.json", "!package.nls.*.json", "!l10n/bundle.l10n.*.json"]) expect(ignore).toContain(kept);
  });
});
