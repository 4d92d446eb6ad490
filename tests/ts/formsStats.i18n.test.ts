/** The action menu, the forms and the statistics panel in Turkish and Portuguese: every text and number as the
 * reader's language writes it, and English again once the language goes back. */

import type { Node, Request, Response, Transport } from "../../src/protocol";
import { ActionMenu, actionsFor } from "../../src/tree/ActionMenu";
import { Dialog, openReinit, openSetValue, parseValue } from "../../src/tree/ActionForms";
import { setLanguage } from "../../src/tree/i18n";
import { canvasPerTest, flush, shownStats } from "./replay";

const STATS = {
  path: "w", available: true, shape: [4, 8], dtype: "float32", device: "cpu", numel: 123456, mean: 0.2961, std: 1234.5,
  min: -0.0481, max: 2.5, rms: 0.6, zeros: 0.25, nan: 0, inf: 0, hist: { edges: [-0.5, 0.5, 1.5], counts: [12345, 2] },
};
const VALUES = { path: "w", available: true, shape: [4, 8], rows: 2, cols: 4, row_step: 2, col_step: 2,
  data: [[0, 0.5, 0.5, 1], [1, 0, -1, 0]], min: -1, max: 1 };

class Kernel implements Transport {
  async request(req: Request): Promise<Response> {
    return { id: req.id, ok: true, result: req.op === "stats" ? STATS : VALUES, revision: 0 };
  }
}

const param = {
  path: "h.0.attn.w", name: "w", kind: "param", type: "Parameter", shape: [4, 8], dtype: "float32", device: "cpu",
  trainable: false, state: "lazy", numel: 32, nbytes: 128, n_params: 1234567, n_params_with_aliases: 2469134,
  n_buffers: 0, tied_to: "wte", aliases: [], has_grad: false, n_children: 0, code: "net.h[0].attn.w", alt_name: null,
  children_offset: 0,
} as unknown as Node;

const block = { ...param, path: "h.0", name: "0", kind: "block", type: "Block", shape: null, dtype: null,
  device: null, trainable: null, state: "ready", tied_to: null, n_params: 1, n_params_with_aliases: 1, n_children: 2,
  code: "net.h[0]" } as unknown as Node;

function statsPanel(node: Node): Promise<HTMLElement> {
  return shownStats(new Kernel(), node);
}

const text = (el: Element | null) => el?.textContent ?? "";
const stat = (panel: HTMLElement, key: string) => panel.querySelector<HTMLElement>(`[data-stat="${key}"]`)!;

canvasPerTest();
afterEach(() => {
  document.body.replaceChildren();
  setLanguage("en");
});

