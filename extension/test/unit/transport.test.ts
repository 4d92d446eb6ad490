/** The webview's postMessage transport: requests out as {type: "request"}, answers back to the right caller. */

import type { Request, Response } from "../../../src/protocol";
import type { ToHost } from "../../src/messages";
import { PostMessageTransport } from "../../webview/transport";

it("numbers requests on the wire and restores each caller's id, so two explorers never mix up answers", async () => {
  const posted: ToHost[] = [];
  const transport = new PostMessageTransport((message) => posted.push(message));
  // Two explorers (two models) each start numbering at 1.
  const first = transport.request({ id: 1, op: "tree", model: "rgnet", path: "" } as Request);
  const second = transport.request({ id: 1, op: "tree", model: "net", path: "" } as Request);
  expect(posted).toEqual([
    { type: "request", request: { id: 1, op: "tree", model: "rgnet", path: "" } },
    { type: "request", request: { id: 2, op: "tree", model: "net", path: "" } },
  ]);
  const answer = (id: number, model: string): Response => ({ id, ok: true, result: { model }, revision: 0 });
  transport.receive(answer(2, "net"));
  transport.receive(answer(2, "net")); // a duplicate is ignored
  transport.receive(answer(1, "rgnet"));
  expect(await second).toEqual(answer(1, "net"));
  expect(await first).toEqual(answer(1, "rgnet"));
});
