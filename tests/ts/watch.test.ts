import { Client, type WatchRecord, type WatchState } from "../../src/protocol";
import { HistoryPanel } from "../../src/tree/HistoryPanel";
import { heatStrip, lineChart, sparkline } from "../../src/tree/Sparkline";
import { statOf, WatchPanel } from "../../src/tree/WatchPanel";
import { WatchChannel } from "../../src/lab/watchComm";
import { WidgetTransport } from "../../src/widget";
import { blockNode, FakeTransport } from "./replay";

const summary = (mean: number, norm: number, nan = 0) => ({ numel: 4, mean, std: 1, rms: norm / 2, norm, zeros: 0, nan, inf: 0 });

function record(seq: number, grad: number, nan = 0): WatchRecord {
  return {
    seq, step: seq * 2 + 1, time: Date.now() / 1000, values: { "0.weight": summary(0.1 * seq, 2) },
    grads: { "0.weight": summary(0, grad, nan) }, update: { "0.weight": 0.01 },
    hist: { "0.weight": { edges: [-1, 0, 1], counts: [1, 3] } }, grad_hist: {},
  };
}

function state(records: WatchRecord[], extra: Partial<WatchState> = {}): WatchState {
  return { active: true, every: 2, step: records.length * 2, records, next: records.length ? records[records.length - 1].seq + 1 : 0,
    dropped: 0, max_records: 1000, flags: {}, focus: ["0.weight"], statistics: {}, ...extra };
}

const param = () => ({ ...blockNode("0.weight", "weight", 0), kind: "param" as const, shape: [2, 2] });

describe("Sparkline charts", () => {
  it("draws only finite points and leaves gaps for missing ones", () => {
    const el = sparkline([1, 2, 3, 4], [1, null, Number.NaN, 3]);
    expect(el.dataset.count).toBe("2");
    expect(el.querySelector("polyline")?.getAttribute("points")?.split(" ")).toHaveLength(2);
    expect(sparkline([1], [5]).querySelector("circle")).not.toBeNull();
  });

  it("charts series on a log scale and says the range", () => {
    const chart = lineChart([{ label: "grad", kind: "grad", xs: [1, 2, 3], ys: [1e-3, 1, 1e3] }], 300, 90, true);
    const ys = chart.querySelector("polyline")!.getAttribute("points")!.split(" ").map((p) => Number(p.split(",")[1]));
    expect(ys[0] - ys[1]).toBeCloseTo(ys[1] - ys[2], 5); // equal steps in log10
    expect(chart.getAttribute("aria-label")).toContain("grad: 1e-3 … 1e3");
  });

  it("puts histograms over time in one column per step", () => {
    const strip = heatStrip([{ step: 1, edges: [0, 1, 2], counts: [2, 0] }, { step: 3, edges: [0, 2, 4], counts: [1, 1] }]);
    expect(strip.dataset.columns).toBe("2");
    expect(strip.querySelectorAll("rect")).toHaveLength(3); // empty bins draw nothing
  });
});

