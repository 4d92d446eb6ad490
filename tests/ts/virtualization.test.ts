import { ModelExplorer } from "../../src/tree/ModelExplorer";
import { ROW_HEIGHT } from "../../src/tree/TreeView";
import { flush, WideTransport } from "./replay";

describe("a block with 10,000 children", () => {
  let host: HTMLElement;

  beforeEach(() => {
    host = document.createElement("div");
    document.body.append(host);
  });

  afterEach(() => host.remove());

  async function wide() {
    const transport = new WideTransport(10_000);
    const view = new ModelExplorer(host, { transport, model: "wide" });
    const scroller = host.querySelector<HTMLElement>(".jp-ParamScope-scroller")!;
    Object.defineProperty(scroller, "clientHeight", { configurable: true, value: 400 });
    return { transport, view, scroller };
  }

  // Speed is measured by bench/, against peers; here what keeps it fast: only the rows in sight are in the DOM
  // and one page is asked for.
  it("shows with only the visible rows in the DOM, from one page", async () => {
    const { view, transport } = await wide();
    await view.start();
    expect(view.view.renderedRows).toBeLessThan(400 / ROW_HEIGHT + 20);
    expect(host.querySelector<HTMLElement>(".jp-ParamScope-rows")!.style.height).toBe(`${10_001 * ROW_HEIGHT}px`);
    expect(transport.sent).toEqual([expect.objectContaining({ op: "tree", path: "", offset: 0, limit: 200 })]);
  });

  it("collapses and expands again without asking the kernel or rendering hidden rows", async () => {
    const { view, transport } = await wide();
    await view.start();
    const twisty = () => host.querySelector<HTMLElement>('.jp-ParamScope-row[data-path=""] .jp-ParamScope-twisty')!;
    twisty().dispatchEvent(new MouseEvent("click", { bubbles: true }));
    await flush(0);
    expect(view.view.renderedRows).toBe(1);
    twisty().dispatchEvent(new MouseEvent("click", { bubbles: true }));
    await flush(0);
    expect(view.view.renderedRows).toBeGreaterThan(10);
    expect(view.view.renderedRows).toBeLessThan(400 / ROW_HEIGHT + 20);
    expect(transport.sent.filter((r) => r.op === "tree")).toHaveLength(1); // the loaded page is kept
  });

  it("loads the page that scrolls into view and renders the rows there", async () => {
    const { view, transport, scroller } = await wide();
    await view.start();
    scroller.scrollTop = 9_000 * ROW_HEIGHT;
    scroller.dispatchEvent(new Event("scroll"));
    expect(host.querySelector(".jp-ParamScope-placeholder")).not.toBeNull();
    await flush(0);
    const paths = [...host.querySelectorAll<HTMLElement>(".jp-ParamScope-row[data-path]")].map((r) => r.dataset.path);
    expect(paths).toContain("9000");
    expect(host.querySelector(".jp-ParamScope-placeholder")).toBeNull();
    expect(transport.sent.map((r) => r.op === "tree" && r.offset)).toEqual([0, 8_800, 9_000]);
    expect(view.view.renderedRows).toBeLessThan(40);
  });

  it("goes to the last row with End, loading it", async () => {
    const { view } = await wide();
    await view.start();
    const scroller = host.querySelector<HTMLElement>(".jp-ParamScope-scroller")!;
    scroller.dispatchEvent(new KeyboardEvent("keydown", { key: "End", bubbles: true }));
    await flush(0);
    // The last row was not loaded: its page is requested and the row selected when it arrives.
    expect(host.querySelector('.jp-ParamScope-row[data-path="9999"]')!.getAttribute("aria-selected")).toBe("true");
    expect(host.querySelector(".jp-ParamScope-details-name")!.textContent).toBe("9999");
  });
});
