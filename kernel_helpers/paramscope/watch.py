"""Training watch: every N steps, record scalar statistics of each parameter and its gradient in a ring buffer.

A step is one forward pass of the model. Value statistics are taken as the step's forward starts; gradient
statistics as soon as the framework reports the step's gradient final (PyTorch: after accumulation in
backward; Keras, where a step is a fit batch or an optimizer apply: as it applies them; MXNet: at next forward).
"""

from __future__ import annotations

import contextlib
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

from ._errors import ActionError
from .actions import require_adapter
from .stats import summary
from .tree import TensorEntry

_WATCHES: dict[int, Watch] = {}


class Watch:
    """Handle returned by `ps.watch(model)`: `.records` (newest last), `.poll(since)`, `.stop()`."""

    def __init__(self, model: Any, every: int, max_records: int, root: str) -> None:
        self.every = every
        self.step = 0
        self.records: deque[dict[str, Any]] = deque(maxlen=max_records)
        self._seq = 0
        self._adapter = require_adapter(model)
        self._index = self._adapter.index(model, root)
        self._model = weakref.ref(model)
        self._remove: Callable[[], None] | None = self._adapter.hook_steps(
            model, self._index, self._on_forward, self._on_grads)

    @property
    def active(self) -> bool:
        return self._remove is not None

    def _params(self) -> list[TensorEntry]:
        return self._index.unique_params("")

    def _on_forward(self) -> None:
        self.step += 1
        if (self.step - 1) % self.every:
            return
        values = {e.path: s for e in self._params() if (s := summary(self._adapter, e)) is not None}
        self.records.append({"seq": self._seq, "step": self.step, "time": time.time(), "values": values,
                             "grads": {}})
        self._seq += 1

    def _on_grads(self, entries: list[TensorEntry]) -> None:
        # Gradients belong to the step whose forward was recorded last, if that step is a recorded one.
        if not self.records or self.records[-1]["step"] != self.step:
            return
        grads = self.records[-1]["grads"]
        for entry in entries:
            stats = summary(self._adapter, entry, grad=True)
            if stats is not None:
                grads[entry.path] = stats

    def poll(self, since: int = 0) -> dict[str, Any]:
        """Records with `seq >= since`; `next` is what to pass as `since` next time."""
        return {
            "active": self.active,
            "every": self.every,
            "step": self.step,
            "records": [r for r in self.records if r["seq"] >= since],
            "next": self._seq,
        }

    def stop(self) -> None:
        """Remove the hooks; the records stay readable."""
        if self._remove is not None:
            self._remove()
            self._remove = None
        model = self._model()
        if model is not None and _WATCHES.get(id(model)) is self:
            del _WATCHES[id(model)]

    def __repr__(self) -> str:
        state = "watching" if self.active else "stopped"
        return f"<paramscope.Watch {state}, every {self.every} steps, {len(self.records)} records>"


def watch(model: Any, every: int = 10, *, max_records: int = 1000, root: str = "net") -> Watch:
    """Start recording statistics every `every` steps (replacing an earlier watch of the same model)."""
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ActionError(f"every must be a positive integer (steps between records), got {every!r}")
    if isinstance(max_records, bool) or not isinstance(max_records, int) or max_records < 1:
        raise ActionError(f"max_records must be a positive integer, got {max_records!r}")
    earlier = current(model)
    if earlier is not None:
        earlier.stop()
    handle = Watch(model, every, max_records, root)
    _WATCHES[id(model)] = handle
    with contextlib.suppress(TypeError):  # not weak-referenceable: kept until stop()
        weakref.finalize(model, _WATCHES.pop, id(model), None)
    return handle


def current(model: Any) -> Watch | None:
    """The active watch of `model`, if any."""
    return _WATCHES.get(id(model))
