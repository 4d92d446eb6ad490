import type { KernelMessage } from "@jupyterlab/services";
import type { Request } from "../../src/protocol";
import { Client, KernelError } from "../../src/protocol";
import { callExpression, KernelTransport, MIME, NotInstalledError, readReply, toBase64 } from "../../src/lab/transport";
import { FakeKernel } from "./labKernel";

const decode = (b64: string) => new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));

describe("KernelTransport", () => {
  it("sends one silent execute that never enters the history, with the request only as base64 data", async () => {
    const kernel = new FakeKernel();
    const client = new Client(new KernelTransport(kernel));
    const { models } = await client.call({ op: "models" });
    expect(models.map((m) => m.name)).toEqual(["rgnet"]);
    expect(kernel.executes).toHaveLength(1);
    const [content] = kernel.executes;
    expect(content).toMatchObject({ code: "", silent: true, store_history: false, allow_stdin: false, stop_on_error: false });
    expect(Object.keys(content.user_expressions ?? {})).toEqual(["paramscope"]);
  });

  it("keeps hostile names out of the Python source: quotes, newlines and non-ASCII travel base64-encoded", () => {
    const model = 'x"); __import__("os").system("echo pwned") #\nü→';
    const expression = callExpression({ id: 7, op: "tree", model, path: "" } as Request);
    const match = /^__import__\("paramscope\.protocol", fromlist=\["call"\]\)\.call\("([A-Za-z0-9+/=]+)"\)$/.exec(expression);
    expect(match).not.toBeNull();
    expect(JSON.parse(decode(match![1]))).toEqual({ id: 7, op: "tree", model, path: "" });
    expect(toBase64("ü")).toBe("w7w=");
  });

  it("round-trips a real recorded answer, revision included", async () => {
    const kernel = new FakeKernel();
    const client = new Client(new KernelTransport(kernel));
    const revisions: number[] = [];
    client.onRevision((r) => revisions.push(r));
    const { node } = await client.call({ op: "tree", model: "rgnet", path: "", depth: 1, offset: 0, limit: 200 });
    expect(node.n_params).toBe(309);
    expect(node.children?.map((c) => c.path)).toEqual(["0", "1"]);
    expect(revisions).toEqual([0]);
  });

  it("says how to install paramscope when the kernel cannot import it", async () => {
    const kernel = new FakeKernel();
    kernel.importError = { ename: "ModuleNotFoundError", evalue: "No module named 'paramscope'" };
    const error = await new KernelTransport(kernel).request({ id: 1, op: "models" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotInstalledError);
    expect((error as Error).message).toContain("%pip install paramscope");
  });

  it("reports other failures of the expression, refusals of the kernel and answers without the MIME type", () => {
    const wrap = (content: unknown) => ({ content } as unknown as KernelMessage.IExecuteReplyMsg);
    expect(() => readReply(wrap({ status: "ok", user_expressions: { paramscope: { status: "error", ename: "MemoryError", evalue: "" } } })))
      .toThrow("MemoryError");
    expect(() => readReply(wrap({ status: "aborted" }))).toThrow("did not run the request (aborted)");
    expect(() => readReply(wrap({ status: "ok", user_expressions: { paramscope: { status: "ok", data: { "text/plain": "1" } } } })))
      .toThrow("older version");
    const answer = { id: 3, ok: false, error: { type: "ActionError", message: "no model named 'x'" }, revision: null };
    expect(readReply(wrap({ status: "ok", user_expressions: { paramscope: { status: "ok", data: { [MIME]: answer } } } })))
      .toEqual(answer);
  });

  it("passes the kernel's refusals on as KernelError", async () => {
    const kernel = new FakeKernel();
    kernel.replay.request = async (req) => ({ id: req.id, ok: false, error: { type: "ActionError", message: "gone" }, revision: null });
    const error = await new Client(new KernelTransport(kernel)).call({ op: "history", model: "rgnet" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KernelError);
    expect((error as KernelError).type).toBe("ActionError");
  });

  it("counts requests waiting behind a busy kernel", async () => {
    const kernel = new FakeKernel();
    const counts: number[] = [];
    const transport = new KernelTransport(kernel, (n) => counts.push(n));
    kernel.hold();
    const first = transport.request({ id: 1, op: "models" });
    const second = transport.request({ id: 2, op: "models" });
    expect(transport.pending).toBe(2);
    kernel.release();
    await Promise.all([first, second]);
    expect(transport.pending).toBe(0);
    expect(counts).toEqual([1, 2, 1, 0]);
  });
});
