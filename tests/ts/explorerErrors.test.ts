import { type ErrorType, KernelError, type Request, type Response } from "../../src/protocol";
import { describeError, ErrorBanner } from "../../src/tree/ErrorBanner";
import { setLanguage } from "../../src/tree/i18n";
import { ModelExplorer } from "../../src/tree/ModelExplorer";
import { explorerPage, flush, ReplayTransport } from "./replay";

/** The recorded kernel, except that the ops in `refuse` answer an error of the given type (the model unchanged,
 * as the kernel answers them). */
class RefusingTransport extends ReplayTransport {
  constructor(private readonly refuse: Record<string, { type: string; message: string }>) {
    super();
  }

  async request(req: Request): Promise<Response> {
    const error = this.refuse[req.op];
    if (error === undefined) return super.request(req);
    this.sent.push(req);
    return { id: req.id, ok: false, error: { type: error.type as ErrorType, message: error.message }, revision: this.revision };
  }
}

const internal = { type: "InternalError", message: "paramscope failed (KeyError: 'h'); the model is unchanged. This is a bug: please report it with this message" };
const conflict = { type: "UndoConflict", message: "cannot undo 'reinit 0 with normal': 0.weight has other values now (edited by hand)" };

const page = explorerPage();

afterEach(() => {
  setLanguage("en");
});

function click(el: Element | null | undefined) {
  expect(el).toBeTruthy();
  el!.dispatchEvent(new MouseEvent("click", { bubbles: true }));
}

const banner = () => page.host.querySelector<HTMLElement>(".jp-ParamScope-banner")!;
const part = (name: string) => banner().querySelector(`.jp-ParamScope-banner-${name}`)?.textContent ?? null;

async function explorer(refuse: Record<string, { type: string; message: string }>) {
  const transport = new RefusingTransport(refuse);
  const view = new ModelExplorer(page.host, { transport, model: "rgnet" });
  await view.start();
  return { transport, view };
}

async function fold(view: ModelExplorer) {
  click(page.host.querySelector(".jp-ParamScope-fold-toggle"));
  await flush(0);
  await view.settled();
}

describe("kernel errors, framed by their type", () => {
  it("gives each known type the front end's own words and keeps the kernel's message and type", () => {
    const failed = "Could not refresh";
    const of = (type: string, message = "the kernel's words") => describeError(new KernelError({ type, message }), failed);
    expect(of("ActionError")).toEqual({ title: failed, explanation: null, detail: "the kernel's words", type: "ActionError", showType: false });
    expect(of("UndoConflict")).toMatchObject({ title: "Undo would overwrite later changes", type: "UndoConflict", showType: false });
    expect(of("UndoConflict").explanation).toMatch(/nothing was undone/);
    expect(of("BadRequest")).toMatchObject({ title: failed, type: "BadRequest", showType: true });
    expect(of("BadRequest").explanation).toMatch(/bug in paramscope/);
    expect(of("InternalError").explanation).toMatch(/left the model unchanged/);
    expect(of("KernelUnavailable").explanation).toBe("The request did not reach the kernel.");
    // A type this front end does not know yet: the caller's sentence, the message, the type shown as it is.
    expect(of("SomethingNew")).toEqual({ title: failed, explanation: null, detail: "the kernel's words", type: "SomethingNew", showType: true });
    // Not a kernel answer (a transport that failed): the caller's sentence and the exception's message.
    expect(describeError(new Error("no reply within 30 s"), failed)).toEqual(
      { title: failed, explanation: null, detail: "no reply within 30 s", type: null, showType: false });
  });

  it("translates the framing, never the kernel's message or type", () => {
    setLanguage("tr");
    const text = describeError(new KernelError(internal), "Yenilenemedi");
    expect(text.title).toBe("Yenilenemedi");
    expect(text.explanation).toBe("paramscope çekirdekte başarısız oldu ve modeli değiştirmeden bıraktı. Bu bir hatadır: "
      + "lütfen bu iletiyle birlikte bildirin.");
    expect(text.detail).toBe(internal.message);
    expect(text.type).toBe("InternalError");
    setLanguage("pt-BR");
    expect(describeError(new KernelError(conflict), "x").title).toBe("Desfazer sobrescreveria alterações posteriores");
  });

  it("shows title, explanation, message and type in the banner, and keeps the type on it for tests and styles", () => {
    const view = new ErrorBanner();
    view.showError(new KernelError(internal), "Could not find repeated blocks");
    expect(view.element.dataset.errorType).toBe("InternalError");
    expect(view.errorType).toBe("InternalError");
    expect(view.element.getAttribute("role")).toBe("alert");
    expect(view.element.querySelector(".jp-ParamScope-banner-title")!.textContent).toBe("Could not find repeated blocks");
    expect(view.element.querySelector(".jp-ParamScope-banner-detail")!.textContent).toBe(internal.message);
    expect(view.element.querySelector(".jp-ParamScope-banner-type")!.textContent).toBe(" (InternalError)");
    // An ActionError says what to do in its message: no explanation, no type shown, the type still on the banner.
    view.showError(new KernelError({ type: "ActionError", message: "shapes differ" }), "Could not tie a to b");
    expect(view.element.textContent).toBe("!Could not tie a to b: shapes differ×");
    expect(view.errorType).toBe("ActionError");
    // Other lines carry no type.
    view.show("success", "done");
    expect(view.errorType).toBeNull();
    expect(view.element.hasAttribute("data-error-type")).toBe(false);
    view.showError(new Error("lost"), "Could not refresh");
    expect(view.errorType).toBeNull();
    view.clear();
    expect(view.kind).toBeNull();
  });

  it("frames a failed request of the explorer in English", async () => {
    const { view } = await explorer({ repeats: internal });
    await fold(view);
    expect(banner().dataset.errorType).toBe("InternalError");
    expect(part("title")).toBe("Could not find repeated blocks");
    expect(part("explanation")).toContain("This is a bug: please report it with this message.");
    expect(part("detail")).toBe(internal.message);
    expect(part("type")).toBe(" (InternalError)");
  });

  it("frames it in Turkish, with the kernel's message and type unchanged", async () => {
    setLanguage("tr");
    const { view } = await explorer({ repeats: internal });
    await fold(view);
    expect(banner().dataset.errorType).toBe("InternalError");
    expect(part("title")).toBe("Tekrarlanan bloklar aranamadı");
    expect(part("explanation")).toContain("Bu bir hatadır");
    expect(part("detail")).toBe(internal.message);
    expect(banner().querySelector(".jp-ParamScope-banner-close")!.getAttribute("aria-label")).toBe("Kapat");
  });

  it("offers Undo anyway under the UndoConflict title, in Portuguese", async () => {
    setLanguage("pt-BR");
    const { transport, view } = await explorer({ undo: conflict });
    click(page.host.querySelector(".jp-ParamScope-toolbar button:last-child")); // ↶ Desfazer
    await flush(0);
    await view.settled();
    expect(transport.ops("undo")).toHaveLength(1);
    expect(banner().dataset.errorType).toBe("UndoConflict");
    expect(part("title")).toBe("Desfazer sobrescreveria alterações posteriores");
    expect(part("explanation")).toBe("O que a ação alterou foi alterado de novo desde então, por isso nada foi desfeito. ");
    expect(part("detail")).toBe(conflict.message);
    expect([...banner().querySelectorAll("button")].map((b) => b.textContent)).toEqual(["Desfazer mesmo assim", "×"]);
  });

  it("frames an error of the way there (no kernel answer) by what failed, without a type", async () => {
    setLanguage("tr");
    const transport = new ReplayTransport();
    const view = new ModelExplorer(page.host, { transport, model: "gone" });
    await view.start();
    expect(part("title")).toBe("gone gösterilemedi");
    expect(part("detail")).toContain("no recorded answer");
    expect(banner().hasAttribute("data-error-type")).toBe(false);
  });
});

