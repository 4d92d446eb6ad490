import type { SizeColor, SizeNode } from "../../src/protocol";
import { setLanguage } from "../../src/tree/i18n";
import { colourScale, ramp, Treemap, type SizesAnswer } from "../../src/tree/Treemap";
import { flush } from "./replay";

describe("the treemap's colour scale", () => {
  it("runs linearly between the smallest and largest value, ends at the ramp's ends", () => {
    const scale = colourScale([0.2, 0.4, null, 0.3], "mean")!;
    expect([scale.min, scale.max, scale.log]).toEqual([0.2, 0.4, false]);
    expect(scale.colour(0.2)).toBe(ramp(0)); // dark blue
    expect(scale.colour(0.4)).toBe(ramp(1)); // yellow
    expect(ramp(0)).toBe("rgb(68, 1, 84)");
    expect(ramp(1)).toBe("rgb(253, 231, 37)");
    expect(scale.colour(0.3)).toBe(ramp(0.5));
    expect(scale.colour(null)).toBe("#b0b4ba");
    expect(colourScale([null, undefined], "rms")).toBeNull();
    expect(colourScale([5, 5], "rms")!.colour(5)).toBe(ramp(1));
  });

  it("goes logarithmic for a positive statistic spanning two decades, zeros at its low end", () => {
    const scale = colourScale([1e-4, 1e-2, 1, 0], "change")!;
    expect(scale.log).toBe(true);
    expect([scale.min, scale.max]).toEqual([1e-4, 1]);
    expect(scale.colour(1e-2)).toBe(ramp(0.5));
    expect(scale.colour(0)).toBe(ramp(0));
    expect(colourScale([1e-4, 1], "mean")!.log).toBe(false); // a mean can be negative: always linear
    expect(colourScale([0.5, 1], "rms")!.log).toBe(false); // under two decades
  });
});

const node = (path: string, n: number, value: number | null | undefined, children?: SizeNode[]): SizeNode =>
  ({ path, name: path.split(".").pop() || "model", kind: children ? "block" : "param", type: "Linear", dtype: "float32",
    n_params: n, nbytes: 4 * n, value, ...(children ? { children } : {}) });

/** A kernel that answers `sizes` as protocol.handle does: values only with a colour, `change` refused until a
 * snapshot is taken. */
class Kernel {
  readonly asked: SizeColor[] = [];
  snapshot = false;

  load(path: string, color: SizeColor): Promise<SizesAnswer> {
    this.asked.push(color);
    if (color === "change" && !this.snapshot) return Promise.reject(new Error("no snapshot of this model"));
    const v = (x: number | null) => (color === "dtype" ? undefined : x);
    const root = node(path, 1200, v(0.5), [
      node("h", 1000, v(color === "change" ? 1e-2 : 0.9), [node("h.0", 600, v(color === "change" ? 1 : 0.8)),
        node("h.1", 400, v(color === "change" ? 1e-4 : 1.2))]),
      node("wte", 200, v(color === "change" ? 0 : 0.02), [node("wte.weight", 200, v(null))]),
    ]);
    const colors: SizeColor[] = ["dtype", "rms", "std", "mean", "zeros", ...(this.snapshot ? ["change" as const] : [])];
    return Promise.resolve({ root, color, colors });
  }
}

function map(kernel: Kernel, errors: string[] = []) {
  const treemap = new Treemap({ load: (p, c) => kernel.load(p, c), select: () => undefined,
    error: (_e, failed) => errors.push(failed) });
  document.body.append(treemap.element);
  return treemap;
}

const colour = (treemap: Treemap, path: string) =>
  treemap.element.querySelector<HTMLElement>(`[data-path="${path}"]`)!.style.background;
const select = (treemap: Treemap) => treemap.element.querySelector<HTMLSelectElement>(".jp-ParamScope-treemap-colour")!;

