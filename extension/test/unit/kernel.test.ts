/** The kernel module: the one-line handler call, reading answers (and failures) back, finding the kernel. */

import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Request } from "../../../src/protocol";
import { connect, handlerCall, KernelSession, KernelUnavailable, MIME, readAnswer } from "../../src/kernel";
import type { Output } from "../../src/jupyter";
import { answerOutputs, decodeCall, errorOutputs, FakeKernel, jupyterExtension, kernelWithModels, text } from "./jupyter.fake";
import { fake, Uri } from "./vscode.fake";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const PYTHON = `${ROOT}.venv/bin/python`;
const NOTEBOOK = Uri.file("/notebooks/chapter.ipynb") as unknown as import("vscode").Uri;

beforeEach(() => fake.reset());

describe("the handler call", () => {
  it("is one line that carries the request only as base64", () => {
    const request = { id: 7, op: "tree", model: 'net"); import os; os.system("boom', path: "0.weight\n", depth: 1 } as Request;
    const code = handlerCall(request);
    expect(code).toMatch(/^__import__\("paramscope\.protocol", fromlist=\["call"\]\)\.call\("[A-Za-z0-9+/=]+"\)$/);
    expect(code).not.toContain("os.system");
    expect(decodeCall(code)).toEqual(request);
  });

  it("keeps non-ASCII names intact (UTF-8 inside the base64)", () => {
    const request = { id: 1, op: "tree", model: "réseau_π", path: "couche·1" } as Request;
    expect(decodeCall(handlerCall(request))).toEqual(request);
  });
});

describe("reading the answer", () => {
  const response = { id: 3, ok: true as const, result: { models: [] }, revision: null };

  it("takes the paramscope MIME item", () => {
    expect(readAnswer(answerOutputs(response))).toEqual(response);
  });

  it("falls back to text/plain JSON when the MIME item is missing", () => {
    const outputs: Output[] = [{ items: [text("application/vnd.code.notebook.stdout", "hello\n")] },
      { items: [text("text/plain", JSON.stringify(response))] }];
    expect(readAnswer(outputs)).toEqual(response);
  });

  it("says how to install paramscope when the kernel lacks it", () => {
    const error = catching(() => readAnswer(errorOutputs("ModuleNotFoundError", "No module named 'paramscope'")));
    expect(error.reason).toBe("not-installed");
    expect(error.message).toContain("%pip install paramscope");
  });

  it("reports other kernel errors with their type", () => {
    const error = catching(() => readAnswer(errorOutputs("ModuleNotFoundError", "No module named 'numpy'")));
    expect(error.reason).toBe("failed");
    expect(error.message).toContain("ModuleNotFoundError: No module named 'numpy'");
  });

  it("reports an execution without an answer", () => {
    expect(catching(() => readAnswer([])).reason).toBe("failed");
    expect(catching(() => readAnswer([{ items: [text("text/plain", "'not json'")] }])).reason).toBe("failed");
  });
});

describe("a real IPython kernel", () => {
  it("answers the extension's exact line with paramscope's MIME output, and a kernel without paramscope says so", () => {
    expect(existsSync(PYTHON), `${PYTHON} is missing: run \`make setup\``).toBe(true);
    const setup = "import torch\nnet = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))";
    const tree = { id: 5, op: "tree", model: "net", path: "", depth: 1, offset: 0, limit: 200 } as Request;
    const codes = [setup, handlerCall({ id: 4, op: "models" }), handlerCall(tree),
      "import sys\nfor name in [m for m in sys.modules if m.split('.')[0] == 'paramscope']: sys.modules[name] = None",
      handlerCall({ id: 6, op: "models" })];
    const raw = JSON.parse(execFileSync(PYTHON, [fileURLToPath(new URL("kernel_outputs.py", import.meta.url))],
      { input: JSON.stringify(codes), encoding: "utf8", stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: "2" } })) as
      { items: { mime: string; text: string }[] }[][];
    const outputs = raw.map((outs) => outs.map((o) => ({ items: o.items.map((i) => text(i.mime, i.text)) })));

    expect(outputs[1][0].items.map((i) => i.mime)).toContain(MIME);
    const models = readAnswer(outputs[1]);
    expect(models).toMatchObject({ id: 4, ok: true, result: { models: [{ name: "net", framework: "pytorch", n_params: 49 }] } });
    const answer = readAnswer(outputs[2]);
    expect(answer).toMatchObject({ id: 5, ok: true, revision: 0, result: { node: { path: "", kind: "model", n_children: 3, code: "net" } } });
    expect(catching(() => readAnswer(outputs[4])).reason).toBe("not-installed");
  });
});

