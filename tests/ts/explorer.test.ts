import { ModelExplorer } from "../../src/tree/ModelExplorer";
import { explorerPage, flush, ReplayTransport } from "./replay";

const page = explorerPage();

async function explorer(model = "rgnet") {
  const transport = new ReplayTransport();
  const view = new ModelExplorer(page.host, { transport, model });
  await view.start();
  return { transport, view };
}

const row = (path: string) => page.host.querySelector<HTMLElement>(`.jp-ParamScope-row[data-path="${path}"]`);
const rowPaths = () => [...page.host.querySelectorAll<HTMLElement>(".jp-ParamScope-row")].map((r) => r.dataset.path);
const text = (selector: string) => page.host.querySelector(selector)?.textContent ?? "";

function click(el: Element | null) {
  expect(el).not.toBeNull();
  el!.dispatchEvent(new MouseEvent("click", { bubbles: true }));
}

function key(k: string, init: KeyboardEventInit = {}) {
  page.host.querySelector(".jp-ParamScope-scroller")!.dispatchEvent(new KeyboardEvent("keydown", { key: k, bubbles: true, ...init }));
}

async function expand(path: string) {
  click(row(path)!.querySelector(".jp-ParamScope-twisty"));
  await flush(0);
}

describe("ModelExplorer on the chapter's rgnet", () => {
  it("shows the model with its children, counts and a summary", async () => {
    await explorer();
    expect(rowPaths()).toEqual(["", "0", "1"]);
    expect(text(".jp-ParamScope-title")).toContain("rgnet");
    expect(text(".jp-ParamScope-title")).toContain("309 params");
    expect(row("1")!.textContent).toContain("Linear");
    expect(row("1")!.querySelector(".jp-ParamScope-num")!.textContent).toBe("5");
    expect(row("0")!.getAttribute("aria-expanded")).toBe("false");
  });

  it("expands blocks down to parameters with shape, dtype and device", async () => {
    await explorer();
    await expand("0");
    await expand("0.block 0");
    await expand("0.block 0.0");
    const weight = row("0.block 0.0.weight")!;
    expect(weight.querySelector(".jp-ParamScope-shape")!.textContent).toBe("8×4");
    expect(weight.querySelector(".jp-ParamScope-dtype")!.textContent).toBe("float32");
    expect(weight.querySelector(".jp-ParamScope-device")!.textContent).toBe("cpu");
    expect(weight.querySelector(".jp-ParamScope-num")!.textContent).toBe("32");
    expect(weight.getAttribute("aria-level")).toBe("5");
  });

  it("shows statistics, histogram and heatmap of a parameter and of its gradient", async () => {
    const { transport, view } = await explorer();
    await expand("0");
    await expand("0.block 0");
    await expand("0.block 0.0");
    click(row("0.block 0.0.weight"));
    await view.settled();
    const sections = [...page.host.querySelectorAll<HTMLElement>(".jp-ParamScope-tensor")];
    expect(sections.map((s) => s.dataset.tensor)).toEqual(["0.block 0.0.weight", "0.block 0.0.weight#grad"]);
    expect(sections[0].querySelector('[data-stat="mean"] .jp-ParamScope-stat-value')!.textContent).toMatch(/^-?\d/);
    expect(sections[0].querySelectorAll(".jp-ParamScope-bar")).toHaveLength(48);
    expect(sections[1].querySelector(".jp-ParamScope-heatmap-plot")!.getAttribute("width")).toBe("4");
    expect(page.canvas.images.map((i) => [i.height, i.width])).toEqual([[8, 4], [8, 4]]);
    expect(transport.ops("stats").map((r) => r.op === "stats" && r.path)).toEqual(["0.block 0.0.weight", "0.block 0.0.weight#grad"]);
  });

  it("says why a gradient is unavailable", async () => {
    await explorer("net");
    const panel = page.host.querySelector(".jp-ParamScope-details")!;
    await expand("2");
    click(row("2.weight"));
    await flush();
    expect(panel.textContent).toContain("No gradient yet");
  });

  it("marks a tied layer and jumps to the canonical one", async () => {
    const { view } = await explorer("net");
    const marker = row("4")!.querySelector<HTMLElement>(".jp-ParamScope-tie")!;
    expect(marker.textContent).toContain("2");
    expect(marker.title).toContain("tied to 2");
    expect(row("2")!.querySelector(".jp-ParamScope-tie")!.textContent).toContain("×2");
    marker.dispatchEvent(new MouseEvent("mouseover", { bubbles: true }));
    expect(row("2")!.classList.contains("jp-mod-highlighted")).toBe(true);
    click(marker);
    await view.settled();
    await flush(0);
    expect(row("2")!.getAttribute("aria-selected")).toBe("true");
    expect(text(".jp-ParamScope-details-name")).toBe("2");
  });

  it("moves with the arrow keys and expands with Enter and ArrowRight", async () => {
    await explorer();
    key("ArrowDown");
    expect(row("0")!.getAttribute("aria-selected")).toBe("true");
    key("Enter");
    await flush(0);
    expect(rowPaths()).toContain("0.block 3");
    key("ArrowLeft");
    await flush(0);
    expect(rowPaths()).toEqual(["", "0", "1"]);
    key("ArrowRight");
    await flush(0);
    key("ArrowRight");
    expect(row("0.block 0")!.getAttribute("aria-selected")).toBe("true");
    key("ArrowLeft");
    expect(row("0")!.getAttribute("aria-selected")).toBe("true");
    key("End");
    expect(row("1")!.getAttribute("aria-selected")).toBe("true");
    key("Home");
    key(" ");
    expect(row("")!.getAttribute("aria-selected")).toBe("true");
  });

  it("offers only the actions that apply in the context menu", async () => {
    await explorer();
    row("0")!.dispatchEvent(new MouseEvent("contextmenu", { bubbles: true, clientX: 10, clientY: 10 }));
    const menu = page.host.querySelector<HTMLElement>(".jp-ParamScope-menu")!;
    expect(menu.hidden).toBe(false);
    const enabled = [...menu.querySelectorAll<HTMLButtonElement>("button")].filter((b) => !b.disabled).map((b) => b.dataset.action);
    expect(enabled).toEqual(["reinit", "undo", "copy"]);
    menu.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
    expect(menu.hidden).toBe(true);
  });

  it("reinitializes a block with constant 42 and refreshes the tree and the plots", async () => {
    const { transport, view } = await explorer();
    await expand("0");
    await expand("0.block 0");
    row("0.block 0")!.dispatchEvent(new MouseEvent("contextmenu", { bubbles: true }));
    click(page.host.querySelector('.jp-ParamScope-menu button[data-action="reinit"]'));
    await flush(0);
    const form = view.dialog.form!;
    const select = form.querySelector<HTMLSelectElement>("select[name=init]")!;
    expect([...select.options].map((o) => o.value)).toContain("my_init"); // custom, from the notebook
    select.value = "constant";
    select.dispatchEvent(new Event("change"));
    form.querySelector<HTMLInputElement>("input[name=arg-value]")!.value = "42";
    form.requestSubmit();
    await flush(0);
    await view.settled();
    expect(transport.ops("reinit")).toEqual([expect.objectContaining(
      { op: "reinit", model: "rgnet", path: "0.block 0", init: "constant", args: { value: 42 }, seed: null, bias: "zeros" })]);
    expect(view.dialog.isOpen).toBe(false);
    expect(text(".jp-ParamScope-banner")).toContain("reinit 0.block 0 with constant(value=42.0)");
    expect(text(".jp-ParamScope-revision")).toBe("rev 1");
    expect(rowPaths()).toContain("0.block 0.0"); // still expanded after the refresh
  });

  it("checks the form before sending anything", async () => {
    const { transport, view } = await explorer();
    await view.tree.reveal("1.weight");
    row("")!.dispatchEvent(new MouseEvent("contextmenu", { bubbles: true }));
    click(page.host.querySelector('.jp-ParamScope-menu button[data-action="reinit"]'));
    await flush(0);
    const form = view.dialog.form!;
    form.querySelector<HTMLInputElement>("input[name=seed]")!.value = "-3";
    form.requestSubmit();
    // Next to the seed field, which is marked invalid and focused.
    const seedField = form.querySelector('[data-field="seed"]')!;
    expect(seedField.querySelector(".jp-ParamScope-field-error")!.textContent).toMatch(/seed must be a whole number/);
    expect(seedField.querySelector("input")!.getAttribute("aria-invalid")).toBe("true");
    expect(transport.ops("reinit")).toHaveLength(0);
  });

  it("sets one element through the form (value, index, mode)", async () => {
    const { transport, view } = await explorer();
    await expand("1");
    row("1.weight")!.dispatchEvent(new MouseEvent("contextmenu", { bubbles: true }));
    click(page.host.querySelector('.jp-ParamScope-menu button[data-action="set_value"]'));
    const form = view.dialog.form!;
    form.querySelector<HTMLInputElement>("input[name=value]")!.value = "0.5";
    form.querySelector<HTMLInputElement>("input[name=index]")!.value = "0, 1";
    form.querySelector<HTMLSelectElement>("select[name=mode]")!.value = "add";
    form.requestSubmit();
    await flush(0);
    await view.settled();
    expect(transport.ops("set_value")).toEqual([expect.objectContaining({ path: "1.weight", value: 0.5, index: "0, 1", mode: "add" })]);
    expect(text(".jp-ParamScope-banner")).toContain("add to 1.weight[0, 1] with 0.5");
  });

  it("ties by picking the target in the tree, then undoes", async () => {
    const { transport, view } = await explorer();
    await view.tree.reveal("0.block 2.0.weight");
    await view.tree.reveal("0.block 1.0.weight");
    view.refresh();
    await view.settled();
    row("0.block 2.0.weight")!.dispatchEvent(new MouseEvent("contextmenu", { bubbles: true }));
    click(page.host.querySelector('.jp-ParamScope-menu button[data-action="tie"]'));
    expect(page.host.querySelector(".jp-ParamScope-tree")!.classList.contains("jp-mod-picking")).toBe(true);
    expect(text(".jp-ParamScope-banner")).toContain("click the parameter that 0.block 2.0.weight should share");
    click(row("0.block 1.0")); // a block: refused, still picking
    expect(text(".jp-ParamScope-banner")).toContain("pick a parameter");
    click(row("0.block 1.0.weight"));
    await flush(0);
    await view.settled();
    expect(transport.ops("tie")).toEqual([expect.objectContaining({ path: "0.block 2.0.weight", to: "0.block 1.0.weight" })]);
    expect(row("0.block 2.0.weight")!.querySelector(".jp-ParamScope-tie")!.textContent).toBe("⇄ 0.block 1.0.weight");
    expect(row("0.block 1.0.weight")!.querySelector(".jp-ParamScope-tie")!.textContent).toBe("⇄ ×2");
    expect(row("0")!.querySelector<HTMLElement>(".jp-ParamScope-num")!.title).toContain("counting every use of tied ones");
    click(page.host.querySelector(".jp-ParamScope-toolbar button:last-child"));
    await flush(0);
    await view.settled();
    expect(transport.ops("undo")).toHaveLength(1);
    expect(text(".jp-ParamScope-banner")).toMatch(/undid/);
  });

  it("shows a kernel error in the form next to its field and keeps the form open, changing nothing", async () => {
    const { transport, view } = await explorer("net");
    await expand("0");
    row("0.weight")!.dispatchEvent(new MouseEvent("contextmenu", { bubbles: true }));
    click(page.host.querySelector('.jp-ParamScope-menu button[data-action="set_value"]'));
    const form = view.dialog.form!;
    form.querySelector<HTMLInputElement>("input[name=value]")!.value = "1";
    form.querySelector<HTMLInputElement>("input[name=index]")!.value = "9, 9";
    const before = rowPaths();
    form.requestSubmit();
    await flush(0);
    // Where the user is looking: under the index field of the open form, not in the banner behind it.
    const error = form.querySelector<HTMLElement>('[data-field="index"] .jp-ParamScope-field-error')!;
    expect(error.getAttribute("role")).toBe("alert");
    expect(error.textContent).toContain("index 9 is out of bounds");
    expect(error.textContent).toContain("nothing was changed");
    expect(page.host.querySelector<HTMLElement>(".jp-ParamScope-banner")!.hidden).toBe(true);
    expect(view.dialog.isOpen).toBe(true);
    expect(form.querySelector("button[type=submit]")!.hasAttribute("disabled")).toBe(false);
    expect(rowPaths()).toEqual(before);
    expect(transport.revision).toBe(0);
    // Fixing the field and submitting again clears the message; a wrong value points at the value field.
    form.querySelector<HTMLInputElement>("input[name=value]")!.value = "[1, 2, 3]";
    form.querySelector<HTMLInputElement>("input[name=index]")!.value = "";
    form.requestSubmit();
    expect(form.querySelector('[data-field="index"] .jp-ParamScope-field-error')).toBeNull();
  });

  it("refreshes by itself when an answer carries a newer revision", async () => {
    const { transport, view } = await explorer();
    const trees = transport.ops("tree").length;
    transport.revision = 5; // the model was changed by ps.reinit(...) in another cell
    click(page.host.querySelector(".jp-ParamScope-toolbar button"));
    await flush(0);
    await view.settled();
    expect(text(".jp-ParamScope-revision")).toBe("rev 5");
    expect(transport.ops("tree").length).toBeGreaterThan(trees);
  });

  it("copies the node's code", async () => {
    await explorer();
    const writes: string[] = [];
    Object.defineProperty(navigator, "clipboard", { configurable: true, value: { writeText: async (t: string) => void writes.push(t) } });
    await expand("1");
    row("1.bias")!.dispatchEvent(new MouseEvent("contextmenu", { bubbles: true }));
    click(page.host.querySelector('.jp-ParamScope-menu button[data-action="copy"]'));
    await flush(0);
    expect(writes).toEqual(["rgnet[1].bias"]);
    expect(text(".jp-ParamScope-banner")).toContain("copied rgnet[1].bias");
  });

  it("shows an error when the model is gone, and disposes cleanly", async () => {
    const { view } = await explorer("deleted_model");
    expect(text(".jp-ParamScope-banner")).toContain("no recorded answer");
    view.dispose();
    expect(page.host.querySelector(".jp-ParamScope-explorer")).toBeNull();
  });
});