describe("the treemap coloured by a statistic", () => {
  afterEach(() => {
    setLanguage("en");
    document.body.replaceChildren();
  });

  it("offers the kernel's colours, recolours the blocks by the chosen one and shows its legend", async () => {
    const kernel = new Kernel();
    const treemap = map(kernel);
    await treemap.toggle();
    expect(kernel.asked).toEqual(["dtype"]);
    expect([...select(treemap).options].map((o) => o.value)).toEqual(["dtype", "rms", "std", "mean", "zeros"]);
    expect(colour(treemap, "h.0")).toBe("rgb(79, 131, 204)"); // float32
    const legend = treemap.element.querySelector<HTMLElement>(".jp-ParamScope-treemap-legend")!;
    expect(legend.textContent).toBe("float32");
    select(treemap).value = "rms";
    select(treemap).dispatchEvent(new Event("change"));
    await treemap.settled;
    expect(kernel.asked).toEqual(["dtype", "rms"]);
    expect(colour(treemap, "h.1")).toBe(ramp(1)); // the largest RMS shown
    expect(colour(treemap, "wte")).toBe(ramp(0)); // the smallest
    expect(colour(treemap, "wte.weight")).toBe("rgb(176, 180, 186)"); // no value
    expect(legend.dataset.colour).toBe("rms");
    expect(legend.querySelector(".jp-ParamScope-treemap-legend-label")!.textContent).toBe("RMS of the values");
    expect(legend.querySelector(".jp-ParamScope-treemap-legend-min")!.textContent).toBe("0.02");
    expect(legend.querySelector(".jp-ParamScope-treemap-legend-max")!.textContent).toBe("1.2");
    expect(legend.textContent).toContain("no value");
    expect(legend.textContent).not.toContain("log scale");
    expect(treemap.element.querySelector<HTMLElement>('[data-path="h.0"]')!.title).toContain("RMS of the values: 0.8");
  });

  it("falls back to dtype with the kernel's reason when a colour cannot be read, and offers it once it can", async () => {
    const kernel = new Kernel();
    const errors: string[] = [];
    const treemap = map(kernel, errors);
    await treemap.toggle();
    await treemap.colourWith("change");
    expect(errors).toEqual(["Could not map the parameters"]);
    expect(select(treemap).value).toBe("dtype");
    kernel.snapshot = true;
    await treemap.refresh();
    expect([...select(treemap).options].map((o) => o.value)).toContain("change");
    await treemap.colourWith("change");
    const legend = treemap.element.querySelector<HTMLElement>(".jp-ParamScope-treemap-legend")!;
    expect(legend.textContent).toContain("log scale"); // 1e-4 … 1: four decades
    expect(legend.querySelector(".jp-ParamScope-treemap-legend-min")!.textContent).toBe("100e-6");
    expect(colour(treemap, "h")).toBe(ramp(0.5));
  });

  it("speaks Turkish and Portuguese, the legend's numbers in the locale's digits", async () => {
    setLanguage("tr");
    const kernel = new Kernel();
    let treemap = map(kernel);
    await treemap.toggle();
    await treemap.colourWith("mean");
    let legend = treemap.element.querySelector<HTMLElement>(".jp-ParamScope-treemap-legend")!;
    expect(legend.querySelector(".jp-ParamScope-treemap-legend-label")!.textContent).toBe("değerlerin ortalaması");
    expect(legend.querySelector(".jp-ParamScope-treemap-legend-min")!.textContent).toBe("0,02");
    expect(legend.textContent).toContain("değer yok");
    expect(treemap.element.textContent).toContain("renk ölçütü");
    expect(treemap.element.querySelector('[data-path="h"]')!.getAttribute("title")).toContain("1.000 parametre");
    setLanguage("pt-BR");
    treemap = map(kernel);
    await treemap.toggle();
    await treemap.colourWith("zeros");
    legend = treemap.element.querySelectorAll<HTMLElement>(".jp-ParamScope-treemap-legend")[0]!;
    expect(legend.querySelector(".jp-ParamScope-treemap-legend-label")!.textContent).toBe("fração de zeros");
    expect(legend.querySelector(".jp-ParamScope-treemap-legend-max")!.textContent).toMatch(/^120\s?%$/);
    await flush(0);
  });
});
