// @vitest-environment jsdom
/** The Models view's script in the page the host writes: it takes the language from <html lang> before it makes
 * any text, so Turkish VS Code gets a Turkish view, Brazilian Portuguese a Portuguese one, anything else English. */

import type { ToHost, ToWebview, ViewState } from "../../src/messages";
import { summary } from "./jupyter.fake";

let posted: ToHost[] = [];

/** Load the script afresh into a page whose <html lang> is `lang`, as VS Code shows the host's HTML. */
async function load(lang: string): Promise<HTMLElement> {
  vi.resetModules();
  posted = [];
  document.documentElement.lang = lang;
  document.body.innerHTML = '<div id="paramscope-root"></div>';
  (globalThis as { acquireVsCodeApi?: unknown }).acquireVsCodeApi = () => ({ postMessage: (m: ToHost) => posted.push(m) });
  await import("../../webview/main");
  return document.getElementById("paramscope-root")!;
}

function send(message: ToWebview): void {
  window.dispatchEvent(new MessageEvent("message", { data: message }));
}

const status = (root: HTMLElement) => root.querySelector(".jp-ParamScope-vscode-status")!.textContent;
const picker = (root: HTMLElement) => root.querySelector<HTMLSelectElement>(".jp-ParamScope-vscode-picker")!;
const state = (s: ViewState): ToWebview => ({ type: "state", state: s, selected: null });

describe.each([
  ["tr", "tr-TR", "Bir Jupyter defteri açın: çekirdeğindeki modeller burada görünür.", "Çekirdekteki model",
    "chapter.ipynb için çalışan bir çekirdek yok: bir çekirdek seçin ve bir hücre çalıştırın.",
    "chapter.ipynb içinde henüz model yok: bir hücrede bir model oluşturun."],
  ["pt-br", "pt-BR", "Abra um notebook Jupyter: os modelos do kernel dele aparecem aqui.", "Modelo no kernel",
    "Nenhum kernel está em execução para chapter.ipynb: selecione um kernel e execute uma célula.",
    "Ainda não há modelos em chapter.ipynb: crie um em uma célula."],
  ["en", "en", "Open a Jupyter notebook: the models of its kernel show here.", "Model in the kernel",
    "No kernel is running for chapter.ipynb: select a kernel and run a cell.", "No models in chapter.ipynb yet: create one in a cell."],
  ["de", "en", "Open a Jupyter notebook: the models of its kernel show here.", "Model in the kernel",
    "No kernel is running for chapter.ipynb: select a kernel and run a cell.", "No models in chapter.ipynb yet: create one in a cell."],
])("a page in %j", (lang, shown, noNotebook, pickerTitle, noKernel, noModels) => {
  it("says what to do, and titles the picker, in that language", async () => {
    const root = await load(lang);
    expect(document.documentElement.lang).toBe(shown);
    expect(posted).toEqual([{ type: "ready" }]);
    expect(picker(root).title).toBe(pickerTitle);
    send(state({ kind: "no-notebook" }));
    expect(status(root)).toBe(noNotebook);
    send(state({ kind: "no-kernel", notebook: "chapter.ipynb" }));
    expect(status(root)).toBe(noKernel);
    send(state({ kind: "ready", notebook: "chapter.ipynb", models: [], busy: false }));
    expect(status(root)).toBe(noModels);
  });
});

describe("the states", () => {
  it("shows the host's (already translated) reason as it is", async () => {
    const root = await load("tr");
    const message = "Jupyter eklentisi (ms-toolsai.jupyter) kurulu değil: Eklentiler görünümünden kurun.";
    send(state({ kind: "no-jupyter", message }));
    expect(status(root)).toBe(message);
  });

  it("uses Turkish plurals and states for a busy kernel", async () => {
    const root = await load("tr");
    send(state({ kind: "loading", notebook: "chapter.ipynb" }));
    expect(status(root)).toBe("Çekirdek bekleniyor: bir hücre çalışıyor…");
    send(state({ kind: "not-python", notebook: "chapter.ipynb", language: "julia" }));
    expect(status(root)).toBe("chapter.ipynb defterinin çekirdeği julia çalıştırıyor; paramscope bir Python çekirdeği gerektirir.");
  });

  it("says in Turkish that a running cell holds the kernel's answers", async () => {
    const root = await load("tr");
    send({ type: "state", state: { kind: "ready", notebook: "chapter.ipynb", models: [summary("net")], busy: true }, selected: "net" });
    expect(status(root)).toBe("Bir hücre çalışıyor: paramscope, hücre bitince yanıt verir");
    expect([...picker(root).options].map((o) => o.textContent)).toEqual(["net (Sequential, pytorch)"]);
  });
});
