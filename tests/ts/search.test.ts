import queries from "../fixtures/search_queries.json";
import recorded from "../fixtures/search_gpt2.json";
import type { Request, Response, Transport } from "../../src/protocol";
import { ModelExplorer } from "../../src/tree/ModelExplorer";
import { parseQuery, QueryError } from "../../src/tree/SearchQuery";
import { squarify } from "../../src/tree/Treemap";
import { flush } from "./replay";

describe("the search grammar (the kernel's, from the shared fixtures)", () => {
  it.each(queries.valid)("parses $query", ({ query, terms }) => {
    expect(parseQuery(query)).toEqual(terms);
  });

  it.each(queries.invalid)("refuses $query with the kernel's message", ({ query, error }) => {
    expect(() => parseQuery(query)).toThrow(QueryError);
    expect(() => parseQuery(query)).toThrow(error);
  });
});

/** Answers from the recorded kernel answers for the small GPT-2-shaped model (tests/fixtures/search_gpt2.py). */
class Recorded implements Transport {
  readonly sent: Request[] = [];
  delay = 0;

  async request(req: Request): Promise<Response> {
    this.sent.push(req);
    if (this.delay) await flush(this.delay);
    const { id: _id, ...body } = req as unknown as Record<string, unknown>;
    const hit = recorded.exchanges.find((e) => {
      const { id: _i, ...sent } = e.request as Record<string, unknown>;
      return JSON.stringify(sent, Object.keys(sent).sort()) === JSON.stringify(body, Object.keys(sent).sort()) &&
        Object.keys(body).length === Object.keys(sent).length;
    });
    if (!hit) throw new Error(`no recorded answer for ${JSON.stringify(req)}`);
    return structuredClone({ ...hit.response, id: req.id }) as unknown as Response;
  }

  searches(): string[] {
    return this.sent.filter((r) => r.op === "search").map((r) => (r as { query: string }).query);
  }
}

let host: HTMLElement;
const views: ModelExplorer[] = [];

beforeEach(() => {
  host = document.createElement("div");
  document.body.append(host);
});

afterEach(async () => {
  for (const view of views.splice(0)) {
    await view.settled();
    view.dispose();
  }
  host.remove();
});

async function explorer() {
  const transport = new Recorded();
  const view = new ModelExplorer(host, { transport, model: "gpt" });
  views.push(view);
  await view.start();
  return { transport, view };
}

const input = () => host.querySelector<HTMLInputElement>(".jp-ParamScope-search-input")!;
const status = () => host.querySelector(".jp-ParamScope-search-status")!;
const rowPaths = () => [...host.querySelectorAll<HTMLElement>(".jp-ParamScope-row")].map((r) => r.dataset.path);
const row = (path: string) => host.querySelector<HTMLElement>(`.jp-ParamScope-row[data-path="${path}"]`);

async function type(text: string, view: ModelExplorer, enter = true) {
  input().value = text;
  input().dispatchEvent(new Event("input"));
  if (enter) input().dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
  await view.settled();
}

