import queries from "../fixtures/search_queries.json";
import { Client, KernelError, type SearchResult, type Sharding, type WatchRecord, type WatchState } from "../../src/protocol";
import { HistoryPanel } from "../../src/tree/HistoryPanel";
import { setLanguage } from "../../src/tree/i18n";
import { renderPlacement, renderReplicaCheck } from "../../src/tree/Placement";
import { SearchBox } from "../../src/tree/SearchBox";
import { parseQuery, QueryError } from "../../src/tree/SearchQuery";
import { heatStrip, lineChart } from "../../src/tree/Sparkline";
import { WatchPanel } from "../../src/tree/WatchPanel";
import { blockNode, FakeTransport } from "./replay";

// The watch, history, placement and search parts in the reader's language: Turkish texts and Turkish numbers
// ("12.345", "0,5"), a Portuguese check, and English (the default) back again after each test.

afterEach(() => void setLanguage("en"));

const summary = (mean: number, norm: number) => ({ numel: 4, mean, std: 1, rms: norm / 2, norm, zeros: 0, nan: 0, inf: 0 });

function record(seq: number, grad: number): WatchRecord {
  return {
    seq, step: 12_340 + seq, time: Date.now() / 1000, values: { "0.weight": summary(0.25 * seq, 2) },
    grads: { "0.weight": summary(0, grad) }, update: { "0.weight": 0.01 },
    hist: { "0.weight": { edges: [-1, 0, 1], counts: [1, 3] } }, grad_hist: {},
  };
}

function state(records: WatchRecord[], extra: Partial<WatchState> = {}): WatchState {
  return { active: true, every: 2, step: 12_345, records, next: records.length ? records[records.length - 1].seq + 1 : 0,
    dropped: 0, max_records: 1000, flags: {}, focus: ["0.weight"], statistics: {}, ...extra };
}

const param = () => ({ ...blockNode("0.weight", "weight", 0), kind: "param" as const, shape: [2, 2] });

