/** Reads a kernel's message stream for what the sidebar cares about: a user's cell started or finished, an
 * inline widget changed a model, the kernel restarted. Silent executes (the sidebar's own) broadcast no
 * `execute_input`, so they never count as cells. */

import type { Kernel, KernelMessage } from "@jupyterlab/services";
import type { ISignal } from "@lumino/signaling";

/** The part of a kernel connection the watcher listens to (Kernel.IKernelConnection has it). */
export interface WatchedKernel {
  readonly status: Kernel.Status;
  readonly anyMessage: ISignal<unknown, Kernel.IAnyMessageArgs>;
  readonly statusChanged: ISignal<unknown, Kernel.Status>;
}

export interface WatcherEvents {
  /** A cell (from any client of this kernel) is running (true) or none is any more (false). */
  cellBusy(busy: boolean): void;
  /** A cell finished: models may have been created, changed or deleted. */
  cellDone(): void;
  /** An inline widget's action changed a model (its answer went out on iopub). */
  widgetAction(): void;
  /** The kernel is restarting or dead (true), or is back and idle (false). */
  restarting(restarting: boolean): void;
}

const GONE: Kernel.Status[] = ["restarting", "autorestarting", "dead", "terminating"];

export class KernelWatcher {
  private readonly cells = new Set<string>();
  private down = false;

  constructor(private readonly kernel: WatchedKernel, private readonly events: WatcherEvents) {
    kernel.anyMessage.connect(this.onMessage, this);
    kernel.statusChanged.connect(this.onStatus, this);
  }

  get busy(): boolean {
    return this.cells.size > 0;
  }

  dispose(): void {
    this.kernel.anyMessage.disconnect(this.onMessage, this);
    this.kernel.statusChanged.disconnect(this.onStatus, this);
    this.cells.clear();
  }

  private onMessage(_: unknown, { msg, direction }: Kernel.IAnyMessageArgs): void {
    if (direction !== "recv" || msg.channel !== "iopub") return;
    const parent = (msg.parent_header as Partial<KernelMessage.IHeader>).msg_id;
    switch (msg.header.msg_type) {
      case "execute_input":
        if (parent === undefined) return;
        this.cells.add(parent);
        if (this.cells.size === 1) this.events.cellBusy(true);
        break;
      case "status":
        if ((msg.content as { execution_state?: string }).execution_state !== "idle") return;
        if (parent === undefined || !this.cells.delete(parent)) return;
        if (this.cells.size === 0) this.events.cellBusy(false);
        this.events.cellDone();
        break;
      case "comm_msg":
        if (isWidgetMutation((msg.content as { data?: unknown }).data)) this.events.widgetAction();
        break;
    }
  }

  private onStatus(_: unknown, status: Kernel.Status): void {
    if (GONE.includes(status)) {
      if (this.cells.size) this.events.cellBusy(false);
      this.cells.clear();
      if (!this.down) {
        this.down = true;
        this.events.restarting(true);
      }
    } else if (status === "idle" && this.down) {
      this.down = false;
      this.events.restarting(false);
    }
  }
}

/** An anywidget custom message carrying a paramscope answer to an action (reinit/set/tie/untie/undo). */
function isWidgetMutation(data: unknown): boolean {
  if (typeof data !== "object" || data === null) return false;
  const { method, content } = data as { method?: unknown; content?: unknown };
  if (method !== "custom" || typeof content !== "object" || content === null) return false;
  const { ok, revision, result } = content as { ok?: unknown; revision?: unknown; result?: unknown };
  if (ok !== true || typeof revision !== "number" || typeof result !== "object" || result === null) return false;
  return "action" in result || "undone" in result;
}
