import { readFileSync } from "node:fs";
import type { ModelSummary } from "../../src/protocol";
import { ModelsPanel } from "../../src/lab/panel";
import { schemaTexts, translatePlugin, translateSchema } from "../../src/lab/schema";
import { KernelTransport, NotInstalledError } from "../../src/lab/transport";
import { catalogueBundle, locale, setLanguage, setTranslator } from "../../src/tree/i18n";
import widget, { type AnyModel, useLanguage, type WidgetModel, widgetLanguage } from "../../src/widget";
import { FakeKernel, rgnetSummary } from "./labKernel";
import { fakeCanvas } from "./replay";

const schema = JSON.parse(readFileSync("schema/plugin.json", "utf8"));
const tr = JSON.parse(readFileSync("src/i18n/lab.json", "utf8"));

afterEach(() => {
  setLanguage("en");
  document.getElementById("jupyter-config-data")?.remove();
  document.documentElement.lang = "";
});

describe("the sidebar in JupyterLab's language", () => {
  it("translates every title and description of the settings schema but the plugin's name", () => {
    const texts = Object.keys(schemaTexts());
    const inSchema = [schema.description, ...Object.values(schema.properties as Record<string, { title: string; description: string }>)
      .flatMap((p) => [p.title, p.description])];
    expect(schema.title).toBe("paramscope");
    expect(texts.sort()).toEqual(inSchema.sort());
    expect(schema["jupyter.lab.transform"]).toBe(true); // the registry waits for the plugin's translation
  });

  it("hands the setting registry the schema in Turkish, its types and defaults unchanged", () => {
    setTranslator(catalogueBundle("tr_TR"), "tr-TR");
    const plugin = { id: "paramscope:plugin", schema, raw: "{}", data: { composite: {}, user: {} }, version: "0.1.0" };
    const translated = translatePlugin(plugin as never);
    expect(translated.id).toBe("paramscope:plugin");
    expect(translated.schema.title).toBe("paramscope");
    expect(translated.schema.description).toBe(tr["schema\u0004The Models sidebar: live models of the active notebook's kernel."].tr_TR);
    const auto = translated.schema.properties!.autoRefresh!;
    expect(auto.title).toBe("Her hücreden sonra yenile");
    expect(auto).toMatchObject({ type: "boolean", default: true });
    expect(translated.schema.properties!.maxChildrenPerPage).toMatchObject({ title: "Sayfa başına alt öğe", minimum: 10,
      maximum: 5000, default: 200 });
    expect(schema.properties.autoRefresh.title).toBe("Refresh after each cell"); // the original is not changed
    setLanguage("en");
    expect(translateSchema(schema)).toEqual(schema);
  });

  it("shows the panel in Turkish with Turkish numbers", async () => {
    const canvas = fakeCanvas();
    setTranslator(catalogueBundle("tr_TR"), "tr-TR");
    const panel = new ModelsPanel({ pageSize: 200 });
    const status = () => panel.element.querySelector(".jp-ParamScope-sidebar-status")!.textContent;
    try {
      expect(panel.element.querySelector(".jp-ParamScope-sidebar-title")!.textContent).toBe("Modeller");
      expect(status()).toBe("Çekirdeğinin modellerini görmek için bir not defteri veya konsol açın.");
      expect(panel.element.querySelector(".jp-ParamScope-sidebar-refresh")!.getAttribute("title"))
        .toBe("Yenile: çekirdeğin modellerini yeniden listele");
      const kernel = new FakeKernel();
      const big: ModelSummary = { ...rgnetSummary, name: "big", n_params: 1234567, nbytes: 4938268 };
      kernel.models = [rgnetSummary, big];
      panel.connect(new KernelTransport(kernel), "defter.ipynb · Python 3");
      await panel.refresh();
      expect(status()).toBe("2 model");
      const header = panel.element.querySelector<HTMLElement>('[data-model="big"] .jp-ParamScope-model-header')!;
      expect(header.textContent).toBe("▸bigpytorchSequential1,23M parametre · 4,71 MiB · cpu");
      expect(header.title.split("\n")).toEqual(["big: Sequential (pytorch)", "1.234.567 benzersiz parametre",
        "4.938.268 bayt", "cpu üzerinde", "float32"]);
      expect(new NotInstalledError("ModuleNotFoundError: x").message).toContain("bu çekirdeğin ortamında kurulu değil");
    } finally {
      panel.dispose();
      canvas.restore();
    }
  });
});

