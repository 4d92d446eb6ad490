import type { Request, Response } from "../../src/protocol";
import { ModelExplorer } from "../../src/tree/ModelExplorer";
import { explorerPage, flush, ReplayTransport } from "./replay";

/** The recorded kernel, except that the first plain undo is refused as the kernel refuses one whose changes the
 * user has edited since; an undo with force goes ahead (answered as the recorded undo). */
class ConflictTransport extends ReplayTransport {
  async request(req: Request): Promise<Response> {
    if (req.op === "undo" && !("force" in req)) {
      this.sent.push(req);
      const message = "cannot undo 'reinit 0 with normal': 0.weight has other values now (edited by hand). "
        + "Undoing would overwrite that: ps.undo(rgnet, force=True) puts the saved state back anyway";
      return { id: req.id, ok: false, error: { type: "UndoConflict", message }, revision: this.revision };
    }
    if (req.op === "undo") {
      const { force: _force, ...plain } = req as Request & { force?: boolean };
      const response = await super.request(plain as Request);
      this.sent[this.sent.length - 1] = req;
      return response.ok ? { ...response, result: { ...(response.result as object), forced: true, notes: [] } } : response;
    }
    return super.request(req);
  }
}

const page = explorerPage();

function click(el: Element | null | undefined) {
  expect(el).toBeTruthy();
  el!.dispatchEvent(new MouseEvent("click", { bubbles: true }));
}

describe("undo that would overwrite the user's later changes", () => {
  it("says what changed and offers Undo anyway, which undoes with force", async () => {
    const transport = new ConflictTransport();
    const view = new ModelExplorer(page.host, { transport, model: "rgnet" });
    await view.start();
    const row = page.host.querySelector<HTMLElement>('.jp-ParamScope-row[data-path="0"]')!;
    row.dispatchEvent(new MouseEvent("contextmenu", { bubbles: true }));
    click(page.host.querySelector('.jp-ParamScope-menu button[data-action="undo"]'));
    await flush(0);
    await view.settled();
    const banner = page.host.querySelector(".jp-ParamScope-banner")!;
    expect(banner.textContent).toContain("0.weight has other values now");
    expect(banner.textContent).toContain("Undo would overwrite later changes");
    const anyway = [...banner.querySelectorAll("button")].find((b) => b.textContent === "Undo anyway");
    expect(transport.ops("undo")).toEqual([expect.not.objectContaining({ force: true })]);
    click(anyway);
    await flush(0);
    await view.settled();
    expect(transport.ops("undo")).toHaveLength(2);
    expect(transport.ops("undo")[1]).toEqual(expect.objectContaining({ force: true }));
    expect(page.host.querySelector(".jp-ParamScope-banner")!.textContent).toMatch(/undid .* anyway/);
  });
});
