import { Client, type CompareResult, type Request, type Response, type Transport } from "../../src/protocol";
import { ComparePanel } from "../../src/tree/Compare";
import { setLanguage } from "../../src/tree/i18n";
import { ModelExplorer } from "../../src/tree/ModelExplorer";
import { flush, ReplayTransport } from "./replay";

/** The chapter's rgnet from the recorded kernel, plus compare ops answered as the kernel answers them after a
 * training step that moved only the last layer (`1`). */
class CompareTransport implements Transport {
  readonly replay = new ReplayTransport();
  readonly sent: Request[] = [];
  snapshot = false;

  async request(req: Request): Promise<Response> {
    this.sent.push(req);
    const ok = (result: unknown): Response => ({ id: req.id, ok: true, result, revision: 0 }) as Response;
    switch (req.op) {
      case "snapshot_take":
        this.snapshot = true;
        return ok({ snapshot: info });
      case "snapshot_clear": {
        const had = this.snapshot;
        this.snapshot = false;
        return ok({ cleared: had });
      }
      case "compare":
        return this.snapshot ? ok(answer)
          : ({ id: req.id, ok: false, error: { type: "ActionError", message: "no snapshot of this model: take one first" },
            revision: 0 } as Response);
      default:
        return this.replay.request(req);
    }
  }
}

const info = { path: "", taken_at: 1, params: 4, nbytes: 1236 };
const same = { numel: 32, delta_norm: 0, max_abs: 0, changed: 0, norm: 1, rel: 0, status: "same" as const };
const answer: CompareResult = {
  snapshot: info,
  totals: { params: 4, changed: 2, delta_norm: 0.5, norm: 4, rel: 0.125 },
  params: [
    { path: "1.weight", numel: 4, delta_norm: 0.4, max_abs: 0.3, changed: 1, norm: 1, rel: 0.4, status: "changed" },
    { path: "1.bias", numel: 1, delta_norm: 0.3, max_abs: 0.3, changed: 1, norm: 1.5, rel: 0.2, status: "changed" },
    { path: "0.block 0.0.weight", ...same },
    { path: "0.block 0.0.bias", numel: 0, delta_norm: null, max_abs: null, changed: null, norm: null, rel: null,
      status: "shape", reason: "shape [8] → [9]" },
  ],
  blocks: [
    { path: "1", params: 2, changed_params: 2, moved: 0, numel: 5, delta_norm: 0.5, max_abs: 0.3, norm: 1.8, rel: 0.28,
      changed: 1 },
    { path: "", params: 4, changed_params: 2, moved: 1, numel: 37, delta_norm: 0.5, max_abs: 0.3, norm: 4, rel: 0.125,
      changed: 0.1 },
    { path: "0", params: 2, changed_params: 0, moved: 1, numel: 32, delta_norm: 0, max_abs: 0, norm: 1, rel: 0,
      changed: 0 },
  ],
  total_params: 4, total_blocks: 3, truncated: false, framework: "pytorch",
};

let host: HTMLElement;
beforeEach(() => {
  host = document.createElement("div");
  document.body.append(host);
});
afterEach(() => host.remove());

const row = (path: string) => host.querySelector<HTMLElement>(`.jp-ParamScope-row[data-path="${path}"]`);
const click = (el: Element | null) => {
  expect(el).not.toBeNull();
  el!.dispatchEvent(new MouseEvent("click", { bubbles: true }));
};

describe("Compare", () => {
  it("takes a snapshot, compares, shows the change on rows and lists the moved block; clear removes it", async () => {
    const transport = new CompareTransport();
    const view = new ModelExplorer(host, { transport, model: "rgnet" });
    await view.start();
    const bar = host.querySelector<HTMLElement>(".jp-ParamScope-compare-bar")!;
    expect(bar.hidden).toBe(true);
    click(host.querySelector(".jp-ParamScope-compare-toggle"));
    expect(bar.hidden).toBe(false);
    click(host.querySelector(".jp-ParamScope-compare-take"));
    await flush(0);
    expect(bar.textContent).toContain("snapshot of 4 parameters");
    click(host.querySelector(".jp-ParamScope-compare-now"));
    await flush(0);
    expect(transport.sent.map((r) => r.op)).toContain("compare");
    expect(bar.textContent).toContain("2 of 4 parameters changed");
    expect(bar.textContent).toContain("1 changed shape or dtype");
    // The moved block stands out: a full bar and its number; the still one says "same".
    const moved = row("1")!.querySelector<HTMLElement>(".jp-ParamScope-compare-cell")!;
    expect(moved.classList).toContain("jp-ParamScope-compare-moved");
    expect(moved.textContent).toContain("0.28");
    // One log scale for every row (4 decades): the most moved parameter (1.weight, 0.4) fills the meter.
    expect(moved.querySelector<HTMLElement>(".jp-ParamScope-compare-fill")!.style.width).toBe("38px");
    expect(row("1")!.querySelector(".jp-ParamScope-compare-cell")!.getAttribute("title")).toContain("2 of 2 parameters changed");
    expect(row("0")!.querySelector(".jp-ParamScope-compare-cell")!.textContent).toBe("same");
    // The list of most moved blocks: the deepest moved ones; a click selects the block.
    const items = [...host.querySelectorAll<HTMLElement>(".jp-ParamScope-compare-item")].map((i) => i.dataset.path);
    expect(items).toEqual(["1"]);
    click(host.querySelector(".jp-ParamScope-compare-item"));
    await flush(0);
    expect(row("1")!.getAttribute("aria-selected")).toBe("true");
    click(host.querySelector(".jp-ParamScope-compare-clear"));
    await flush(0);
    expect(host.querySelector(".jp-ParamScope-compare-cell")).toBeNull();
    expect(bar.textContent).toContain("no snapshot");
    view.dispose();
  });

  it("shows the kernel's message when there is no snapshot", async () => {
    const transport = new CompareTransport();
    const view = new ModelExplorer(host, { transport, model: "rgnet" });
    await view.start();
    view.compare.toggle();
    await view.compare.compare();
    await flush(0);
    expect(host.querySelector(".jp-ParamScope-banner")!.textContent).toContain("no snapshot of this model");
    view.dispose();
  });
});