describe("in Turkish", () => {
  beforeEach(() => void setLanguage("tr"));

  it("the statistics panel shows Turkish labels, chips and numbers with a decimal comma", async () => {
    const panel = await statsPanel(param);
    expect(text(stat(panel, "mean"))).toBe("ortalama0,296");
    expect(stat(panel, "mean").title).toBe("ortalama: 0,2961");
    expect(text(stat(panel, "std"))).toBe("std. sapma1,23e3");
    expect(text(stat(panel, "min"))).toBe("min-0,0481");
    expect(text(stat(panel, "zeros"))).toBe("sıfırlar%25");
    expect(stat(panel, "zeros").title).toBe("sıfırlar: 123.456 değerden 30.864 tanesi");
    expect(text(stat(panel, "NaN"))).toBe("NaN0"); // the names of the special values stay
    const meta = text(panel.querySelector(".jp-ParamScope-meta"));
    expect(meta).toContain("1.234.567 parametre (bağlı tüm kullanımlarla 2.469.134)");
    expect(meta).toContain("dondurulmuş");
    expect(meta).toContain("tembel");
    expect(meta).toContain("wte ile bağlı"); // the link sits where the Turkish sentence puts it
    expect(panel.querySelector('[data-jump="wte"]')!.parentElement!.textContent).toBe("wte ile bağlı");
    expect(text(panel.querySelector("h4"))).toBe("değerler");
    expect(panel.textContent).toContain("Henüz gradyan yok");
    const histogram = panel.querySelector(".jp-ParamScope-histogram")!;
    expect(histogram.querySelector("svg")!.getAttribute("aria-label")).toBe("h.0.attn.w histogramı");
    expect(text(histogram.querySelector("figcaption"))).toContain("tepe 12.345");
    expect(text(histogram.querySelector("rect title"))).toBe("[-0,5; 0,5): 12.345");
    const heatmap = panel.querySelector(".jp-ParamScope-heatmap")!;
    expect(text(heatmap.querySelector("figcaption"))).toContain("2×4, her 2 satırdan biri, her 2 sütundan biri");
    expect(heatmap.querySelector("canvas")!.getAttribute("aria-label")).toBe("h.0.attn.w ısı haritası, 2×4 örnek");
    const bar = panel.querySelector('[role="toolbar"]')!;
    expect(bar.getAttribute("aria-label")).toBe("İşlemler");
    expect([...bar.querySelectorAll("button")].map((b) => b.textContent)).toEqual(
      ["Yeniden ilklendir", "Değer ata", "Bağla", "Bağı çöz", "Kod olarak kopyala"]);
  });

  it("a block's chips count its children with the plural form", async () => {
    const panel = await statsPanel(block);
    expect(text(panel.querySelector(".jp-ParamScope-meta"))).toContain("2 alt öğe");
    expect(text(panel.querySelector(".jp-ParamScope-meta"))).toContain("1 parametre");
  });

  it("the context menu's items and hints are Turkish", () => {
    const host = document.createElement("div");
    document.body.append(host);
    const menu = new ActionMenu(host);
    host.append(menu.element);
    menu.open(block, 10, 10, () => undefined);
    const items = [...menu.element.querySelectorAll<HTMLButtonElement>("button[data-action]")];
    expect(items.map((b) => b.textContent)).toEqual(
      ["Yeniden ilklendir…", "Değer ata…", "Bağla…", "Bağı çöz", "Son işlemi geri al", "Kod olarak kopyala"]);
    expect(items[0]!.title).toBe("h.0 içindeki her parametreye yeni değerler");
    expect(items[1]!.title).toBe("bir parametre ya da tampon seçin");
    expect(actionsFor({ ...block, path: "" }).find((a) => a.name === "reinit")!.hint)
      .toBe("tüm modeldeki her parametreye yeni değerler");
    menu.dispose();
  });

  it("the reinitialize form is Turkish and refuses a bad seed in Turkish, with the bound in Turkish digits", async () => {
    const dialog = new Dialog();
    document.body.append(dialog.element);
    let sent = 0;
    openReinit(dialog, "net", block, {
      catalogue: [{ name: "normal", args: [{ name: "std", default: 0.01 }], needs_matrix: false, bias: "zeros" }],
      custom: ["my_init"],
    }, async () => void sent++);
    const form = dialog.form!;
    expect(form.getAttribute("aria-label")).toBe("Yeniden ilklendir");
    expect(text(form.querySelector(".jp-ParamScope-dialog-title"))).toBe("Yeniden ilklendirh.0");
    expect([...form.querySelectorAll(".jp-ParamScope-field-label")].map((l) => l.textContent))
      .toEqual(["ilklendirici", "std", "sapmalar", "tohum"]); // the initializer's own argument names stay
    expect(form.querySelector<HTMLInputElement>('[name="seed"]')!.placeholder).toBe("rastgele");
    expect(form.querySelector("optgroup")!.getAttribute("label")).toBe("Defterinizden");
    expect([...form.querySelectorAll('[name="bias"] option')].map((o) => o.textContent)[0])
      .toBe("sıfırla (bölümdeki init_normal gibi)");
    expect([...form.querySelectorAll(".jp-ParamScope-dialog-buttons button")].map((b) => b.textContent))
      .toEqual(["İptal", "Yeniden ilklendir"]);
    form.querySelector<HTMLInputElement>('[name="seed"]')!.value = "-1";
    form.requestSubmit();
    expect(text(form.querySelector('[data-field="seed"] .jp-ParamScope-field-error')))
      .toBe('tohum 0 ile 4.294.967.295 arasında bir tam sayı olmalı, girilen: "-1"');
    form.querySelector<HTMLInputElement>('[name="seed"]')!.value = "";
    form.querySelector<HTMLInputElement>('[name="arg-std"]')!.value = "x";
    form.requestSubmit();
    expect(text(form.querySelector('[data-field="arg-std"] .jp-ParamScope-field-error')))
      .toBe('std bir sayı olmalı, girilen: "x"');
    expect(sent).toBe(0);
    const select = form.querySelector<HTMLSelectElement>('[name="init"]')!;
    select.value = "my_init";
    select.dispatchEvent(new Event("change"));
    expect(text(form.querySelector(".jp-ParamScope-args + .jp-ParamScope-field-help")))
      .toBe("defterdeki özel ilklendirici my_init");
    dialog.close();
    await flush(1);
  });

  it("the set-value form and its checks are Turkish", () => {
    const dialog = new Dialog();
    document.body.append(dialog.element);
    openSetValue(dialog, "net", param, async () => undefined);
    const form = dialog.form!;
    expect(text(form.querySelector(".jp-ParamScope-dialog-title"))).toBe("Değer atah.0.attn.w · 4×8");
    expect([...form.querySelectorAll('[name="mode"] option')].map((o) => o.textContent)).toEqual(["ata", "ekle", "ile çarp"]);
    expect(form.querySelector<HTMLInputElement>('[name="index"]')!.placeholder).toBe("tüm değerler");
    form.querySelector<HTMLInputElement>('[name="value"]')!.value = "1";
    form.querySelector<HTMLInputElement>('[name="index"]')!.value = "a";
    form.requestSubmit();
    expect(text(form.querySelector('[data-field="index"] .jp-ParamScope-field-error')))
      .toBe('"a" indisi okunamıyor: tam sayılar ve dilimler yazın, örneğin 0, 0 veya 1:3, :');
    expect(parseValue("")).toBe("bir değer girin: bir sayı, [1, 2] gibi bir liste ya da bir fonksiyon adı");
    expect(parseValue("nan")).toBe("NaN ve sonsuz buradan atanamaz; kod kullanın");
    dialog.close();
  });
});

