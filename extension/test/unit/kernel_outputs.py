"""Runs code in a real IPython kernel the way the Jupyter extension's `executeCode` does (not silent, no history)
and prints each execution's outputs as that extension hands them to other extensions: items of mime + text.

Reads a JSON list of code strings on stdin; prints a JSON list (one list of outputs per code string)."""

from __future__ import annotations

import json
import sys
from typing import Any

from jupyter_client.manager import start_new_kernel

ERROR_MIME = "application/vnd.code.notebook.error"
STDOUT_MIME = "application/vnd.code.notebook.stdout"


def _outputs(client: Any, code: str) -> list[dict[str, Any]]:
    msg_id = client.execute(code, silent=False, store_history=False)
    outputs: list[dict[str, Any]] = []
    while True:
        msg = client.get_iopub_msg(timeout=60)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind in ("execute_result", "display_data"):
            # JSON mimes arrive as objects; the Jupyter extension hands every item over as UTF-8 text.
            outputs.append({"items": [{"mime": mime, "text": value if isinstance(value, str) else json.dumps(value)}
                                      for mime, value in content["data"].items()]})
        elif kind == "error":
            error = {"name": content["ename"], "message": content["evalue"], "stack": "\n".join(content["traceback"])}
            outputs.append({"items": [{"mime": ERROR_MIME, "text": json.dumps(error)}]})
        elif kind == "stream":
            outputs.append({"items": [{"mime": STDOUT_MIME, "text": content["text"]}]})
        elif kind == "status" and content["execution_state"] == "idle":
            return outputs


def main() -> None:
    codes = json.load(sys.stdin)
    manager, client = start_new_kernel(kernel_name="python3")
    try:
        print(json.dumps([_outputs(client, code) for code in codes]))
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


if __name__ == "__main__":
    main()