describe("the watch in Turkish", () => {
  it("labels the bar, the statistics, the status line, the row and the details in Turkish, with Turkish numbers", async () => {
    setLanguage("tr");
    const failed: string[] = [];
    const transport = new FakeTransport((req) =>
      ({ id: req.id, ok: false, error: { type: "ActionError", message: "no model" }, revision: 0 }));
    const panel = new WatchPanel(new Client(transport), "net", { changed: vi.fn(), error: (_e, sentence) => failed.push(sentence) });
    expect(panel.bar.querySelector(".jp-ParamScope-watch-toggle")!.textContent).toBe("● İzle");
    expect(panel.bar.querySelector("label")!.textContent).toBe("her  adımda");
    expect([...panel.bar.querySelectorAll("option")].map((o) => o.textContent)).toEqual(["gradyan normu",
      "gradyan RMS değeri", "ortalama", "standart sapma", "RMS (karesel ortalama)", "güncelleme oranı ‖Δw‖/‖w‖",
      "sıfır oranı", "NaN/Inf sayısı"]);
    expect(panel.bar.querySelector(".jp-ParamScope-watch-status")!.textContent).toBe("izlenmiyor");
    await panel.start();
    expect(failed).toEqual(["İzleme başlatılamadı"]);

    panel.select(param());
    panel.receive(state([record(0, 0.5), record(1, 1234.5)], { dropped: 1200, max_records: 1000,
      flags: { "0.weight": ["exploding"] } }), true);
    expect(panel.bar.querySelector(".jp-ParamScope-watch-toggle")!.textContent).toBe("■ İzlemeyi durdur");
    expect(panel.bar.querySelector(".jp-ParamScope-watch-status")!.textContent)
      .toBe("izleniyor · adım 12.345 · 2 kayıt (en eski 1.200 kayıt atıldı, en çok 1.000 kayıt tutulur) · ⚠ 1 işaretli");
    const cell = panel.decorate(param())!;
    expect(cell.title).toBe("gradyan normu: 1,23e3 (adım 12.341)\npatlayan gradyan");
    expect(cell.querySelector(".jp-ParamScope-flag-exploding")!.getAttribute("title")).toBe("patlayan gradyan");
    expect(panel.decorate(blockNode("", "net", 1))!.querySelector(".jp-ParamScope-watch-flag-count")!
      .getAttribute("aria-label")).toBe("1 işaretli parametre");
    const detail = panel.detail.textContent!;
    expect(detail).toContain("izleme · 0.weight");
    expect(detail).toContain("gradyan normu (log)");
    expect(detail).toContain("zaman içinde değerler");
    // The value chart (RMS, the gradient's companion) says its range in Turkish numbers.
    expect(panel.detail.querySelector(".jp-ParamScope-chart")!.getAttribute("aria-label")).toBe("RMS (karesel ortalama): 1 … 1");
    expect(panel.detail.querySelectorAll(".jp-ParamScope-chart")[1].getAttribute("aria-label"))
      .toBe("gradyan normu: 0,5 … 1,23e3");
    panel.dispose();
  });

  it("says the charts' ranges and the heat strip's steps in Turkish and Portuguese", () => {
    setLanguage("tr");
    expect(lineChart([{ label: "ortalama", kind: "value", xs: [1, 2], ys: [0.125, 2.5] }]).getAttribute("aria-label"))
      .toBe("ortalama: 0,125 … 2,5");
    expect(lineChart([]).getAttribute("aria-label")).toBe("henüz veri yok");
    const columns = [{ step: 1, edges: [-0.5, 0, 1.5], counts: [1, 2] }, { step: 3, edges: [0, 1, 2], counts: [1, 1] }];
    expect(heatStrip(columns).getAttribute("aria-label")).toBe("2 adımın histogramları, değerler -0,5 … 2");
    setLanguage("pt-BR");
    expect(heatStrip(columns).getAttribute("aria-label")).toBe("histogramas de 2 passos, valores -0,5 … 2");
    expect(heatStrip(columns.slice(0, 1)).getAttribute("aria-label")).toBe("histograma de 1 passo, valores -0,5 … 1,5");
  });
});

