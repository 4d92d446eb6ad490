import type { ModelSummary } from "../../src/protocol";
import { ModelsPanel } from "../../src/lab/panel";
import { KernelTransport } from "../../src/lab/transport";
import { KernelWatcher, type WatcherEvents } from "../../src/lab/watcher";
import { FakeKernel, rgnetSummary } from "./labKernel";
import { canvasPerTest, flush } from "./replay";

const keras: ModelSummary = {
  name: "knet", framework: "keras", type: "Sequential", n_params: 15, n_buffers: 0, nbytes: 60, device: "CPU:0", dtype: "float32",
  state: "ready", revision: 0,
};

canvasPerTest();
let panel: ModelsPanel;
let kernel: FakeKernel;

beforeEach(() => {
  kernel = new FakeKernel();
  panel = new ModelsPanel({ pageSize: 200 });
  document.body.append(panel.element);
});

afterEach(() => {
  panel.dispose();
});

async function connect(): Promise<void> {
  panel.connect(new KernelTransport(kernel, (n) => panel.setPending(n)), "chapter.ipynb · Python 3");
  await panel.refresh();
}

const names = () => [...panel.element.querySelectorAll<HTMLElement>(".jp-ParamScope-model")].map((e) => e.dataset.model);
const status = () => panel.element.querySelector(".jp-ParamScope-sidebar-status")!.textContent;
const header = (name: string) => panel.element.querySelector<HTMLElement>(`[data-model="${name}"] .jp-ParamScope-model-header`)!;
const treeRows = (name: string) =>
  [...panel.element.querySelectorAll<HTMLElement>(`[data-model="${name}"] .jp-ParamScope-row[data-path]`)].map((r) => r.dataset.path);

async function expand(name: string): Promise<void> {
  header(name).click();
  await flush(20); // the explorer's first load
  await panel.settled();
}

describe("ModelsPanel", () => {
  it("lists every model with framework, class, unique params, memory and device", async () => {
    kernel.models = [rgnetSummary, keras];
    await connect();
    expect(names()).toEqual(["rgnet", "knet"]);
    expect(header("rgnet").textContent).toBe("▸rgnetpytorchSequential309 params · 1.21 KiB · cpu");
    expect(header("knet").textContent).toContain("keras");
    expect(header("knet").textContent).toContain("15 params · 60 B · CPU:0");
    expect(status()).toBe("2 models");
  });

  it("mounts the shared explorer on expand; an unchanged re-list sends no tree again", async () => {
    await connect();
    await expand("rgnet");
    expect(header("rgnet").getAttribute("aria-expanded")).toBe("true");
    expect(treeRows("rgnet")).toEqual(["", "0", "1"]);
    const trees = kernel.ops("tree").length;
    await panel.refresh();
    await panel.settled();
    expect(kernel.ops("models")).toHaveLength(2);
    expect(kernel.ops("tree")).toHaveLength(trees);
  });

  it("reloads an open explorer when the model's revision moved on elsewhere (an inline widget's action)", async () => {
    await connect();
    await expand("rgnet");
    kernel.replay.revision = 1; // what a reinit from another front end did
    const trees = kernel.ops("tree").length;
    await panel.refresh();
    await panel.settled();
    expect(kernel.ops("tree").length).toBeGreaterThan(trees);
    expect(panel.element.querySelector(".jp-ParamScope-revision")!.textContent).toBe("rev 1");
  });

  it("reloads an open explorer when code changed the model's size, not only its revision", async () => {
    await connect();
    await expand("rgnet");
    const trees = kernel.ops("tree").length;
    kernel.models = [{ ...rgnetSummary, n_params: 310, nbytes: 1240 }];
    await panel.refresh();
    await panel.settled();
    expect(kernel.ops("tree").length).toBeGreaterThan(trees);
    expect(header("rgnet").textContent).toContain("310 params");
  });

  it("lists again after an action from its own explorer, once, without reloading the tree twice", async () => {
    await connect();
    await expand("rgnet");
    const explorer = panel.explorer("rgnet")!;
    const row = (path: string) => explorer.element.querySelector<HTMLElement>(`.jp-ParamScope-row[data-path="${path}"]`)!;
    row("0").querySelector<HTMLElement>(".jp-ParamScope-twisty")!.dispatchEvent(new MouseEvent("click", { bubbles: true }));
    await flush(0);
    await panel.settled();
    const models = kernel.ops("models").length;
    const treesBefore = kernel.ops("tree").length;
    row("0.block 0").dispatchEvent(new MouseEvent("contextmenu", { bubbles: true }));
    panel.element.querySelector<HTMLElement>('.jp-ParamScope-menu button[data-action="reinit"]')!.click();
    await flush(0);
    const form = explorer.dialog.form!;
    const select = form.querySelector<HTMLSelectElement>("select[name=init]")!;
    select.value = "constant";
    select.dispatchEvent(new Event("change"));
    form.querySelector<HTMLInputElement>("input[name=arg-value]")!.value = "42";
    form.requestSubmit();
    await flush();
    await panel.settled();
    expect(kernel.ops("reinit")).toEqual([expect.objectContaining({ model: "rgnet", path: "0.block 0", args: { value: 42 } })]);
    expect(kernel.ops("models").length).toBe(models + 1);
    // The explorer reloads what it shows (the root's page and block 0's) once, not once more for the re-list.
    expect(kernel.ops("tree").length - treesBefore).toBe(2);
    expect(explorer.element.querySelector(".jp-ParamScope-revision")!.textContent).toBe("rev 1");
    expect(header("rgnet").getAttribute("aria-expanded")).toBe("true");
  });

  it("drops a deleted model and its explorer; keeps the expanded state by name for when it comes back", async () => {
    await connect();
    await expand("rgnet");
    kernel.models = [];
    await panel.refresh();
    expect(names()).toEqual([]);
    expect(panel.explorer("rgnet")).toBeNull();
    expect(status()).toContain("No models in this kernel yet");
    kernel.models = [rgnetSummary];
    await panel.refresh();
    await flush(20);
    expect(treeRows("rgnet")).toEqual(["", "0", "1"]);
  });

  it("says how to install paramscope in a kernel that lacks it", async () => {
    kernel.importError = { ename: "ModuleNotFoundError", evalue: "No module named 'paramscope'" };
    await connect();
    expect(names()).toEqual([]);
    expect(status()).toContain("not installed in this kernel's environment");
    expect(status()).toContain("%pip install paramscope");
    expect(panel.element.querySelector(".jp-ParamScope-sidebar-status")!.classList.contains("jp-mod-error")).toBe(true);
  });

  it("shows busy instead of blocking while a long cell holds the kernel, and coalesces refreshes", async () => {
    await connect();
    await expand("rgnet");
    kernel.hold();
    panel.setCellBusy(true);
    expect(status()).toContain("busy running a cell");
    const first = panel.refresh();
    void panel.refresh();
    void panel.refresh();
    // Collapsing needs no kernel: it happens at once.
    header("rgnet").click();
    expect(header("rgnet").getAttribute("aria-expanded")).toBe("false");
    panel.setCellBusy(false);
    await flush(450);
    expect(status()).toBe("Waiting for the kernel…");
    expect(panel.element.classList.contains("jp-mod-busy")).toBe(true);
    const listed = kernel.ops("models").length;
    kernel.release();
    await first;
    await flush(0);
    kernel.release();
    await panel.settled();
    expect(kernel.ops("models").length - listed).toBe(2); // the held one, then one more for the calls meanwhile
    expect(status()).toBe("1 model");
  });

  it("empties on a restart and ignores answers from before it", async () => {
    await connect();
    await expand("rgnet");
    kernel.hold();
    const stale = panel.refresh();
    panel.reset("Kernel restarting…");
    kernel.release();
    await stale;
    expect(names()).toEqual([]);
    expect(status()).toBe("Kernel restarting…");
    await panel.refresh();
    await flush(20);
    expect(names()).toEqual(["rgnet"]);
    expect(treeRows("rgnet")).toEqual(["", "0", "1"]);
  });

  it("asks for children by the configured page size", async () => {
    panel.setPageSize(1);
    await connect();
    await expand("rgnet");
    expect(kernel.ops("tree")[0]).toMatchObject({ path: "", offset: 0, limit: 1 });
    panel.setPageSize(50);
    await panel.settled();
    expect(kernel.ops("tree").at(-1)).toMatchObject({ limit: 50 });
  });

  it("without a kernel, says what to open", () => {
    panel.connect(null, "");
    expect(status()).toContain("Open a notebook or console");
  });
});

