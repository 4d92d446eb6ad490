"""Live watch updates pushed to front ends while the training cell still runs (the kernel cannot answer requests then).

Each push is `{"event": "watch", "model": name, "state": <watch_poll result>}` with the records that are new or
still changing. Sinks: open inline widgets (their anywidget comm) and the JupyterLab sidebar, which opens a
comm to the target `paramscope.watch` that importing paramscope registers in an IPython kernel. Comm messages
go out on iopub at once, from whichever thread trains, so the front end draws them during the cell.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

COMM_TARGET = "paramscope.watch"
# Hosts with neither (VS Code's Jupyter API has no comm) read the push from the running cell's outputs: one
# display per watch and cell, updated in place, with a line of text for the notebook itself.
DISPLAY_MIME = "application/vnd.paramscope.watch+json"
# At most this many pushes per second per watch: drawing needs no more, and each push costs the kernel a send.
MAX_RATE = 10.0

# Called with (model, payload); a widget listens for its own model, the comms forward everything.
_SINKS: list[Callable[[Any, dict[str, Any]], None]] = []
_COMMS: list[Any] = []
_LOCK = threading.Lock()


def on_push(sink: Callable[[Any, dict[str, Any]], None]) -> Callable[[], None]:
    """Call `sink(model, payload)` for each watch push; returns the unsubscribe function."""
    _SINKS.append(sink)
    return lambda: _SINKS.remove(sink) if sink in _SINKS else None


def listening() -> bool:
    """Whether any front end takes pushes (a watch with none pays nothing for them)."""
    return bool(_SINKS or _COMMS)


def push(model: Any, name: str | None, state: dict[str, Any]) -> None:
    payload = {"event": "watch", "model": name, "state": state}
    for sink in list(_SINKS):
        with contextlib.suppress(Exception):  # a closed widget must not break the user's training loop
            sink(model, payload)
    if name is None or not _COMMS:
        return
    data = strict_json(payload)
    with _LOCK:
        comms = list(_COMMS)
    for comm in comms:
        with contextlib.suppress(Exception):
            comm.send(data)


def strict_json(payload: dict[str, Any]) -> Any:
    """`payload` as the browser's JSON.parse accepts it (NaN/Infinity become null)."""
    from .protocol import to_json  # protocol imports the watch, which imports this module

    return json.loads(to_json(payload))  # type: ignore[arg-type]


_SHOWN: dict[str, int] = {}  # display id -> the execution count of the cell it was shown in


def show_in_cell(key: int, name: str | None, state: dict[str, Any]) -> None:
    """Put the push into the output of the cell that runs now (update it, after the first one of the cell)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None:
        return
    from IPython.display import display, update_display

    display_id = f"paramscope-watch-{key:x}"
    flagged = len(state.get("flags", {}))
    text = (f"paramscope: watching {name}, step {state['step']}" + (f", {flagged} flagged" if flagged else "") +
            " (live in the paramscope view)")
    bundle = {DISPLAY_MIME: strict_json({"event": "watch", "model": name, "state": state}), "text/plain": text}
    count = shell.execution_count
    with contextlib.suppress(Exception):  # output must never break the user's training loop
        if _SHOWN.get(display_id) == count:
            update_display(bundle, raw=True, display_id=display_id)
        else:
            display(bundle, raw=True, display_id=display_id)
            _SHOWN[display_id] = count


def _opened(comm: Any, _msg: Any) -> None:
    with _LOCK:
        _COMMS.append(comm)

    def closed(_msg: Any) -> None:
        with _LOCK:
            if comm in _COMMS:
                _COMMS.remove(comm)

    comm.on_close(closed)


def register_comm_target() -> None:
    """Let front ends open `paramscope.watch` comms in this IPython kernel (nothing happens outside one)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    kernel = getattr(shell, "kernel", None)
    manager = getattr(kernel, "comm_manager", None)
    if manager is None:
        return
    with contextlib.suppress(Exception):
        manager.register_target(COMM_TARGET, _opened)
        _flush_after_cells()


class Throttle:
    """Lets a push through at most MAX_RATE times a second. One that had to wait goes out with the next step
    past the interval, or when the cell ends (IPython's post_execute), so the front end gets the last step of a
    burst; no thread is started (a timer thread per push costs a training loop more than the push)."""

    def __init__(self, send: Callable[[], None]) -> None:
        self._send = send
        self._last = 0.0
        self._pending = False
        self._lock = threading.Lock()

    def __call__(self, now: float) -> None:
        with self._lock:
            if now - self._last < 1.0 / MAX_RATE:
                if not self._pending:
                    self._pending = True
                    _WAITING.add(self)
                return
            self._last = now
            self._pending = False
        self._send()

    def flush(self) -> None:
        with self._lock:
            if not self._pending:
                return
            self._pending = False
            self._last = time.monotonic()
        self._send()

    def cancel(self) -> None:
        with self._lock:
            self._pending = False


_WAITING: weakref.WeakSet[Throttle] = weakref.WeakSet()


def _after_cell(*_args: Any) -> None:
    for throttle in list(_WAITING):
        _WAITING.discard(throttle)
        with contextlib.suppress(Exception):
            throttle.flush()


def _flush_after_cells() -> None:
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is not None and _after_cell not in shell.events.callbacks.get("post_execute", []):
        shell.events.register("post_execute", _after_cell)