class FakeModel implements AnyModel<WidgetModel> {
  readonly changes = new Set<(msg: unknown) => void>();
  constructor(readonly traits: WidgetModel) {}
  get<K extends keyof WidgetModel>(key: K): WidgetModel[K] {
    return this.traits[key];
  }
  send(): void {}
  on(event: string, callback: (msg: unknown) => void): void {
    if (event === "change:locale") this.changes.add(callback);
  }
  off(event: string, callback: (msg: unknown) => void): void {
    if (event === "change:locale") this.changes.delete(callback);
  }
  /** What anywidget does when Python sets `widget.locale`. */
  setLocale(locale: string): void {
    this.traits.locale = locale;
    this.changes.forEach((callback) => callback(undefined));
  }
}

describe("the widget's language", () => {
  it("is the locale asked for, else JupyterLab's, else the browser's, else English", () => {
    expect(widgetLanguage("pt-BR", document, { language: "tr-TR" })).toBe("pt-BR");
    // A page that is not JupyterLab's: its <html lang> says nothing about the user, the browser does.
    document.documentElement.lang = "en";
    expect(widgetLanguage("", document, { language: "tr-TR" })).toBe("tr-TR");
    expect(widgetLanguage(undefined, document, {})).toBe("en");
    expect(widgetLanguage(undefined, document, null)).toBe("en");
    // JupyterLab and Notebook 7 write the language chosen in Settings → Language on <html lang>.
    const config = document.createElement("script");
    config.id = "jupyter-config-data";
    config.type = "application/json";
    document.body.append(config);
    document.documentElement.lang = "tr-TR";
    expect(widgetLanguage("", document, { language: "en-US" })).toBe("tr-TR");
    document.documentElement.lang = "en-US";
    expect(widgetLanguage("", document, { language: "tr-TR" })).toBe("en-US");
    expect(widgetLanguage("pt", document, { language: "tr-TR" })).toBe("pt");
  });

  it("is set before the explorer is built", () => {
    expect(useLanguage(new FakeModel({ model_name: "net", locale: "tr" }))).toBe("tr_TR");
    expect(locale()).toBe("tr-TR");
    expect(useLanguage(new FakeModel({ model_name: "net", locale: "pt-BR" }))).toBe("pt_BR");
    expect(locale()).toBe("pt-BR");
    const el = document.createElement("div");
    const cleanup = widget.render({ model: new FakeModel({ model_name: "net", locale: "tr_TR" }), el });
    expect(locale()).toBe("tr-TR");
    cleanup();
  });

  it("makes the explorer again when Python sets widget.locale", () => {
    const model = new FakeModel({ model_name: "net", locale: "tr" });
    const el = document.createElement("div");
    const cleanup = widget.render({ model, el });
    const search = () => el.querySelector<HTMLInputElement>(".jp-ParamScope-search-input")!.placeholder;
    const turkish = search();
    model.setLocale("pt-BR");
    expect(locale()).toBe("pt-BR");
    expect(el.querySelectorAll(".jp-ParamScope-explorer")).toHaveLength(1);
    expect(search()).not.toBe(turkish);
    model.setLocale("");
    expect(locale()).toBe("en");
    expect(search()).toBe("Search blocks and parameters");
    cleanup();
    expect(model.changes.size).toBe(0);
    expect(el.querySelector(".jp-ParamScope-explorer")).toBeNull();
  });
});
