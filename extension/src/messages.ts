/** Messages between the Models view's webview and the extension host, each `{type: ...}`, handled by one switch
 * on either side. Protocol requests travel inside them unchanged (see src/protocol.ts at the repository root). */

import type { ModelSummary, Request, Response, WatchPush } from "../../src/protocol";

/** What the view shows besides a model: the reason there is nothing to explore, or the kernel's models. */
export type ViewState =
  | { kind: "loading"; notebook: string | null }
  | { kind: "no-notebook" }
  | { kind: "no-jupyter"; message: string }
  | { kind: "no-kernel"; notebook: string }
  | { kind: "not-python"; notebook: string; language: string }
  | { kind: "not-installed"; notebook: string; message: string }
  | { kind: "error"; notebook: string; message: string }
  | { kind: "ready"; notebook: string; models: ModelSummary[]; busy: boolean };

/** From the webview to the extension host. */
export type ToHost =
  | { type: "ready" } // the script has loaded: send the state
  | { type: "request"; request: Request } // a protocol request for the kernel
  | { type: "insert"; id: number; code: string } // "copy as code": put `code` at the editor's cursor
  | { type: "select"; model: string } // the user picked a model in the view
  | { type: "refresh" };

/** From the extension host to the webview. */
export type ToWebview =
  | { type: "state"; state: ViewState; selected: string | null }
  | { type: "response"; response: Response } // the kernel's answer to a "request"
  | { type: "inserted"; id: number; message: string; ok: boolean }
  | { type: "refresh" } // cells ran: read the shown model again
  | { type: "reveal"; model: string }
  | { type: "watch"; push: WatchPush }; // a watch update read from the running cell's output