describe("WatchPanel", () => {
  it("starts with every N and the selected param as focus, merges pushes and polls, draws rows and flags", async () => {
    const transport = new FakeTransport((req) => ({ id: req.id, ok: true, result: state([]), revision: 0 }));
    const changed = vi.fn();
    const panel = new WatchPanel(new Client(transport), "net", { changed, error: vi.fn() });
    panel.select(param());
    panel.bar.querySelector<HTMLInputElement>(".jp-ParamScope-watch-every")!.value = "2";
    await panel.start();
    expect(transport.sent[0]).toMatchObject({ op: "watch_start", model: "net", every: 2, focus: ["0.weight"] });
    expect(panel.bar.textContent).toContain("■ Stop watch");

    panel.receive(state([record(0, 1), record(1, 2)]), true);
    // The last record again (now with its update ratio) and a new one: merged by seq.
    panel.receive(state([record(1, 4), record(2, 8, 1)], { flags: { "0.weight": ["nonfinite"] } }), true);
    expect(panel.series("0.weight", "grad_norm")).toEqual({ xs: [1, 3, 5], ys: [1, 4, 8] });
    expect(panel.series("0.weight", "nonfinite").ys).toEqual([0, 0, 1]);
    const cell = panel.decorate(param())!;
    expect(cell.dataset.watch).toBe("0.weight");
    expect(cell.querySelector("svg")!.dataset.count).toBe("3");
    expect(cell.querySelector(".jp-ParamScope-flag-nonfinite")).not.toBeNull();
    // A tied use shows the canonical param's series; the model row sums the flags.
    expect(panel.decorate({ ...param(), path: "2.weight", tied_to: "0.weight" })!.dataset.watch).toBe("0.weight");
    expect(panel.decorate(blockNode("", "net", 1))!.textContent).toContain("1");
    expect(panel.bar.textContent).toContain("⚠ 1 flagged");
    expect(panel.detail.hidden).toBe(false);
    expect(panel.detail.querySelectorAll(".jp-ParamScope-heat")).toHaveLength(1);
    expect(changed).toHaveBeenCalled();
    panel.dispose();
  });

  it("reads each statistic from a record", () => {
    const r = record(0, 3);
    expect(statOf(r, "0.weight", "grad_norm")).toBe(3);
    expect(statOf(r, "0.weight", "mean")).toBe(0);
    expect(statOf(r, "0.weight", "update_ratio")).toBe(0.01);
    expect(statOf(r, "other", "grad_norm")).toBeNull();
  });

  it("polls once a second only while active and no push came, one poll at a time", async () => {
    vi.useFakeTimers();
    try {
      let answer = state([record(0, 1)]);
      const transport = new FakeTransport((req) => ({ id: req.id, ok: true, result: answer, revision: 0 }));
      const panel = new WatchPanel(new Client(transport), "net", { changed: vi.fn(), error: vi.fn() });
      panel.receive(answer);
      await vi.advanceTimersByTimeAsync(3100);
      expect(transport.sent.filter((r) => r.op === "watch_poll").length).toBe(3);
      answer = state([record(0, 1)], { active: false });
      panel.receive(answer, true);
      await vi.advanceTimersByTimeAsync(3000);
      expect(transport.sent.filter((r) => r.op === "watch_poll").length).toBe(3);
      panel.dispose();
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("HistoryPanel", () => {
  const history = {
    entries: [0, 1, 2].map((i) => ({ index: i, op: "reinit", description: `action ${i}`, paths: [], bytes: 1024, undoable: i !== 0, time: 0 })),
    dropped: 2, dropped_entries: [{ description: "old one", time: 0, bytes: 1 }], bytes: 3072,
    limit_bytes: 512 * 2 ** 20, limit_entries: 100, revision: 5,
  };

  it("lists entries newest first with the bound and what was dropped, and undoes back to one", async () => {
    let conflict = true;
    const transport = new FakeTransport((req) => {
      if (req.op === "history") return { id: req.id, ok: true, result: history, revision: 5 };
      if (req.op === "undo" && conflict && !(req as { force?: boolean }).force) {
        conflict = false;
        return { id: req.id, ok: false, error: { type: "UndoConflict", message: "0.weight changed since" }, revision: 5 };
      }
      return { id: req.id, ok: true, result: { undone: history.entries.slice(1), revision: 6, forced: true }, revision: 6 };
    });
    const undone = vi.fn(async () => undefined);
    const panel = new HistoryPanel(new Client(transport), "net", { undone, error: vi.fn() });
    document.body.append(panel.element);
    panel.toggle();
    await panel.settled;
    const rows = [...panel.element.querySelectorAll<HTMLElement>(".jp-ParamScope-history-entry")];
    expect(rows.map((r) => r.dataset.index)).toEqual(["2", "1", "0"]);
    expect(panel.element.textContent).toContain("keeps the last 100 actions and 512.0 MiB");
    expect(panel.element.textContent).toContain("2 older actions dropped to stay in bounds: old one");
    expect(rows[2].querySelector("button")!.disabled).toBe(true);
    rows[1].querySelector("button")!.click();
    await vi.waitFor(() => expect(panel.element.querySelector(".jp-ParamScope-history-conflict")).not.toBeNull());
    expect(transport.sent.find((r) => r.op === "undo")).toMatchObject({ to: 1, force: false });
    panel.element.querySelector<HTMLButtonElement>(".jp-ParamScope-history-force")!.click();
    await vi.waitFor(() => expect(undone).toHaveBeenCalledTimes(1));
    expect(transport.sent.filter((r) => r.op === "undo").at(-1)).toMatchObject({ to: 1, force: true });
    panel.element.remove();
  });
});

describe("live channels", () => {
  it("the widget transport hands watch pushes to the explorer", () => {
    const listeners: ((msg: unknown) => void)[] = [];
    const model = { get: () => "net", send: vi.fn(), on: (_: string, cb: (msg: unknown) => void) => listeners.push(cb), off: vi.fn() };
    const transport = new WidgetTransport(model as never);
    const got: WatchState[] = [];
    transport.onWatch = (s) => got.push(s);
    listeners[0]({ event: "watch", model: "net", state: state([record(0, 1)]) });
    expect(got).toHaveLength(1);
    transport.dispose();
  });

  it("the sidebar opens one comm to paramscope.watch, forwards pushes and opens again after a close", () => {
    const comms: { onMsg?: (m: unknown) => void; onClose?: (m: unknown) => void; open: () => void; close: () => void; isDisposed: boolean }[] = [];
    const kernel = {
      isDisposed: false,
      createComm: (target: string) => {
        expect(target).toBe("paramscope.watch");
        const comm = { open: vi.fn(), close: vi.fn(), isDisposed: false };
        comms.push(comm);
        return comm as never;
      },
    };
    const pushes: unknown[] = [];
    const channel = new WatchChannel(kernel, (p) => pushes.push(p));
    channel.ensure();
    channel.ensure();
    expect(comms).toHaveLength(1);
    comms[0].onMsg!({ content: { data: { event: "watch", model: "net", state: state([]) } } });
    comms[0].onMsg!({ content: { data: { something: "else" } } });
    expect(pushes).toHaveLength(1);
    comms[0].onClose!({});
    channel.ensure();
    expect(comms).toHaveLength(2);
    channel.dispose();
    expect(comms[1].close).toHaveBeenCalled();
  });
});