describe("Compare with buffers", () => {
  const bufferRow = (path: string, rel: number | null, status: "same" | "changed") => ({
    path, kind: "buffer" as const, numel: 4, delta_norm: status === "changed" ? 0.5 : 0, max_abs: 0.4, changed: 1,
    norm: 2, rel, status,
  });
  const withBuffers: CompareResult = {
    ...answer,
    totals: { ...answer.totals, buffers: 3, changed_buffers: 2 },
    buffers: [bufferRow("bn.running_mean", null, "changed"), bufferRow("bn.running_var", 0.25, "changed"),
      bufferRow("bn.num_batches_tracked", 0, "same")],
    blocks: [...answer.blocks, { path: "bn", params: 2, changed_params: 0, moved: 0, numel: 8, delta_norm: 0, max_abs: 0,
      norm: 1, rel: 0, changed: 0, buffers: 3, changed_buffers: 2 }],
    total_buffers: 3,
  };
  const node = (path: string, kind: "buffer" | "block") =>
    ({ path, kind, tied_to: null }) as unknown as import("../../src/protocol").Node;

  afterEach(() => setLanguage("en"));

  function panel() {
    const events = { changed: () => undefined, select: () => undefined, error: () => undefined };
    const compare = new ComparePanel(new Client(new CompareTransport()), "rgnet", events);
    compare.setResult(withBuffers);
    return compare;
  }

  it("shows a buffer's change on its row, and a block whose only change is in its running statistics", () => {
    const compare = panel();
    expect(compare.bar.textContent).toContain("2 of 4 parameters changed since the snapshot");
    expect(compare.bar.textContent).toContain("2 of 3 buffers changed");
    const moved = compare.decorate(node("bn.running_var", "buffer"))!;
    expect(moved.classList).toContain("jp-ParamScope-compare-buffer");
    expect(moved.textContent).toContain("0.25");
    expect(moved.title).toMatch(/^buffer, since the snapshot: ‖Δ‖ 0.5/);
    // A running mean that started at 0 has no relative change: it says "changed", with no number.
    expect(compare.decorate(node("bn.running_mean", "buffer"))!.textContent).toBe("changed");
    expect(compare.decorate(node("bn.num_batches_tracked", "buffer"))!.textContent).toBe("same");
    const block = compare.decorate(node("bn", "block"))!;
    expect(block.textContent).toBe("2 buffers changed");
    expect(block.title).toContain("2 of 3 buffers changed (running statistics, not in the norms)");
  });

  it("speaks Turkish and Portuguese, numbers in the locale's digits", () => {
    setLanguage("tr");
    let compare = panel();
    expect(compare.bar.textContent).toContain("Anlık görüntüden bu yana 4 parametreden 2 tanesi değişti");
    expect(compare.bar.textContent).toContain("‖Δw‖/‖w‖ 0,125");
    expect(compare.bar.textContent).toContain("3 tampondan 2 tanesi değişti");
    expect(compare.decorate(node("bn.num_batches_tracked", "buffer"))!.textContent).toBe("aynı");
    expect(compare.button.textContent).toContain("Karşılaştır");
    setLanguage("pt-BR");
    compare = panel();
    expect(compare.bar.textContent).toContain("2 de 4 parâmetros mudaram desde o instantâneo");
    expect(compare.decorate(node("bn", "block"))!.textContent).toBe("2 buffers mudaram");
    expect(compare.bar.querySelector(".jp-ParamScope-compare-take")!.textContent).toBe("Tirar instantâneo");
  });
});
