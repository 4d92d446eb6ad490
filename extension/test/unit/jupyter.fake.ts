/** Typed fake of the Jupyter extension's kernels API (src/jupyter.ts): kernels per notebook that decode
 * paramscope's one-line call like Python would and answer with the outputs a test gives. */

import type { CancellationToken, Uri } from "vscode";
import type { ModelSummary, Request, Response } from "../../../src/protocol";
import type { Jupyter, Kernel, KernelStatus, Output } from "../../src/jupyter";
import { MIME } from "../../src/kernel";
import { EventEmitter, type FakeExtension } from "./vscode.fake";

const CALL = /^__import__\("paramscope\.protocol", fromlist=\["call"\]\)\.call\("([A-Za-z0-9+/=]*)"\)$/;

/** The request inside a handler call, decoded as `paramscope.protocol.call` does (base64 of UTF-8 JSON). */
export function decodeCall(code: string): Request {
  const encoded = CALL.exec(code)?.[1];
  if (encoded === undefined) throw new Error(`not a paramscope handler call: ${code}`);
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0)))) as Request;
}

export const text = (mime: string, value: string) => ({ mime, data: new TextEncoder().encode(value) });

/** The outputs of a handler call that answered `response`, as the Jupyter extension hands them over. */
export function answerOutputs(response: Response): Output[] {
  const json = JSON.stringify(response);
  return [{ items: [text(MIME, json), text("text/plain", json)] }];
}

/** The outputs of a cell that raised. */
export function errorOutputs(name: string, message: string): Output[] {
  return [{ items: [text("application/vnd.code.notebook.error", JSON.stringify({ name, message, stack: "" }))] }];
}

export class FakeKernel implements Kernel {
  status: KernelStatus = "idle";
  readonly code: string[] = [];
  readonly tokens: CancellationToken[] = [];
  readonly statusChanged = new EventEmitter<KernelStatus>();
  readonly onDidChangeStatus = this.statusChanged.event;

  constructor(private readonly reply: (request: Request) => Output[] | Promise<Output[]>, readonly language = "python") {}

  get requests(): Request[] {
    return this.code.map(decodeCall);
  }

  async *executeCode(code: string, token: CancellationToken): AsyncIterable<Output> {
    this.code.push(code);
    this.tokens.push(token);
    yield* await this.reply(decodeCall(code));
  }
}

/** A kernel holding the given models that answers `models` and echoes every other request as its result. */
export function kernelWithModels(...names: string[]): FakeKernel {
  return new FakeKernel((request) => answerOutputs(request.op === "models"
    ? { id: request.id, ok: true, result: { models: names.map(summary), version: 1 }, revision: null }
    : { id: request.id, ok: true, result: { echo: request }, revision: 0 }));
}

export function summary(name: string): ModelSummary {
  return { name, framework: "pytorch", type: "Sequential", n_params: 309, n_buffers: 0, nbytes: 1236, device: "cpu",
    dtype: "float32", state: "ready", revision: 0 };
}

/** The Jupyter extension: `kernels` maps a notebook's uri (toString) to its started kernel. */
export function jupyterExtension(kernels: Map<string, Kernel>, active = true): FakeExtension & { activations: number } {
  const api: Jupyter = { kernels: { getKernel: async (uri: Uri) => kernels.get(uri.toString()) } };
  const extension = {
    isActive: active,
    exports: active ? api : undefined,
    activations: 0,
    async activate() {
      extension.activations++;
      extension.isActive = true;
      extension.exports = api;
      return api;
    },
  };
  return extension;
}
