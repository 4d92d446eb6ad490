/** paramscope's protocol in a notebook's kernel: finds the kernel through the Jupyter extension's API, runs one
 * silent line per request and reads the answer back. A request is data (base64 JSON), never Python source. */

import * as vscode from "vscode";
import type { Request, Response } from "../../src/protocol";
import { JUPYTER_EXTENSION_ID, type Jupyter, type Kernel, type Output } from "./jupyter";

export const MIME = "application/vnd.paramscope+json";
const ERROR_MIME = "application/vnd.code.notebook.error";
const TEXT_MIME = "text/plain";
// A kernel busy with a long cell answers only when the cell is done; past this, say so instead of waiting.
const TIMEOUT_MS = 120_000;

export type Unavailability = "no-jupyter" | "no-kernel" | "not-python" | "not-installed" | "failed";

/** Why a request did not reach paramscope in the kernel; the message says what to do. */
export class KernelUnavailable extends Error {
  constructor(readonly reason: Unavailability, message: string, readonly language = "") {
    super(message);
    this.name = "KernelUnavailable";
  }
}

/** The one line the kernel runs: paramscope.protocol.call on the base64-encoded JSON request. */
export function handlerCall(request: Request): string {
  return `__import__("paramscope.protocol", fromlist=["call"]).call("${toBase64(JSON.stringify(request))}")`;
}

function toBase64(text: string): string {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** The protocol response in the outputs of one handler call (its MIME JSON, else its text/plain JSON). */
export function readAnswer(outputs: Output[]): Response {
  const items = outputs.flatMap((output) => output.items);
  const text = (mime: string) => items.filter((item) => item.mime === mime).map((item) => new TextDecoder().decode(item.data));
  const [rich] = text(MIME);
  if (rich !== undefined) return JSON.parse(rich) as Response;
  for (const plain of text(TEXT_MIME)) {
    const parsed = parseResponse(plain);
    if (parsed) return parsed;
  }
  const [error] = text(ERROR_MIME);
  if (error !== undefined) {
    const { name = "Error", message = "" } = JSON.parse(error) as { name?: string; message?: string };
    if (name === "ModuleNotFoundError" && message.includes("paramscope")) {
      throw new KernelUnavailable("not-installed", vscode.l10n.t("paramscope is not installed in this notebook's kernel. Run `%pip install paramscope` in a cell (or install it into the kernel's environment), then press Refresh."));
    }
    throw new KernelUnavailable("failed", vscode.l10n.t("The kernel could not run paramscope: {0}: {1}", name, message));
  }
  throw new KernelUnavailable("failed", vscode.l10n.t("The kernel gave no answer to paramscope (was the output cleared or the kernel restarted?)"));
}

function parseResponse(text: string): Response | null {
  try {
    const value = JSON.parse(text) as unknown;
    return typeof value === "object" && value !== null && "ok" in value ? (value as Response) : null;
  } catch {
    return null;
  }
}

/** Requests to paramscope in one started kernel. */
export class KernelSession {
  constructor(readonly kernel: Kernel, private readonly timeoutMs = TIMEOUT_MS) {}

  /** A cell is running: requests wait until it is done. */
  get busy(): boolean {
    return this.kernel.status === "busy";
  }

  async request(request: Request): Promise<Response> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new KernelUnavailable("failed",
        vscode.l10n.t("No answer from the kernel after {0} s: is it busy running a cell?", this.timeoutMs / 1000))), this.timeoutMs);
    });
    try {
      return await Promise.race([this.execute(request), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async execute(request: Request): Promise<Response> {
    // Never cancelled: cancelling interrupts the kernel, which would also stop the user's running cell.
    const token = new vscode.CancellationTokenSource().token;
    const outputs: Output[] = [];
    for await (const output of this.kernel.executeCode(handlerCall(request), token)) outputs.push(output);
    return readAnswer(outputs);
  }
}

/** The paramscope session of the notebook's started Python kernel; throws KernelUnavailable saying why not. */
export async function connect(notebook: vscode.Uri): Promise<KernelSession> {
  const extension = vscode.extensions.getExtension<Jupyter | undefined>(JUPYTER_EXTENSION_ID);
  if (!extension) {
    throw new KernelUnavailable("no-jupyter",
      vscode.l10n.t("The Jupyter extension ({0}) is not installed: install it from the Extensions view.", JUPYTER_EXTENSION_ID));
  }
  const api = extension.isActive ? extension.exports : await extension.activate();
  if (!api?.kernels) {
    throw new KernelUnavailable("no-jupyter", vscode.l10n.t("This version of the Jupyter extension has no kernels API: update it."));
  }
  const kernel = await api.kernels.getKernel(notebook);
  if (!kernel || kernel.status === "dead") {
    throw new KernelUnavailable("no-kernel", vscode.l10n.t("No kernel is running for this notebook: select a kernel and run a cell."));
  }
  if (kernel.language.toLowerCase() !== "python") {
    throw new KernelUnavailable("not-python",
      vscode.l10n.t("This notebook's kernel runs {0}; paramscope needs a Python kernel.", kernel.language), kernel.language);
  }
  return new KernelSession(kernel);
}
