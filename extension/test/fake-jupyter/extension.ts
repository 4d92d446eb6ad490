/** Test fake of the Jupyter extension (installed as ms-toolsai.jupyter in code-server for the UI test): every
 * notebook has a started Python "kernel" that answers paramscope's handler call from recorded kernel responses. */

import type { CancellationToken, Uri } from "vscode";
import fixture from "../../../tests/fixtures/torch_rgnet.json";
import type { Request, Response } from "../../../src/protocol";
import type { Jupyter, Kernel, KernelStatus, Output } from "../../src/jupyter";
import { MIME } from "../../src/kernel";

interface Exchange {
  request: Record<string, unknown> & { op: string };
  response: Response;
}

const exchanges = fixture.exchanges as unknown as Exchange[];
const ACTIONS = ["reinit", "set_value", "tie", "untie", "undo"];

/** A request in a canonical form (sorted keys, no id) for matching against the recording. */
function canonical(request: Record<string, unknown>): string {
  const { id: _id, ...rest } = request;
  const sort = (x: unknown): unknown =>
    Array.isArray(x) ? x.map(sort)
      : x && typeof x === "object" ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, sort(v)]))
        : x;
  return JSON.stringify(sort(rest));
}

/** Answers like the kernel that was recorded: each request with its recorded answer at the current revision. */
class RecordedKernel implements Kernel {
  status: KernelStatus = "idle";
  language = "python";
  readonly calls: Request[] = [];
  private revision = 0;

  onDidChangeStatus = () => ({ dispose() {} });

  async *executeCode(code: string, _token: CancellationToken): AsyncIterable<Output> {
    const encoded = /\.call\("([A-Za-z0-9+/=]*)"\)$/.exec(code)?.[1];
    if (encoded === undefined) throw new Error(`the fake kernel only runs paramscope's handler call, not ${code}`);
    const request = JSON.parse(Buffer.from(encoded, "base64").toString("utf8")) as Request;
    this.calls.push(request);
    yield { items: [{ mime: MIME, data: Buffer.from(JSON.stringify(this.answer(request))) }] };
  }

  private answer(request: Request): Response {
    const key = canonical(request as unknown as Record<string, unknown>);
    const matches = exchanges.filter((e) => canonical(e.request) === key);
    if (!matches.length) {
      return { id: request.id, ok: false, error: { type: "BadRequest", message: `not recorded: ${key}` }, revision: null };
    }
    const isAction = ACTIONS.includes(request.op);
    const pick = isAction
      ? matches.find((e) => e.response.ok && (e.response.revision ?? 0) > this.revision) ?? matches[matches.length - 1]
      : [...matches].reverse().find((e) => (e.response.revision ?? 0) <= this.revision) ?? matches[0];
    if (isAction && pick.response.ok) this.revision = pick.response.revision ?? this.revision;
    return { ...pick.response, id: request.id, revision: pick.response.revision === null ? null : this.revision };
  }
}

export function activate(): Jupyter {
  const kernels = new Map<string, RecordedKernel>();
  return {
    kernels: {
      getKernel: async (uri: Uri) => {
        const key = uri.toString();
        if (!kernels.has(key)) kernels.set(key, new RecordedKernel());
        return kernels.get(key);
      },
    },
  };
}