describe("the history in Turkish", () => {
  const history = {
    entries: [0, 1].map((i) => ({ index: i, op: "reinit", description: `reinit ${i} with normal`, paths: [], bytes: 1536,
      undoable: i !== 0, time: 0 })),
    dropped: 1, dropped_entries: [{ description: "set 0.bias with 5.0", time: 0, bytes: 1 }], bytes: 3072,
    limit_bytes: 512 * 2 ** 20, limit_entries: 1000, revision: 5,
  };

  it("frames the kernel's descriptions in Turkish and offers the forced undo in Turkish", async () => {
    setLanguage("tr");
    const transport = new FakeTransport((req) => {
      if (req.op === "history") return { id: req.id, ok: true, result: history, revision: 5 };
      return { id: req.id, ok: false, error: { type: "UndoConflict", message: "0.weight changed since" }, revision: 5 };
    });
    const panel = new HistoryPanel(new Client(transport), "net", { undone: vi.fn(async () => undefined), error: vi.fn() });
    document.body.append(panel.element);
    panel.toggle();
    await panel.settled;
    expect(panel.element.getAttribute("aria-label")).toBe("İşlem geçmişi");
    expect(panel.element.querySelector("strong")!.textContent).toBe("Geçmiş");
    expect(panel.element.querySelector(".jp-ParamScope-history-bound")!.textContent)
      .toBe("son 1.000 işlem ve 512,0 MiB kaydedilmiş değer tutulur; şu an 2 işlem, 3,00 KiB kullanılıyor");
    expect(panel.element.querySelector(".jp-ParamScope-history-dropped")!.textContent)
      .toBe("sınırlar içinde kalmak için daha eski 1 işlem atıldı: set 0.bias with 5.0");
    const buttons = [...panel.element.querySelectorAll<HTMLButtonElement>(".jp-ParamScope-history-undo")];
    expect(buttons.map((b) => [b.textContent, b.title])).toEqual([
      ["Buraya kadar geri al", "Bu işlemi ve sonraki tüm işlemleri geri al"],
      ["Buraya kadar geri al", "Kaydedilen kopyası geri alma sınırından büyüktü"],
    ]);
    expect(panel.element.querySelector(".jp-ParamScope-history-size")!.textContent).toBe("1,50 KiB");
    expect(panel.element.textContent).toContain("reinit 1 with normal"); // the kernel's description, as it comes
    buttons[0].click();
    await vi.waitFor(() => expect(panel.element.querySelector(".jp-ParamScope-history-conflict")).not.toBeNull());
    expect([...panel.element.querySelectorAll(".jp-ParamScope-history-conflict button")].map((b) => b.textContent))
      .toEqual(["Yine de geri al", "İptal"]);
    panel.element.remove();
  });

  it("says why the history could not be read, as a whole Turkish sentence", async () => {
    setLanguage("tr");
    const failed: string[] = [];
    const transport = new FakeTransport((req) =>
      ({ id: req.id, ok: false, error: { type: "ActionError", message: "gone" }, revision: 0 }));
    const panel = new HistoryPanel(new Client(transport), "net", { undone: vi.fn(), error: (e, sentence) => {
      expect(e).toBeInstanceOf(KernelError);
      failed.push(sentence);
    } });
    panel.toggle();
    await panel.settled;
    await panel.undoTo(3);
    await panel.settled;
    expect(failed).toEqual(["Geçmiş okunamadı", "#3 işlemine kadar geri alınamadı", "Geçmiş okunamadı"]);
  });
});

describe("the placement in Turkish", () => {
  const fsdp: Sharding = {
    global_shape: [37, 12], local_shape: [19, 12], local_nbytes: 19 * 12 * 4,
    mesh: { shape: [2], dim_names: [], device_type: "cpu", ranks: [0, 1, 2] },
    placements: ["Shard(0)"], rank: 0,
    layout: [
      { rank: 0, coord: [0], offsets: [0, 0], shape: [19, 12], nbytes: 912 },
      { rank: 1, coord: [1], offsets: [19, 0], shape: [18, 12], nbytes: 864 },
    ],
    layout_complete: false,
  };

  it("names the mesh, the columns and the replicas' agreement in Turkish", () => {
    setLanguage("tr");
    const el = renderPlacement(fsdp);
    expect(el.querySelector("h4")!.textContent).toBe("yerleşim");
    expect(el.querySelector(".jp-ParamScope-placement-summary")!.textContent)
      .toBe("2 cpu cihaz ağına bölünmüş: [Shard(0)] · genel şekil 37×12, rank 0 19×12 dilimini tutar (912 B)");
    expect([...el.querySelectorAll("th")].map((t) => t.textContent)).toEqual(["rank", "ağ konumu", "dilim", "şekil", "bayt"]);
    expect(el.querySelector(".jp-ParamScope-muted")!.textContent).toBe("3 rank'ten ilk 2");
    expect(el.querySelector(".jp-ParamScope-placement-map")!.getAttribute("aria-label"))
      .toBe("37×12 tensörünün hangi dilimini hangi rank'in tuttuğu");
    expect(renderReplicaCheck({ count: 2, read_from: "CPU:0", agree: true, differ: [] }).textContent)
      .toBe("CPU:0 üzerinden okundu; 2 replikanın hepsi aynı değerleri tutuyor");
    expect(renderReplicaCheck({ count: 2, read_from: "CPU:0", agree: false, differ: ["CPU:1"] }).textContent)
      .toBe("CPU:0 üzerinden okundu; CPU:1 üzerindeki replikalar başka değerler tutuyor");
    setLanguage("pt_BR");
    expect(renderReplicaCheck({ count: 2, read_from: "CPU:0", agree: true, differ: [] }).textContent)
      .toBe("lido de CPU:0; todas as 2 réplicas contêm os mesmos valores");
  });
});

