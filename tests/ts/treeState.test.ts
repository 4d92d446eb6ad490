import type { Node } from "../../src/protocol";
import { PAGE, TreeState } from "../../src/tree/TreeState";
import { ReplayTransport, WideTransport } from "./replay";
import { Client } from "../../src/protocol";

function stateFor(transport: ReplayTransport | WideTransport, model: string) {
  const client = new Client(transport);
  return new TreeState(async (path, offset, limit) =>
    (await client.call({ op: "tree", model, path, depth: 1, offset, limit })).node as Node);
}

const paths = (state: TreeState) => state.rows().map((r) => r.node?.path ?? null);

describe("TreeState on the chapter's rgnet", () => {
  it("loads only the model and its direct children", async () => {
    const transport = new ReplayTransport();
    const state = stateFor(transport, "rgnet");
    await state.load();
    expect(paths(state)).toEqual(["", "0", "1"]);
    expect(state.root?.n_params).toBe(309);
    expect(transport.sent).toHaveLength(1);
  });

  it("expands level by level, with depths, and collapses", async () => {
    const state = stateFor(new ReplayTransport(), "rgnet");
    await state.load();
    await state.expand("0");
    await state.expand("0.block 1");
    expect(paths(state)).toEqual(["", "0", "0.block 0", "0.block 1", "0.block 1.0", "0.block 1.1", "0.block 1.2",
      "0.block 1.3", "0.block 2", "0.block 3", "1"]);
    expect(state.rows().find((r) => r.node?.path === "0.block 1.0")!.depth).toBe(3);
    state.collapse("0");
    expect(paths(state)).toEqual(["", "0", "1"]);
    await state.expand("0");
    expect(paths(state)).toContain("0.block 1.0"); // still expanded inside
  });

  it("reveals a deep parameter by expanding its blocks", async () => {
    const state = stateFor(new ReplayTransport(), "rgnet");
    await state.load();
    expect(await state.reveal("0.block 2.0.weight")).toBe(true);
    expect(paths(state)).toContain("0.block 2.0.weight");
    expect(await state.reveal("0.block 7.0.weight")).toBe(false);
  });

  it("refresh keeps what is expanded and swaps in new answers whole", async () => {
    const transport = new ReplayTransport();
    const state = stateFor(transport, "rgnet");
    await state.load();
    await state.expand("0");
    await state.expand("0.block 0");
    const before = paths(state);
    await state.refresh();
    expect(paths(state)).toEqual(before);
  });

  it("leaves the state as it was when a refresh fails", async () => {
    const transport = new ReplayTransport();
    const state = stateFor(transport, "rgnet");
    await state.load();
    await state.expand("0");
    const before = paths(state);
    transport.request = async () => {
      throw new Error("kernel gone");
    };
    await expect(state.refresh()).rejects.toThrow("kernel gone");
    expect(paths(state)).toEqual(before);
  });
});

describe("TreeState paging", () => {
  it("asks for one page of a 10,000-child block and fills placeholders on demand", async () => {
    const transport = new WideTransport(10_000);
    const state = stateFor(transport, "wide");
    await state.load();
    const rows = state.rows();
    expect(rows).toHaveLength(10_001);
    expect(rows.filter((r) => r.node !== null)).toHaveLength(PAGE + 1);
    expect(rows[PAGE + 1].node).toBeNull();
    await state.ensureLoaded(9_990, 10_001);
    expect(transport.sent.map((r) => r.op === "tree" && r.offset)).toEqual([0, 9_800]);
    expect(state.rows()[10_000].node?.path).toBe("9999");
  });

  it("reveals a child on a page that is not loaded yet", async () => {
    const state = stateFor(new WideTransport(1_000), "wide");
    await state.load();
    expect(await state.reveal("777.bias")).toBe(true);
    expect(paths(state)).toContain("777.bias");
  });
});
