/** The webview's Transport: protocol requests as postMessage to the extension host, answers matched back.
 * Wire ids are the transport's own, so explorers of different models (each numbering from 1) never collide. */

import type { Request, Response, Transport } from "../../src/protocol";
import type { ToHost } from "../src/messages";

export class PostMessageTransport implements Transport {
  private nextId = 1;
  private readonly waiting = new Map<number, { id: number; resolve(response: Response): void }>();

  constructor(private readonly post: (message: ToHost) => void) {}

  request(req: Request): Promise<Response> {
    const wire = this.nextId++;
    return new Promise<Response>((resolve) => {
      this.waiting.set(wire, { id: req.id, resolve });
      this.post({ type: "request", request: { ...req, id: wire } });
    });
  }

  /** An answer from the host: hand it to its request, with the id that request carried. */
  receive(response: Response): void {
    if (typeof response.id !== "number") return;
    const waiter = this.waiting.get(response.id);
    if (!waiter) return;
    this.waiting.delete(response.id);
    waiter.resolve({ ...response, id: waiter.id });
  }
}
