import widget, { type AnyModel, type WidgetModel, WidgetTransport } from "../../src/widget";
import { colourOf } from "../../src/tree/Heatmap";
import { parseValue } from "../../src/tree/ActionForms";
import { flush, ReplayTransport } from "./replay";

/** anywidget's model as the widget sees it: messages to Python are answered by the recorded kernel. */
class FakeModel implements AnyModel<WidgetModel> {
  readonly listeners = new Set<(msg: unknown) => void>();
  readonly kernel = new ReplayTransport();
  constructor(private readonly name: string) {}
  get<K extends keyof WidgetModel>(key: K): WidgetModel[K] {
    return ({ model_name: this.name } as WidgetModel)[key];
  }
  send(content: unknown): void {
    void this.kernel.request(content as never).then((response) => this.listeners.forEach((l) => l(response)));
  }
  on(event: "msg:custom" | "change:locale", callback: (msg: unknown) => void): void {
    if (event === "msg:custom") this.listeners.add(callback);
  }
  off(event: "msg:custom" | "change:locale", callback: (msg: unknown) => void): void {
    if (event === "msg:custom") this.listeners.delete(callback);
  }
}

describe("the anywidget entry", () => {
  it("renders the tree over widget messages and cleans up", async () => {
    const model = new FakeModel("rgnet");
    const el = document.createElement("div");
    const cleanup = widget.render({ model, el });
    await flush(0);
    expect([...el.querySelectorAll<HTMLElement>(".jp-ParamScope-row")].map((r) => r.dataset.path)).toEqual(["", "0", "1"]);
    expect(model.kernel.sent[0]).toMatchObject({ id: 1, op: "tree", model: "rgnet", path: "" });
    cleanup();
    expect(model.listeners.size).toBe(0);
    expect(el.querySelector(".jp-ParamScope-explorer")).toBeNull();
  });

  it("matches answers by id and ignores other messages", async () => {
    const model = new FakeModel("net");
    const transport = new WidgetTransport(model);
    const a = transport.request({ id: 10, op: "initializers", model: "net" });
    model.listeners.forEach((l) => l({ id: 999, ok: true, result: null, revision: 0 }));
    model.listeners.forEach((l) => l("not a response"));
    await expect(a).resolves.toMatchObject({ id: 10, ok: true });
    transport.dispose();
  });

  it("passes the kernel's change notices on, and refreshes the tree when one arrives", async () => {
    const model = new FakeModel("rgnet");
    const transport = new WidgetTransport(model);
    const seen: number[] = [];
    transport.onRevision = (revision) => seen.push(revision);
    model.listeners.forEach((l) => l({ event: "revision", revision: 4 }));
    model.listeners.forEach((l) => l({ event: "revision", revision: "x" }));
    expect(seen).toEqual([4]);
    transport.dispose();

    const el = document.createElement("div");
    const cleanup = widget.render({ model, el });
    await flush(0);
    const before = model.kernel.sent.length;
    model.listeners.forEach((l) => l({ event: "revision", revision: 7 }));
    await flush(0);
    expect(model.kernel.sent.slice(before).some((r) => (r as { op?: string }).op === "tree")).toBe(true);
    cleanup();
  });

  it("gives up with a clear message when the kernel does not answer", async () => {
    const silent: AnyModel<WidgetModel> = { get: () => "net", send: () => undefined, on: () => undefined, off: () => undefined };
    const transport = new WidgetTransport(silent, 20);
    await expect(transport.request({ id: 1, op: "models" })).rejects.toThrow(/no answer from the kernel/);
    const pending = transport.request({ id: 2, op: "models" });
    transport.dispose();
    await expect(pending).rejects.toThrow(/closed/);
  });
});

describe("heatmap colours", () => {
  it("diverge around zero and grey out NaN/Inf", () => {
    expect(colourOf(0, 1)).toEqual([247, 247, 247]);
    expect(colourOf(1, 1)).toEqual([178, 24, 43]);
    expect(colourOf(-5, 1)).toEqual([33, 102, 172]);
    expect(colourOf(null, 1)).toEqual([160, 160, 160]);
    expect(colourOf(3, 0)).toEqual([247, 247, 247]);
  });
});

describe("the set-value field", () => {
  it("reads numbers, lists and function names, and explains anything else", () => {
    expect(parseValue(" 1.5 ")).toEqual({ value: 1.5 });
    expect(parseValue("[[1, 2], [3, 4]]")).toEqual({ value: [[1, 2], [3, 4]] });
    expect(parseValue("double_it")).toEqual({ fn: "double_it" });
    expect(parseValue("[1, 'a']")).toMatch(/list of numbers/);
    expect(parseValue("nan")).toMatch(/NaN and infinity/);
    expect(parseValue("__import__('os')")).toMatch(/cannot read/);
    expect(parseValue("")).toMatch(/enter a value/);
  });
});