describe("the search box in the explorer", () => {
  it("shows the matching rows with their ancestors and the counts, then the tree again", async () => {
    const { view } = await explorer();
    expect(rowPaths()).toEqual(["", "transformer", "lm_head"]);
    await type("h.*.attn.c_attn.weight", view);
    const weights = [0, 1, 2].map((i) => `transformer.h.${i}.attn.c_attn.weight`);
    expect(rowPaths()).toEqual(["", "transformer", "transformer.h",
      "transformer.h.0", "transformer.h.0.attn", "transformer.h.0.attn.c_attn", weights[0],
      "transformer.h.1", "transformer.h.1.attn", "transformer.h.1.attn.c_attn", weights[1],
      "transformer.h.2", "transformer.h.2.attn", "transformer.h.2.attn.c_attn", weights[2]]);
    expect(weights.every((p) => row(p)!.classList.contains("jp-mod-match"))).toBe(true);
    expect(row("transformer.h")!.classList.contains("jp-mod-context")).toBe(true);
    expect(row("transformer.h")!.textContent).toContain("3 found");
    expect(row("transformer.h")!.getAttribute("aria-expanded")).toBe("true");
    expect(status().textContent).toMatch(/^3 found · 576 params · 2\.25? KiB$/);
    input().dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
    await view.settled();
    expect(input().value).toBe("");
    expect(rowPaths()).toEqual(["", "transformer", "lm_head"]);
  });

  it("explains a bad query under the box and sends nothing", async () => {
    const { transport, view } = await explorer();
    await type("numel>lots", view);
    expect(status().textContent).toBe("numel> at 1 needs a number, e.g. numel>1e6");
    expect(status().classList.contains("jp-mod-error")).toBe(true);
    expect(input().getAttribute("aria-invalid")).toBe("true");
    expect(transport.searches()).toEqual([]);
    expect(rowPaths()).toEqual(["", "transformer", "lm_head"]);
  });

  it("says when nothing matched", async () => {
    const { view } = await explorer();
    await type("type:Conv2d", view);
    expect(status().textContent).toBe("nothing found");
    expect(rowPaths()).toEqual([]);
  });

  it("waits for a pause in typing and keeps only the latest answer", async () => {
    const { transport, view } = await explorer();
    transport.delay = 30;
    await type("c_attn", view, false);
    await type("c_attn -weight -bias", view, false);
    expect(transport.searches()).toEqual([]);
    await flush(400);
    await view.settled();
    expect(transport.searches()).toEqual(["c_attn -weight -bias"]);
    expect(rowPaths().filter((p) => row(p!)!.classList.contains("jp-mod-match"))).toEqual(
      [0, 1, 2].map((i) => `transformer.h.${i}.attn.c_attn`));
  });

  it("closes and opens an ancestor, and opens a matched block to show what it holds", async () => {
    const { view } = await explorer();
    await type("c_attn -weight -bias", view);
    row("transformer.h.0")!.querySelector<HTMLElement>(".jp-ParamScope-twisty")!.click();
    await flush(0);
    expect(rowPaths()).not.toContain("transformer.h.0.attn");
    row("transformer.h.0")!.querySelector<HTMLElement>(".jp-ParamScope-twisty")!.click();
    await flush(0);
    expect(rowPaths()).toContain("transformer.h.0.attn.c_attn");
    row("transformer.h.1.attn.c_attn")!.querySelector<HTMLElement>(".jp-ParamScope-twisty")!.click();
    await flush(0);
    const paths = rowPaths();
    const at = paths.indexOf("transformer.h.1.attn.c_attn");
    expect(paths.slice(at + 1, at + 3)).toEqual(["transformer.h.1.attn.c_attn.weight", "transformer.h.1.attn.c_attn.bias"]);
    expect(paths[at + 3]).toBe("transformer.h.2");
  });

  it("selects a found parameter and shows its details", async () => {
    const { view } = await explorer();
    await type("tied", view);
    expect(rowPaths()).toEqual(["", "transformer", "transformer.wte", "transformer.wte.weight", "lm_head",
      "lm_head.weight"]);
    row("lm_head.weight")!.click();
    expect(row("lm_head.weight")!.getAttribute("aria-selected")).toBe("true");
    expect(host.querySelector(".jp-ParamScope-details")!.textContent).toContain("lm_head.weight");
  });

  it("'/' puts the focus in the box", async () => {
    await explorer();
    host.querySelector(".jp-ParamScope-scroller")!.dispatchEvent(new KeyboardEvent("keydown", { key: "/", bubbles: true }));
    expect(document.activeElement).toBe(input());
  });
});

describe("folding repeated blocks", () => {
  it("folds the 3 layers into one row that opens, and unfolds everything when turned off", async () => {
    const { view } = await explorer();
    const fold = host.querySelector<HTMLButtonElement>(".jp-ParamScope-fold-toggle")!;
    fold.click();
    await flush(0);
    expect(fold.getAttribute("aria-pressed")).toBe("true");
    row("transformer")!.querySelector<HTMLElement>(".jp-ParamScope-twisty")!.click();
    await flush(0);
    row("transformer.h")!.querySelector<HTMLElement>(".jp-ParamScope-twisty")!.click();
    await flush(0);
    expect(rowPaths()).toEqual(["", "transformer", "transformer.wte", "transformer.wpe", "transformer.h",
      "transformer.h.0", "transformer.ln_f", "lm_head"]);
    const folded = row("transformer.h.0")!;
    expect(folded.classList.contains("jp-mod-folded")).toBe(true);
    expect(folded.querySelector(".jp-ParamScope-name")!.textContent).toBe("h.0 … h.2 × 3");
    expect(folded.textContent).toContain("same shape");
    expect(folded.getAttribute("aria-expanded")).toBe("false");
    expect(folded.querySelector(".jp-ParamScope-num")!.textContent).toBe(row("transformer.h")!.querySelector(".jp-ParamScope-num")!.textContent);
    folded.querySelector<HTMLElement>(".jp-ParamScope-twisty")!.click(); // opens the run: 3 rows
    await flush(0);
    expect(rowPaths()).toEqual(["", "transformer", "transformer.wte", "transformer.wpe", "transformer.h",
      "transformer.h.0", "transformer.h.1", "transformer.h.2", "transformer.ln_f", "lm_head"]);
    expect(row("transformer.h.0")!.querySelector(".jp-ParamScope-name")!.textContent).toBe("0");
    row("transformer.h.0")!.querySelector<HTMLElement>(".jp-ParamScope-twisty")!.click(); // and then the block
    await flush(0);
    expect(rowPaths()).toContain("transformer.h.0.attn");
    fold.click();
    await view.settled();
    expect(fold.getAttribute("aria-pressed")).toBe("false");
  });
});

