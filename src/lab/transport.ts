/** The sidebar's Transport: each request is one silent kernel execution of a one-line call to
 * `paramscope.protocol.call`, with the request as base64 data and the answer read back from a user expression. */

import type { KernelMessage } from "@jupyterlab/services";
import type { Request, Response, Transport } from "../protocol";
import { __ } from "../tree/i18n";

export const MIME = "application/vnd.paramscope+json";
const EXPRESSION = "paramscope";

/** The part of a kernel connection the transport uses (Kernel.IKernelConnection has it). */
export interface ExecuteKernel {
  requestExecute(content: KernelMessage.IExecuteRequestMsg["content"]): {
    done: Promise<KernelMessage.IExecuteReplyMsg>;
  };
}

/** paramscope cannot be imported in the kernel: the panel says how to install it. */
export class NotInstalledError extends Error {
  constructor(detail: string) {
    super(__(
      "paramscope is not installed in this kernel's environment (%1). Install it there, e.g. run `%pip install paramscope` in a cell, then refresh.",
      detail));
    this.name = "NotInstalledError";
  }
}

/** UTF-8, then base64: the only place where anything from the UI enters Python source. */
export function toBase64(text: string): string {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** The Python expression the kernel evaluates for one request (its alphabet is [A-Za-z0-9+/=] inside quotes). */
export function callExpression(req: Request): string {
  return `__import__("paramscope.protocol", fromlist=["call"]).call("${toBase64(JSON.stringify(req))}")`;
}

/** Evaluates requests as user expressions of silent executes: never in the history, never counted. */
export class KernelTransport implements Transport {
  private pendingCount = 0;

  constructor(private readonly kernel: ExecuteKernel, private readonly onPending?: (pending: number) => void) {}

  /** Requests sent and not answered yet (they queue behind a running cell). */
  get pending(): number {
    return this.pendingCount;
  }

  async request(req: Request): Promise<Response> {
    this.setPending(this.pendingCount + 1);
    try {
      const future = this.kernel.requestExecute({
        code: "",
        silent: true,
        store_history: false,
        allow_stdin: false,
        // A cell that failed earlier must not abort the sidebar's requests queued behind it.
        stop_on_error: false,
        user_expressions: { [EXPRESSION]: callExpression(req) },
      });
      return readReply(await future.done);
    } finally {
      this.setPending(this.pendingCount - 1);
    }
  }

  private setPending(count: number): void {
    this.pendingCount = count;
    this.onPending?.(count);
  }
}

/** The protocol answer inside an execute reply, or the reason there is none. */
export function readReply(reply: KernelMessage.IExecuteReplyMsg): Response {
  const content = reply.content;
  if (content.status !== "ok") {
    const reason = content.status === "error" ? `${content.ename}: ${content.evalue}` : content.status;
    throw new Error(__("the kernel did not run the request (%1)", reason));
  }
  const value = content.user_expressions?.[EXPRESSION] as
    | { status: "ok"; data: Record<string, unknown> }
    | { status: "error"; ename: string; evalue: string }
    | undefined;
  if (!value) throw new Error(__("the kernel answered without evaluating the request"));
  if (value.status === "error") {
    if ((value.ename === "ModuleNotFoundError" || value.ename === "ImportError") && value.evalue.includes("'paramscope")) {
      throw new NotInstalledError(`${value.ename}: ${value.evalue}`);
    }
    throw new Error(`${value.ename}: ${value.evalue}`);
  }
  const answer = value.data[MIME];
  if (typeof answer !== "object" || answer === null) {
    throw new Error(__("the kernel's paramscope gave no protocol answer: is it an older version? Upgrade it in the kernel"));
  }
  return answer as Response;
}
