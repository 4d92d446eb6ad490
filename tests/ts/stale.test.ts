import type { Request, Response } from "../../src/protocol";
import { actionsFor } from "../../src/tree/ActionMenu";
import type { DetailsHost } from "../../src/tree/DetailsLayout";
import { ModelExplorer } from "../../src/tree/ModelExplorer";
import { blockNode, explorerPage, flush, ReplayTransport } from "./replay";

/** The recorded kernel, plus fingerprints that a test changes as a cell would. */
class CellTransport extends ReplayTransport {
  values = new Map<string, string>();
  grads = new Map<string, string>();
  supported = true;

  override async request(req: Request): Promise<Response> {
    if (req.op !== "fingerprints") return super.request(req);
    this.sent.push(req);
    const fingerprints = Object.fromEntries(req.paths.map((p) =>
      [p, { value: this.values.get(p) ?? "v0", grad: this.grads.get(p) ?? "g0" }]));
    return { id: req.id, ok: true, result: { fingerprints, supported: this.supported }, revision: this.revision };
  }
}

const page = explorerPage();
const WEIGHT = "0.block 0.0.weight";

beforeEach(() => localStorage.clear());

async function selected(options: { detailsHost?: DetailsHost } = {}) {
  const transport = new CellTransport();
  const view = new ModelExplorer(page.host, { transport, model: "rgnet", ...options });
  await view.start();
  for (const path of ["0", "0.block 0", "0.block 0.0"]) {
    page.host.querySelector(`.jp-ParamScope-row[data-path="${path}"] .jp-ParamScope-twisty`)!
      .dispatchEvent(new MouseEvent("click", { bubbles: true }));
    await flush(0);
  }
  page.host.querySelector(`.jp-ParamScope-row[data-path="${WEIGHT}"]`)!.dispatchEvent(new MouseEvent("click", { bubbles: true }));
  await flush();
  await view.settled();
  return { transport, view };
}

describe("after a cell, the explorer compares fingerprints instead of trusting what it shows", () => {
  it("reads the selected tensor again when its values changed, and only then", async () => {
    const { transport, view } = await selected();
    const stats = transport.ops("stats").length;
    await view.checkStale();
    await flush();
    expect(transport.ops("stats")).toHaveLength(stats); // nothing changed: nothing read
    const asked = transport.ops("fingerprints").at(-1) as Request & { paths: string[] };
    expect(asked.paths).toContain(WEIGHT);
    const trees = transport.ops("tree").length;
    transport.values.set(WEIGHT, "v1"); // `net[0].weight.data[:] += 1` in a cell
    await view.checkStale();
    await flush();
    await view.settled();
    expect(transport.ops("stats").length).toBeGreaterThan(stats);
    expect(transport.ops("tree")).toHaveLength(trees); // values changed, not the tree: no tree reload
  });

  it("reloads the tree when a gradient appears or goes, or a tensor is gone", async () => {
    const { transport, view } = await selected();
    const trees = transport.ops("tree").length;
    transport.grads.set(WEIGHT, "none"); // the recording has gradients: now the kernel says there is none
    await view.checkStale();
    await view.settled();
    expect(transport.ops("tree").length).toBeGreaterThan(trees);
  });

  it("refreshes when the framework has no fingerprints", async () => {
    const { transport, view } = await selected();
    transport.supported = false;
    const trees = transport.ops("tree").length;
    await view.checkStale();
    await view.settled();
    expect(transport.ops("tree").length).toBeGreaterThan(trees);
  });
});

describe("untie of a block used at several places", () => {
  it("is an action of the block row, with the places it is used at", () => {
    const shared = { ...blockNode("4", "4", 2), tied_to: "2", aliases: ["2"] };
    const untie = actionsFor(shared).find((a) => a.name === "untie")!;
    expect(untie.enabled).toBe(true);
    expect(untie.hint).toContain("used at 4, 2");
    expect(actionsFor(blockNode("1", "1", 0)).find((a) => a.name === "untie")!.enabled).toBe(false);
  });
});

describe("the details in a tab or in a resizable pane", () => {
  it("moves the details into the host's tab and back, remembering the choice", async () => {
    const tabs: { element: HTMLElement; closed: () => void }[] = [];
    const detailsHost: DetailsHost = {
      open(element, _title, closed) {
        const tab = document.createElement("div");
        tab.append(element);
        tabs.push({ element: tab, closed });
        return { close: () => tab.remove() };
      },
    };
    const { view } = await selected({ detailsHost });
    const toggle = page.host.querySelector<HTMLButtonElement>(".jp-ParamScope-details-toggle")!;
    toggle.click();
    expect(tabs).toHaveLength(1);
    expect(tabs[0].element.querySelector(`[data-tensor="${WEIGHT}"]`)).not.toBeNull();
    expect(page.host.querySelector(".jp-ParamScope-details")).toBeNull();
    expect(localStorage.getItem("paramscope.details")).toBe("tab");
    view.dispose();
    // A new explorer opens its details in a tab at once; the user closing the tab brings them back.
    await selected({ detailsHost });
    expect(tabs).toHaveLength(2);
    tabs[1].closed();
    expect(page.host.querySelector(".jp-ParamScope-details")).not.toBeNull();
    expect(localStorage.getItem("paramscope.details")).toBe("pane");
  });

  it("sets the tree's height from the keyboard on the bar under it, and remembers it", async () => {
    await selected();
    const handle = page.host.querySelector<HTMLElement>(".jp-ParamScope-resize")!;
    expect(handle.getAttribute("role")).toBe("separator");
    handle.dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowDown", bubbles: true }));
    const explorer = page.host.querySelector<HTMLElement>(".jp-ParamScope-explorer")!;
    // jsdom lays nothing out (height 0): one step from the minimum.
    expect(explorer.style.getPropertyValue("--ps-tree-height")).toBe("120px");
    expect(localStorage.getItem("paramscope.treeHeight")).toBe("120");
  });
});