describe("in Portuguese (Brazil)", () => {
  beforeEach(() => void setLanguage("pt-BR"));

  it("the statistics panel and the menu speak Portuguese", async () => {
    const panel = await statsPanel(param);
    expect(text(stat(panel, "mean"))).toBe("média0,296");
    expect(text(stat(panel, "max"))).toBe("máx2,5");
    expect(stat(panel, "zeros").title).toBe("zeros: 30.864 de 123.456 valores");
    expect(text(panel.querySelector(".jp-ParamScope-meta"))).toContain("1.234.567 parâmetros (2.469.134 com todos os usos vinculados)");
    expect(text(panel.querySelector(".jp-ParamScope-meta"))).toContain("vinculado a wte");
    expect(actionsFor(param).map((a) => a.label)).toEqual(
      ["Reinicializar…", "Definir valor…", "Vincular a…", "Desvincular", "Desfazer a última ação", "Copiar como código"]);
  });
});

describe("in English (the default)", () => {
  it("keeps the English texts and numbers", async () => {
    const panel = await statsPanel(param);
    expect(text(stat(panel, "mean"))).toBe("mean0.296");
    expect(stat(panel, "zeros").title).toBe("zeros: 30,864 of 123,456 values");
    expect(text(panel.querySelector(".jp-ParamScope-meta"))).toContain("1,234,567 params (2,469,134 with every tied use)");
    expect(text(panel.querySelector(".jp-ParamScope-meta"))).toContain("tied to wte");
    expect(text(panel.querySelector(".jp-ParamScope-heatmap figcaption"))).toContain("2×4, one row in 2, one column in 2");
    expect(actionsFor(param)[0]!.label).toBe("Reinitialize…");
  });
});