describe("KernelWatcher", () => {
  function watch() {
    const events: string[] = [];
    const handlers: WatcherEvents = {
      cellBusy: (busy) => events.push(busy ? "busy" : "free"),
      cellDone: () => events.push("done"),
      widgetAction: () => events.push("widget"),
      restarting: (down) => events.push(down ? "down" : "up"),
    };
    return { events, watcher: new KernelWatcher(kernel, handlers) };
  }

  it("sees a user's cell start and finish, but not the sidebar's silent executes", () => {
    const { events, watcher } = watch();
    const finish = kernel.startCell();
    expect(watcher.busy).toBe(true);
    kernel.iopub("status", "silent-1", { execution_state: "busy" });
    kernel.iopub("status", "silent-1", { execution_state: "idle" });
    finish();
    expect(events).toEqual(["busy", "free", "done"]);
  });

  it("sees an inline widget's action answers, not its plain reads nor other widgets' messages", () => {
    const { events } = watch();
    const answer = (result: unknown) => ({ data: { method: "custom", content: { id: 1, ok: true, result, revision: 2 } } });
    kernel.iopub("comm_msg", "c", answer({ changed: ["0.weight"], action: { op: "reinit" }, revision: 2 }));
    kernel.iopub("comm_msg", "c", answer({ undone: { op: "reinit" }, revision: 1 }));
    kernel.iopub("comm_msg", "c", answer({ node: {}, framework: "pytorch" }));
    kernel.iopub("comm_msg", "c", { data: { method: "update", state: { value: 3 } } });
    expect(events).toEqual(["widget", "widget"]);
  });

  it("reports a restart once, and the kernel coming back", () => {
    const { events } = watch();
    const finish = kernel.startCell();
    kernel.setStatus("restarting");
    kernel.setStatus("starting");
    kernel.setStatus("restarting");
    kernel.setStatus("idle");
    finish(); // a cell of the old kernel: already forgotten
    kernel.setStatus("idle");
    expect(events).toEqual(["busy", "free", "down", "up"]);
  });

  it("stops listening when disposed", () => {
    const { events, watcher } = watch();
    watcher.dispose();
    kernel.startCell()();
    expect(events).toEqual([]);
  });
});