describe("a kernel session", () => {
  it("round-trips a request and never cancels the execution (that would interrupt the user's cell)", async () => {
    const kernel = kernelWithModels("rgnet");
    const response = await new KernelSession(kernel).request({ id: 9, op: "stats", model: "rgnet", path: "1.weight", bins: 48 });
    expect(response).toEqual({ id: 9, ok: true, result: { echo: { id: 9, op: "stats", model: "rgnet", path: "1.weight", bins: 48 } }, revision: 0 });
    expect(kernel.code).toHaveLength(1);
    expect(kernel.tokens[0].isCancellationRequested).toBe(false);
  });

  it("gives up waiting on a kernel that does not answer, saying why", async () => {
    const never = new FakeKernel(() => new Promise<Output[]>(() => undefined));
    never.status = "busy";
    const session = new KernelSession(never, 50);
    expect(session.busy).toBe(true);
    const error = await session.request({ id: 1, op: "models" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KernelUnavailable);
    expect((error as KernelUnavailable).message).toMatch(/No answer from the kernel after 0.05 s/);
  });
});

describe("finding the notebook's kernel", () => {
  it("says when the Jupyter extension is missing", async () => {
    expect((await rejection(connect(NOTEBOOK))).reason).toBe("no-jupyter");
  });

  it("activates the Jupyter extension when needed and finds the kernel of the notebook", async () => {
    const kernel = kernelWithModels("net");
    const jupyter = jupyterExtension(new Map([[NOTEBOOK.toString(), kernel]]), false);
    fake.extensions.set("ms-toolsai.jupyter", jupyter);
    const session = await connect(NOTEBOOK);
    expect(jupyter.activations).toBe(1);
    expect(session.kernel).toBe(kernel);
  });

  it("says when no kernel runs, when it died, and when it is not Python", async () => {
    const kernels = new Map<string, FakeKernel>();
    fake.extensions.set("ms-toolsai.jupyter", jupyterExtension(kernels));
    expect((await rejection(connect(NOTEBOOK))).reason).toBe("no-kernel");
    const dead = kernelWithModels();
    dead.status = "dead";
    kernels.set(NOTEBOOK.toString(), dead);
    expect((await rejection(connect(NOTEBOOK))).reason).toBe("no-kernel");
    kernels.set(NOTEBOOK.toString(), new FakeKernel(() => answerOutputs({ id: 0, ok: true, result: null, revision: null }), "R"));
    const error = await rejection(connect(NOTEBOOK));
    expect(error.reason).toBe("not-python");
    expect(error.message).toContain("runs R");
  });

  it("says when the Jupyter extension has no kernels API", async () => {
    fake.extensions.set("ms-toolsai.jupyter", { isActive: true, exports: {}, activate: async () => ({}) });
    expect((await rejection(connect(NOTEBOOK))).message).toContain("no kernels API");
  });
});

function catching(run: () => unknown): KernelUnavailable {
  try {
    run();
  } catch (error) {
    if (error instanceof KernelUnavailable) return error;
    throw error;
  }
  throw new Error("expected a KernelUnavailable");
}

async function rejection(promise: Promise<unknown>): Promise<KernelUnavailable> {
  const error = await promise.then(() => null, (e: unknown) => e);
  if (!(error instanceof KernelUnavailable)) throw new Error(`expected a KernelUnavailable, got ${String(error)}`);
  return error;
}
