/** A fake kernel for the sidebar tests: it answers silent executes the way ipykernel does (a user expression
 * whose value carries the paramscope MIME bundle), from the recorded rgnet answers plus a settable model list;
 * replies can be held back to play a kernel busy with a long cell, and it emits iopub messages on demand. */

import type { Kernel, KernelMessage } from "@jupyterlab/services";
import { Signal } from "@lumino/signaling";
import type { ModelSummary, Request, Response } from "../../src/protocol";
import { MIME } from "../../src/lab/transport";
import { ReplayTransport } from "./replay";

export const rgnetSummary: ModelSummary = {
  name: "rgnet", framework: "pytorch", type: "Sequential", n_params: 309, n_buffers: 0, nbytes: 1236, device: "cpu",
  dtype: "float32", state: "ready", revision: 0,
};

type Content = KernelMessage.IExecuteRequestMsg["content"];

export class FakeKernel {
  readonly executes: Content[] = [];
  readonly requests: Request[] = [];
  readonly replay = new ReplayTransport();
  models: ModelSummary[] = [rgnetSummary];
  /** null: paramscope imports; otherwise the import error the user expression raises. */
  importError: { ename: string; evalue: string } | null = null;
  status: Kernel.Status = "idle";
  readonly anyMessage = new Signal<this, Kernel.IAnyMessageArgs>(this);
  readonly statusChanged = new Signal<this, Kernel.Status>(this);
  private held: (() => void)[] | null = null;
  private seq = 0;

  requestExecute(content: Content): { done: Promise<KernelMessage.IExecuteReplyMsg> } {
    this.executes.push(content);
    const done = new Promise<KernelMessage.IExecuteReplyMsg>((resolve, reject) => {
      const answer = () => this.answer(content).then(resolve, reject);
      if (this.held) this.held.push(answer);
      else answer();
    });
    return { done };
  }

  /** Requests of one op sent so far. */
  ops(op: string): Request[] {
    return this.requests.filter((r) => r.op === op);
  }

  /** Hold every answer until `release` (a long cell is running). */
  hold(): void {
    this.held = [];
  }

  release(): void {
    const held = this.held ?? [];
    this.held = null;
    held.forEach((answer) => answer());
  }

  /** iopub traffic of a user's cell: execute_input, then idle when `finish` is called. */
  startCell(): () => void {
    const id = `cell-${++this.seq}`;
    this.iopub("status", id, { execution_state: "busy" });
    this.iopub("execute_input", id, { code: "x = 1", execution_count: this.seq });
    return () => this.iopub("status", id, { execution_state: "idle" });
  }

  iopub(msgType: string, parentId: string, content: unknown): void {
    const msg = {
      channel: "iopub", header: { msg_id: `m-${++this.seq}`, msg_type: msgType, session: "s", username: "", date: "", version: "5.3" },
      parent_header: { msg_id: parentId, msg_type: "execute_request" }, metadata: {}, content,
    } as unknown as KernelMessage.IMessage;
    this.anyMessage.emit({ msg, direction: "recv" });
  }

  setStatus(status: Kernel.Status): void {
    this.status = status;
    this.statusChanged.emit(status);
  }

  private async answer(content: Content): Promise<KernelMessage.IExecuteReplyMsg> {
    const expression = (Object.values(content.user_expressions ?? {})[0] as string | undefined) ?? "";
    const match = /^__import__\("paramscope\.protocol", fromlist=\["call"\]\)\.call\("([A-Za-z0-9+/=]*)"\)$/.exec(expression);
    if (!match) throw new Error(`unexpected expression ${expression}`);
    if (this.importError) return reply({ status: "error", ...this.importError, traceback: [] });
    const bytes = Uint8Array.from(atob(match[1]), (c) => c.charCodeAt(0));
    const req = JSON.parse(new TextDecoder().decode(bytes)) as Request;
    this.requests.push(req);
    let response: Response;
    if (req.op === "models") {
      // rgnet's revision is the recording's: actions replayed through it move it on, as in the kernel.
      const models = this.models.map((m) => (m.name === "rgnet" ? { ...m, revision: this.replay.revision } : { ...m }));
      response = { id: req.id, ok: true, result: { models, version: 1 }, revision: null };
    } else {
      response = await this.replay.request(req);
    }
    return reply({ status: "ok", data: { [MIME]: response, "text/plain": JSON.stringify(response) }, metadata: {} });
  }
}

function reply(expression: unknown): KernelMessage.IExecuteReplyMsg {
  return {
    content: { status: "ok", execution_count: 0, user_expressions: { paramscope: expression } },
  } as unknown as KernelMessage.IExecuteReplyMsg;
}