describe("the treemap", () => {
  it("squarifies: areas proportional to the values, inside the box, without overlap", () => {
    const values = [60, 25, 10, 4, 1];
    const rects = squarify(values, { x: 0, y: 0, w: 300, h: 100 });
    rects.forEach((r, i) => {
      expect(r.w * r.h).toBeCloseTo((values[i] / 100) * 300 * 100, 6);
      expect(r.x).toBeGreaterThanOrEqual(-1e-9);
      expect(r.y).toBeGreaterThanOrEqual(-1e-9);
      expect(r.x + r.w).toBeLessThanOrEqual(300 + 1e-9);
      expect(r.y + r.h).toBeLessThanOrEqual(100 + 1e-9);
      expect(Math.max(r.w / r.h, r.h / r.w)).toBeLessThan(4); // squarish
    });
    for (let i = 0; i < rects.length; i++) {
      for (let j = i + 1; j < rects.length; j++) {
        const [a, b] = [rects[i], rects[j]];
        const overlap = Math.max(0, Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x)) *
          Math.max(0, Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y));
        expect(overlap).toBeLessThan(1e-6);
      }
    }
    expect(squarify([0, 0], { x: 0, y: 0, w: 10, h: 10 }).every((r) => r.w === 0)).toBe(true);
  });

  it("maps the model by parameters, coloured by dtype; a click selects the block, a double click opens it", async () => {
    const { transport, view } = await explorer();
    host.querySelector<HTMLButtonElement>(".jp-ParamScope-map-toggle")!.click();
    await view.settled();
    const map = host.querySelector<HTMLElement>(".jp-ParamScope-treemap")!;
    expect(map.hidden).toBe(false);
    const outer = [...map.querySelectorAll<HTMLElement>(".jp-ParamScope-treemap-outer")].map((c) => c.dataset.path);
    expect(outer).toEqual(["transformer"]); // lm_head's weight is wte's, counted there
    const inner = [...map.querySelectorAll<HTMLElement>(".jp-ParamScope-treemap-inner")];
    expect(inner.map((c) => c.dataset.path)).toEqual(["transformer.h", "transformer.wte", "transformer.wpe", "transformer.ln_f"]);
    const h = inner[0];
    expect(parseFloat(h.style.width) * parseFloat(h.style.height)).toBeGreaterThan(
      parseFloat(inner[1].style.width) * parseFloat(inner[1].style.height));
    expect(h.style.background).toContain("rgb(79, 131, 204)"); // float32
    expect(h.title).toContain("2,616 parameters");
    h.querySelector("span")!.dispatchEvent(new MouseEvent("click", { bubbles: true }));
    await view.settled();
    await flush(0);
    expect(row("transformer.h")!.getAttribute("aria-selected")).toBe("true");
    map.querySelector(".jp-ParamScope-treemap-outer")!.dispatchEvent(new MouseEvent("dblclick", { bubbles: true }));
    await view.settled();
    expect(transport.sent.filter((r) => r.op === "sizes").map((r) => (r as { path: string }).path)).toEqual(["", "transformer"]);
    expect([...map.querySelectorAll<HTMLElement>(".jp-ParamScope-treemap-outer")].map((c) => c.dataset.path)).toEqual(
      ["transformer.h", "transformer.wte", "transformer.wpe", "transformer.ln_f"]);
  });
});
