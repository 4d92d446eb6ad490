/** The Models view's state in one sentence that says what to do, in the page's language (src/tree/i18n.ts). */

import { __ } from "../../src/tree/i18n";
import type { ViewState } from "../src/messages";

export function describe(state: ViewState): string {
  switch (state.kind) {
    case "loading":
      return __("Waiting for the kernel: a cell is running…");
    case "no-notebook":
      return __("Open a Jupyter notebook: the models of its kernel show here.");
    case "no-jupyter":
    case "not-installed":
    case "error":
      // Worded (and translated) by the extension host.
      return state.message;
    case "no-kernel":
      return __("No kernel is running for %1: select a kernel and run a cell.", state.notebook);
    case "not-python":
      return __("The kernel of %1 runs %2; paramscope needs a Python kernel.", state.notebook, state.language);
    case "ready":
      // The view shows a ready kernel's models; this is for when it has none.
      return __("No models in %1 yet: create one in a cell.", state.notebook);
  }
}

/** The status line while a cell runs and the kernel cannot answer yet. */
export function busyText(): string {
  return __("A cell is running: paramscope answers when it is done");
}