describe("the explorer in Turkish and Portuguese", () => {
  it("says what an undo back in the history undid, listed in the language's words", async () => {
    setLanguage("tr");
    const entry = (index: number, description: string) => ({ index, op: "reinit", description, paths: ["0"], changed: ["0.weight"],
      bytes: 16, undoable: true, time: 1 });
    class UndoTo extends ReplayTransport {
      async request(req: Request): Promise<Response> {
        if (req.op !== "undo") return super.request(req);
        return { id: req.id, ok: true, revision: 0, result: { undone: [entry(2, "tie a to b"), entry(1, "reinit 0")], revision: 0,
          forced: false } } as unknown as Response;
      }
    }
    const view = new ModelExplorer(page.host, { transport: new UndoTo(), model: "rgnet" });
    await view.start();
    await view.history.undoTo(1);
    await view.settled();
    expect(banner().textContent).toContain('2 işlem geri alındı: "tie a to b" ve "reinit 0"');
  });

  it("labels the toolbar, the header and the rows, with the locale's numbers", async () => {
    setLanguage("tr");
    await explorer({});
    const toolbar = page.host.querySelector(".jp-ParamScope-toolbar")!;
    expect(toolbar.querySelector(".jp-ParamScope-summary")!.textContent).toBe("309 parametre · 1,21 KiB · pytorch");
    expect([...toolbar.querySelectorAll("button")].map((b) => b.textContent)).toEqual(expect.arrayContaining(
      ["↻ Yenile", "↶ Geri al", "☰ Geçmiş", "≡ Tekrarları katla", "▦ Harita"]));
    expect(page.host.querySelector(".jp-ParamScope-revision")!.textContent).toBe("rev. 0");
    expect(page.host.querySelector(".jp-ParamScope-header")!.textContent).toBe("adşekildtypeaygıtparametre");
    expect(page.host.querySelector(".jp-ParamScope-scroller")!.getAttribute("aria-label")).toBe("Bloklar ve parametreler");
    const model = page.host.querySelector('.jp-ParamScope-row[data-path=""]')!;
    expect(model.querySelector(".jp-ParamScope-num")!.getAttribute("title")).toBe("309 parametre, 1,21 KiB");
    expect(model.querySelector(".jp-ParamScope-more")!.getAttribute("aria-label")).toBe("rgnet için işlemler");
    setLanguage("pt-BR");
    page.host.replaceChildren();
    await explorer({});
    expect(page.host.querySelector(".jp-ParamScope-summary")!.textContent).toBe("309 parâmetros · 1,21 KiB · pytorch");
    expect(page.host.querySelector(".jp-ParamScope-summary")!.getAttribute("title")).toContain("309 parâmetros (treináveis + congelados)");
  });
});
