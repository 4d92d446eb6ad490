/** The part of the Jupyter extension's public API (`ms-toolsai.jupyter`, its src/api.d.ts) that paramscope uses:
 * the kernel of an open notebook and silent code execution in it. */

import type { CancellationToken, Event, Uri } from "vscode";

export const JUPYTER_EXTENSION_ID = "ms-toolsai.jupyter";

export type KernelStatus =
  | "unknown"
  | "starting"
  | "idle"
  | "busy"
  | "terminating"
  | "restarting"
  | "autorestarting"
  | "dead";

/** One output item; text is UTF-8. Errors come as `application/vnd.code.notebook.error` ({name, message, stack}). */
export interface OutputItem {
  mime: string;
  data: Uint8Array;
}

export interface Output {
  items: OutputItem[];
  metadata?: Record<string, unknown>;
}

export interface Kernel {
  readonly status: KernelStatus;
  readonly language: string;
  readonly onDidChangeStatus: Event<KernelStatus>;
  /** Runs code without touching the execution count or history; yields outputs until the execution ends. */
  executeCode(code: string, token: CancellationToken): AsyncIterable<Output>;
}

export interface Kernels {
  /** The started kernel of an open notebook, else undefined. */
  getKernel(uri: Uri): Thenable<Kernel | undefined>;
}

export interface Jupyter {
  readonly kernels: Kernels;
}
