/** The sidebar's live channel for training watches: a comm to the kernel's `paramscope.watch` target (which
 * importing paramscope registers). The kernel sends each watch update on it while the training cell runs;
 * comm messages travel on iopub, so they arrive during the cell, unlike answers to requests. */

import type { Kernel } from "@jupyterlab/services";
import type { WatchPush } from "../protocol";

export const COMM_TARGET = "paramscope.watch";

/** The part of a kernel connection the channel uses (Kernel.IKernelConnection has it). */
export interface CommKernel {
  readonly isDisposed: boolean;
  createComm(targetName: string): Kernel.IComm;
}

export class WatchChannel {
  private comm: Kernel.IComm | null = null;

  constructor(private readonly kernel: CommKernel, private readonly onPush: (push: WatchPush) => void) {}

  get isOpen(): boolean {
    return this.comm !== null;
  }

  /** Open the comm unless open; call once paramscope answered in the kernel (the target exists then). A kernel
   * without the target closes it again, and the next call tries anew. */
  ensure(): void {
    if (this.comm !== null && !this.comm.isDisposed) return; // a restart disposes the kernel's comms
    if (this.kernel.isDisposed) return;
    let comm: Kernel.IComm;
    try {
      comm = this.kernel.createComm(COMM_TARGET);
    } catch {
      return; // the kernel is going away
    }
    comm.onMsg = (msg) => {
      const data = msg.content.data as unknown;
      if (isPush(data)) this.onPush(data);
    };
    comm.onClose = () => {
      if (this.comm === comm) this.comm = null;
    };
    this.comm = comm;
    comm.open();
  }

  dispose(): void {
    const comm = this.comm;
    this.comm = null;
    if (comm && !comm.isDisposed && !this.kernel.isDisposed) {
      try {
        comm.close();
      } catch {
        // The kernel connection is already gone.
      }
    }
  }
}

export function isPush(data: unknown): data is WatchPush {
  if (typeof data !== "object" || data === null) return false;
  const push = data as Partial<WatchPush>;
  return push.event === "watch" && typeof push.model === "string" && typeof push.state === "object" && push.state !== null;
}
