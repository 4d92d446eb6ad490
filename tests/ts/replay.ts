/** Test transports: one that answers from the recorded fixtures (real kernel answers), one that makes up
 * wide trees, and a fake canvas context for the heatmap. */

import fixture from "../fixtures/torch_rgnet.json";
import { Client, type Node, type Request, type Response, type Transport } from "../../src/protocol";
import { fetchStats, StatsPanel } from "../../src/tree/StatsPanel";

export interface Exchange {
  request: Record<string, unknown> & { op: string };
  response: Response;
}

export const exchanges = fixture.exchanges as unknown as Exchange[];

function sameRequest(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  // budget_ms only says how long the kernel may work before answering "pending": the recorded tensors are small
  // and were answered at once, whatever the budget.
  const { id: _a, budget_ms: _c, ...left } = a;
  const { id: _b, budget_ms: _d, ...right } = b;
  return JSON.stringify(sortKeys(left)) === JSON.stringify(sortKeys(right));
}

function sortKeys(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(sortKeys);
  if (x && typeof x === "object") {
    return Object.fromEntries(Object.entries(x).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, sortKeys(v)]));
  }
  return x;
}

/** Answers each request with the recorded answer to the same request, taken from the recording at the
 * model's current revision (the latest one that is not newer), as the kernel would. */
export class ReplayTransport implements Transport {
  readonly sent: Request[] = [];
  revision = 0;

  async request(req: Request): Promise<Response> {
    this.sent.push(req);
    const matches = exchanges.filter((e) => sameRequest(e.request, req as unknown as Record<string, unknown>));
    if (!matches.length) throw new Error(`no recorded answer for ${JSON.stringify(req)}`);
    const isAction = ["reinit", "set_value", "tie", "untie", "undo"].includes(req.op);
    const pick = isAction
      ? matches.find((e) => e.response.ok && (e.response.revision ?? 0) > this.revision) ?? matches[matches.length - 1]
      : [...matches].reverse().find((e) => (e.response.revision ?? 0) <= this.revision) ?? matches[0];
    if (isAction && pick.response.ok) this.revision = pick.response.revision ?? this.revision;
    const revision = pick.response.revision === null ? null : this.revision;
    return structuredClone({ ...pick.response, id: req.id, revision }) as Response;
  }

  ops(op: string): Request[] {
    return this.sent.filter((r) => r.op === op);
  }
}

/** A leaf block node as the kernel describes a parameter-free module. */
export function blockNode(path: string, name: string, nChildren: number, type = "Linear"): Node {
  return {
    path, name, kind: path === "" ? "model" : "block", type, shape: null, dtype: "float32", device: "cpu",
    trainable: true, state: "ready", numel: 2, nbytes: 8, n_params: 2, n_params_with_aliases: 2, n_buffers: 0,
    tied_to: null,
    aliases: [], has_grad: false, n_children: nChildren, code: path === "" ? "wide" : `wide[${name}]`,
    alt_name: null, children_offset: 0,
  };
}

/** Answers each request with `answer(req)` (a table of op -> result in the tests); records what was sent. */
export class FakeTransport implements Transport {
  readonly sent: Request[] = [];
  constructor(private readonly answer: (req: Request) => Response) {}
  async request(req: Request): Promise<Response> {
    this.sent.push(req);
    return this.answer(req);
  }
}

/** A model "wide" whose root has `n` children (each with 2 params), answered page by page like the kernel. */
export class WideTransport implements Transport {
  readonly sent: Request[] = [];

  constructor(readonly n: number) {}

  async request(req: Request): Promise<Response> {
    this.sent.push(req);
    if (req.op !== "tree") return { id: req.id, ok: false, error: { type: "BadRequest", message: req.op }, revision: 0 };
    const offset = req.offset ?? 0;
    const stop = req.limit === null || req.limit === undefined ? this.n : Math.min(this.n, offset + req.limit);
    if (req.path === "") {
      const node = blockNode("", "wide", this.n, "ModuleList");
      node.n_params = node.numel = 2 * this.n;
      node.children = [];
      for (let i = offset; i < stop; i++) node.children.push(blockNode(String(i), String(i), 2));
      node.children_offset = offset;
      return { id: req.id, ok: true, result: { node, framework: "pytorch" }, revision: 0 };
    }
    const node = blockNode(req.path, req.path, 2);
    node.children = ["weight", "bias"].map((name) => ({
      ...blockNode(`${req.path}.${name}`, name, 0), kind: "param" as const, type: "Parameter", shape: [1],
      n_params: 1, numel: 1, n_params_with_aliases: 1,
    }));
    return { id: req.id, ok: true, result: { node, framework: "pytorch" }, revision: 0 };
  }
}

/** A 2-D context that records the last image put on the canvas (jsdom has no canvas). */
export function fakeCanvas(): { images: ImageData[]; restore(): void } {
  const images: ImageData[] = [];
  const original = HTMLCanvasElement.prototype.getContext;
  HTMLCanvasElement.prototype.getContext = function () {
    return {
      createImageData: (w: number, h: number) => ({ width: w, height: h, data: new Uint8ClampedArray(w * h * 4) }),
      putImageData: (image: ImageData) => images.push(image),
    } as unknown as CanvasRenderingContext2D;
  } as unknown as typeof original;
  return { images, restore: () => void (HTMLCanvasElement.prototype.getContext = original) };
}

/** A statistics panel in the page over `transport` for the model "net", fetching as the explorer does; the errors
 * it reports go into `errors`. */
export function statsPanel(transport: Transport, errors: unknown[] = []): StatsPanel {
  const client = new Client(transport);
  const view = new StatsPanel({
    stats: (path, progress, signal) => fetchStats(client, "net", path, 48, progress, signal),
    values: (path) => client.call({ op: "values", model: "net", path, max_elems: 4096 }),
  }, { action: () => undefined, jump: () => undefined, error: (e) => errors.push(e) });
  document.body.append(view.element);
  return view;
}

/** `statsPanel` showing `node`, once its answers are in. */
export async function shownStats(transport: Transport, node: Node): Promise<HTMLElement> {
  const view = statsPanel(transport);
  view.show(node);
  await view.settled;
  await flush(5);
  return view.element;
}

/** The fake canvas for each test of the file, restored after it (after the file's own later afterEach hooks).
 * Read `.canvas` inside the tests. */
export function canvasPerTest(): { canvas: ReturnType<typeof fakeCanvas> } {
  const current = {} as { canvas: ReturnType<typeof fakeCanvas> };
  beforeEach(() => {
    current.canvas = fakeCanvas();
  });
  afterEach(() => current.canvas.restore());
  return current;
}

/** For each test of the file: a host element in the page for an explorer, and the fake canvas; both removed after
 * the test. Read `page.host` and `page.canvas` inside the tests. */
export function explorerPage(): { host: HTMLElement; canvas: ReturnType<typeof fakeCanvas> } {
  const page = canvasPerTest() as { host: HTMLElement; canvas: ReturnType<typeof fakeCanvas> };
  beforeEach(() => {
    page.host = document.createElement("div");
    document.body.append(page.host);
  });
  afterEach(() => page.host.remove());
  return page;
}

/** Let every pending promise and timer (the stats panel waits 120 ms) run. */
export async function flush(ms = 150): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}
