import { Client, KernelError, type Node, type Request, type Response } from "../../src/protocol";
import { exchanges } from "./replay";

// Every field of Node in src/protocol.ts; the kernel must send exactly these (children only when expanded).
const NODE_FIELDS = [
  "path", "name", "kind", "type", "shape", "dtype", "device", "trainable", "state", "numel", "nbytes", "n_params",
  "n_params_with_aliases", "n_buffers", "tied_to", "aliases", "has_grad", "n_children", "code", "alt_name", "children_offset",
].sort();

function nodesOf(node: Node): Node[] {
  return [node, ...(node.children ?? []).flatMap(nodesOf)];
}

describe("the recorded kernel answers match the TypeScript types", () => {
  const trees = exchanges.filter((e) => e.request.op === "tree" && e.response.ok);

  it("has tree answers for every block of rgnet", () => {
    const paths = trees.map((e) => e.request.path);
    expect(paths).toEqual(expect.arrayContaining(["", "0", "1", "0.block 0", "0.block 3.2"]));
  });

  it("sends every Node field and nothing else", () => {
    for (const exchange of trees) {
      const { node } = (exchange.response as { result: { node: Node } }).result;
      for (const n of nodesOf(node)) {
        expect(Object.keys(n).filter((k) => k !== "children").sort()).toEqual(NODE_FIELDS);
        expect(["model", "block", "param", "buffer"]).toContain(n.kind);
        expect(["ready", "lazy", "meta", "deferred", "unbuilt"]).toContain(n.state);
      }
    }
  });

  it("counts a tied layer once", () => {
    const net = trees.find((e) => e.request.model === "net" && e.request.path === "")!;
    const root = (net.response as { result: { node: Node } }).result.node;
    expect(root.n_params).toBe(4 * 8 + 8 + 8 * 8 + 8 + 8 + 1);
    expect(root.n_params_with_aliases).toBe(root.n_params + 8 * 8 + 8);
    expect(root.children!.find((c) => c.path === "4")!.tied_to).toBe("2");
  });

  it("gives errors as {ok: false, error: {type, message}} with the model's revision", () => {
    const tie = exchanges.find((e) => e.request.op === "tie" && !e.response.ok)!.response;
    expect(tie).toMatchObject({ ok: false, error: { type: "ActionError" }, revision: 0 });
    if (!tie.ok) expect(tie.error.message).toMatch(/shapes differ/);
  });
});

describe("Client", () => {
  function echo(response: (req: Request) => Response) {
    const sent: Request[] = [];
    return { sent, transport: { request: async (req: Request) => (sent.push(req), response(req)) } };
  }

  it("numbers requests and returns the result", async () => {
    const { sent, transport } = echo((req) => ({ id: req.id, ok: true, result: { catalogue: [], custom: ["my_init"] }, revision: 3 }));
    const client = new Client(transport);
    const result = await client.call({ op: "initializers", model: "net" });
    await client.call({ op: "initializers", model: "net" });
    expect(result.custom).toEqual(["my_init"]);
    expect(sent.map((r) => r.id)).toEqual([1, 2]);
  });

  it("throws KernelError with the kernel's message and still reports the revision", async () => {
    const { transport } = echo((req) => ({ id: req.id, ok: false, error: { type: "ActionError", message: "shapes differ" }, revision: 7 }));
    const client = new Client(transport);
    const seen: number[] = [];
    client.onRevision((r) => seen.push(r));
    const failure = client.call({ op: "tie", model: "net", path: "0.weight", to: "2.weight" });
    await expect(failure).rejects.toBeInstanceOf(KernelError);
    await expect(failure).rejects.toMatchObject({ type: "ActionError", message: "shapes differ" });
    expect(seen).toEqual([7]);
  });
});
