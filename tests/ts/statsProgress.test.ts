/** Long statistics: the panel shows a progress bar with Cancel while the kernel answers `pending`, polls the
 * job, cancels it on Cancel or when the selection moves on, and offers to compute again. */

import { Client, type Node, type Request, type Response, type Transport } from "../../src/protocol";
import { fetchStats, StatsCancelled } from "../../src/tree/StatsPanel";
import { canvasPerTest, flush, statsPanel } from "./replay";

const STATS = {
  path: "w", available: true, shape: [4], dtype: "float32", device: "cpu", numel: 4, mean: 0.5, std: 0.25,
  min: 0, max: 1, rms: 0.6, zeros: 0.25, nan: 0, inf: 0, hist: { edges: [0, 0.5, 1], counts: [2, 2] },
};
const VALUES = { path: "w", available: true, shape: [4], rows: 1, cols: 4, row_step: 1, col_step: 1,
  data: [[0, 0.5, 0.5, 1]], min: 0, max: 1 };

/** A kernel whose statistics take `slices` polls; each poll is answered after `delay` ms. */
class SlowKernel implements Transport {
  readonly sent: Request[] = [];
  private jobs = new Map<string, number>();
  private next = 1;

  constructor(private readonly slices: number, private readonly delay = 5) {}

  async request(req: Request): Promise<Response> {
    this.sent.push(req);
    await new Promise((resolve) => setTimeout(resolve, this.delay));
    const ok = (result: unknown): Response => ({ id: req.id, ok: true, result, revision: 0 });
    switch (req.op) {
      case "stats": {
        const job = `stats-${this.next++}`;
        this.jobs.set(job, 0);
        return ok({ path: req.path, pending: true, job, progress: 0 });
      }
      case "stats_poll": {
        const done = (this.jobs.get(req.job) ?? NaN) + 1;
        if (Number.isNaN(done)) {
          return { id: req.id, ok: false, error: { type: "ActionError", message: "job gone" }, revision: 0 };
        }
        if (done >= this.slices) {
          this.jobs.delete(req.job);
          return ok(STATS);
        }
        this.jobs.set(req.job, done);
        return ok({ path: "w", pending: true, job: req.job, progress: done / this.slices });
      }
      case "stats_cancel":
        return ok({ job: req.job, cancelled: this.jobs.delete(req.job) });
      case "values":
        return ok(VALUES);
      default:
        return { id: req.id, ok: false, error: { type: "BadRequest", message: req.op }, revision: 0 };
    }
  }

  ops(op: string): Request[] {
    return this.sent.filter((r) => r.op === op);
  }

  get open(): number {
    return this.jobs.size;
  }
}

const param: Node = {
  path: "w", name: "w", kind: "param", type: "Parameter", shape: [4], dtype: "float32", device: "cpu",
  trainable: true, state: "ready", numel: 4, nbytes: 16, n_params: 4, n_params_with_aliases: 4, n_buffers: 0,
  tied_to: null, aliases: [], has_grad: false, n_children: 0, code: "net.w", alt_name: null, children_offset: 0,
} as unknown as Node;

function panel(kernel: SlowKernel) {
  const errors: unknown[] = [];
  return { view: statsPanel(kernel, errors), errors };
}

canvasPerTest();
afterEach(() => {
  document.body.replaceChildren();
});

async function until(check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error("timed out");
    await flush(5);
  }
}

describe("statistics that take several slices", () => {
  it("shows a progress bar that moves, then the statistics", async () => {
    const kernel = new SlowKernel(8, 15);
    const { view, errors } = panel(kernel);
    view.show(param);
    const seen: number[] = [];
    await until(() => {
      const bar = view.element.querySelector<HTMLProgressElement>(".jp-ParamScope-progress-bar");
      if (bar) seen.push(bar.value);
      return view.element.querySelector('[data-stat="mean"]') !== null;
    });
    expect(Math.max(...seen)).toBeGreaterThan(0.3);
    expect(seen.some((v, i) => i > 0 && v > seen[0])).toBe(true);
    expect(view.element.querySelector(".jp-ParamScope-progress")).toBeNull();
    expect(view.element.querySelector('[data-stat="mean"] .jp-ParamScope-stat-value')!.textContent).toContain("0.5");
    expect(kernel.ops("stats")).toHaveLength(1);
    expect(kernel.ops("stats")[0]).toMatchObject({ budget_ms: 300, bins: 48 });
    expect(kernel.ops("stats_poll").length).toBe(8);
    expect(errors).toEqual([]);
  });

  it("Cancel stops the job in the kernel and offers to compute again", async () => {
    const kernel = new SlowKernel(1000);
    const { view, errors } = panel(kernel);
    view.show(param);
    await until(() => view.element.querySelector("[data-cancel]") !== null);
    expect(view.element.querySelector("[data-cancel]")!.textContent).toBe("Cancel");
    view.element.querySelector<HTMLButtonElement>("[data-cancel]")!.click();
    await until(() => view.element.querySelector("[data-cancelled]") !== null);
    await flush(20);
    expect(kernel.ops("stats_cancel")).toHaveLength(1);
    expect(kernel.open).toBe(0);
    const polls = kernel.ops("stats_poll").length;
    await flush(50);
    expect(kernel.ops("stats_poll").length).toBe(polls); // no polling after the cancel
    expect(errors).toEqual([]);
    // Compute again starts a new job
    view.element.querySelector<HTMLButtonElement>("[data-retry]")!.click();
    await until(() => kernel.ops("stats").length === 2 && view.element.querySelector("[data-cancel]") !== null);
    view.dispose();
    await flush(30);
    expect(kernel.ops("stats_cancel")).toHaveLength(2);
  });

  it("selecting another row cancels the running job", async () => {
    const kernel = new SlowKernel(1000);
    const { view } = panel(kernel);
    view.show(param);
    await until(() => view.element.querySelector("[data-cancel]") !== null);
    view.show(null);
    await flush(40);
    expect(kernel.ops("stats_cancel")).toHaveLength(1);
    expect(kernel.open).toBe(0);
  });

  it("fetchStats returns a quick answer at once and rejects with StatsCancelled once aborted", async () => {
    const kernel = new SlowKernel(2);
    const client = new Client(kernel);
    const done = await fetchStats(client, "net", "w", 48, () => undefined, new AbortController().signal);
    expect(done).toMatchObject({ available: true, mean: 0.5 });
    const controller = new AbortController();
    const running = fetchStats(client, "net", "w", 48, () => controller.abort(), controller.signal);
    await expect(running).rejects.toBeInstanceOf(StatsCancelled);
  });
});
