/** Values read while another thread trains the model (issue #20): the kernel marks them `during_step` and the
 * stats panel says so above the numbers; a plain read shows no such note. */

import type { Node, Request, Response, Transport } from "../../src/protocol";
import { canvasPerTest, shownStats } from "./replay";

const STATS = {
  path: "w", available: true, shape: [4], dtype: "float32", device: "cpu", numel: 4, mean: 0.5, std: 0.25,
  min: 0, max: 1, rms: 0.6, zeros: 0.25, nan: 0, inf: 0, hist: { edges: [0, 0.5, 1], counts: [2, 2] },
};
const VALUES = { path: "w", available: true, shape: [4], rows: 1, cols: 4, row_step: 1, col_step: 1,
  data: [[0, 0.5, 0.5, 1]], min: 0, max: 1 };

class Kernel implements Transport {
  constructor(private readonly training: string[] | null) {}

  async request(req: Request): Promise<Response> {
    const mark = this.training ? { during_step: true, training: this.training } : {};
    const result = req.op === "stats" ? { ...STATS, ...mark } : { ...VALUES, ...mark };
    return { id: req.id, ok: true, result, revision: 0 };
  }
}

const param = {
  path: "w", name: "w", kind: "param", type: "Parameter", shape: [4], dtype: "float32", device: "cpu",
  trainable: true, state: "ready", numel: 4, nbytes: 16, n_params: 4, n_params_with_aliases: 4, n_buffers: 0,
  tied_to: null, aliases: [], has_grad: false, n_children: 0, code: "net.w", alt_name: null, children_offset: 0,
} as unknown as Node;

function shown(training: string[] | null): Promise<HTMLElement> {
  return shownStats(new Kernel(training), param);
}

canvasPerTest();
afterEach(() => {
  document.body.replaceChildren();
});

describe("values read while a thread trains", () => {
  it("says which thread trains and that the numbers may mix two steps", async () => {
    const element = await shown(["trainer"]);
    const note = element.querySelector("[data-during-step]");
    expect(note?.textContent).toContain('thread "trainer" trains');
    expect(note?.textContent).toContain("mix two steps");
    expect(element.querySelector('[data-stat="mean"]')).not.toBeNull();
  });

  it("shows no note for a read between runs", async () => {
    const element = await shown(null);
    expect(element.querySelector('[data-stat="mean"]')).not.toBeNull();
    expect(element.querySelector("[data-during-step]")).toBeNull();
  });
});