describe("the search in Turkish", () => {
  it("every message of the grammar is the kernel's in English and a translation in Turkish and Portuguese", () => {
    const english = queries.invalid.map(({ query }) => messageOf(query));
    expect(english).toEqual(queries.invalid.map(({ error }) => error));
    for (const language of ["tr", "pt-BR"]) {
      setLanguage(language);
      queries.invalid.forEach(({ query }, i) => {
        const translated = messageOf(query);
        expect(translated, `${language}: ${query.slice(0, 40)}`).not.toBe(english[i]);
        // The grammar's words are the same in every language.
        for (const word of english[i].match(/\b(?:type|dtype|device|state|kind):|numel>|-bias|numel>1e6|type:Linear/g) ?? []) {
          expect(translated).toContain(word);
        }
      });
      // Valid queries parse the same whatever the language.
      for (const { query, terms } of queries.valid) expect(parseQuery(query)).toEqual(terms);
    }
    setLanguage("tr");
    expect(messageOf("numel>lots")).toBe("1. konumdaki numel> bir sayı gerektirir, ör. numel>1e6");
    expect(messageOf("x".repeat(1001))).toBe("sorgu 1.001 karakter uzunluğunda; sınır 1.000");
  });

  it("labels the box, explains a bad query and sums up the answer in Turkish numbers", async () => {
    setLanguage("tr");
    const result: SearchResult = { total: 12_345, truncated: true, params: 21_234_567, nbytes: 81 * 2 ** 20, framework: "torch",
      rows: [{ ...blockNode("h.0", "0", 1), match: true }] as unknown as SearchResult["rows"] };
    const search = vi.fn(async () => result);
    const box = new SearchBox({ search, show: vi.fn() });
    const status = box.element.querySelector(".jp-ParamScope-search-status")!;
    expect(box.input.placeholder).toBe("Bloklarda ve parametrelerde ara");
    expect(box.input.getAttribute("aria-label")).toBe("Bloklarda ve parametrelerde ara");
    expect(box.input.title).toContain("type:Linear, dtype:float16");
    expect(box.input.title).toContain("tırnak içinde metin");
    expect(box.input.title).toMatch(/^Ara: bir ad ya da yol \(c_attn\), bir glob \(h\.\*\.attn\.c_attn\.weight\)/);
    box.input.value = "numel>lots";
    await box.run();
    expect(status.textContent).toBe("1. konumdaki numel> bir sayı gerektirir, ör. numel>1e6");
    expect(search).not.toHaveBeenCalled();
    box.input.value = "type:Linear";
    await box.run();
    expect(status.textContent).toBe("12.345 bulundu · 21,2M parametre · 81,0 MiB — ilk 1 gösteriliyor: daraltmak için terim ekleyin");
    search.mockResolvedValueOnce({ ...result, total: 0, truncated: false, params: 0, nbytes: 0, rows: [] });
    await box.run();
    expect(status.textContent).toBe("hiçbir şey bulunamadı");
    setLanguage("pt-BR");
    search.mockResolvedValueOnce({ ...result, total: 1, truncated: false, params: 1, nbytes: 4 });
    await box.run();
    expect(status.textContent).toBe("1 encontrado · 1 parâmetro · 4 B");
    search.mockResolvedValueOnce(result);
    await box.run();
    expect(status.textContent).toBe("12.345 encontrados · 21,2M parâmetros · 81,0 MiB — exibindo o primeiro 1: adicione termos " +
      "para restringir");
    box.dispose();
  });
});

function messageOf(query: string): string {
  try {
    parseQuery(query);
  } catch (error) {
    if (error instanceof QueryError) return error.message;
    throw error;
  }
  throw new Error(`${query} parsed`);
}
