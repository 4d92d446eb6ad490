"""Training watch: every N steps, record scalar statistics of each parameter and its gradient in a ring buffer.

A step is one forward pass of the model. Value statistics are taken as the step's forward starts; gradient
statistics as soon as the framework reports the step's gradient final (PyTorch: after accumulation in
backward; Keras, where a step is a fit batch or an optimizer apply: as it applies them; MXNet: at next forward);
the update ratio of a recorded step when the next forward starts (the optimizer has applied it by then).

Nothing here keeps the model alive: the hooks (which the model holds) hold the recorder, the recorder holds the
model's index, and the `Watch` handle the user or the registry keeps holds only weak references to both.
"""

from __future__ import annotations

import contextlib
import csv
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

from . import actions, watch_push
from ._errors import ActionError
from .adapters import Adapter
from .stats import tensor_stats
from .tree import ModelIndex, TensorEntry
from .watch_stats import STATISTICS, UpdateTracker, flags, scalars

_WATCHES: dict[int, Watch] = {}  # running watches, by id(model)
_STOPPED: dict[int, Watch] = {}  # the last stopped watch of each model, whose records front ends still show
HIST_BINS = 24
_COLUMNS = ("numel", "mean", "std", "rms", "norm", "zeros", "nan", "inf")


class Watch:
    """Handle returned by `ps.watch(model)`: `.records` (newest last), `.poll(since)`, `.to_csv(path)`, `.stop()`."""

    def __init__(self, model: Any, every: int, max_records: int, root: str) -> None:
        self.every = every
        self.step = 0
        self.root = root
        self.dropped = 0  # records the ring buffer let go
        self._records: deque[dict[str, Any]] = deque(maxlen=max_records)
        self._seq = 0
        self._first: dict[str, dict[str, Any]] = {}  # first gradient statistics of each param: the flags' baseline
        self._lock = threading.RLock()
        self._pushed = 0
        self.focus: list[str] = []  # params whose histograms are recorded too (the one selected in a front end)
        self.display = False  # also push into the running cell's output (for VS Code, which has no comm)
        self._throttle = watch_push.Throttle(self._push)
        self._model: Callable[[], Any] = lambda: model
        with contextlib.suppress(TypeError):  # not weak-referenceable: held as long as the watch
            self._model = weakref.ref(model)
        recorder = _Recorder(self, model, actions.require_adapter(model), root)
        self._recorder: Callable[[], _Recorder | None] = weakref.ref(recorder)
        recorder.start()

    @property
    def active(self) -> bool:
        recorder = self._recorder()
        return recorder is not None and recorder.remove is not None

    @property
    def records(self) -> list[dict[str, Any]]:
        """The recorded steps, oldest first: `{seq, step, time, values, grads, update}` (per-param statistics)."""
        with self._lock:
            return list(self._records)

    def rows(self) -> list[dict[str, Any]]:
        """One flat dict per recorded step and parameter (what `to_csv` writes): `step, time, param, value_*,
        grad_*, update_ratio`; a statistic that was not available is None."""
        out = []
        for record in self.records:
            for path in dict.fromkeys([*record["values"], *record["grads"]]):
                row: dict[str, Any] = {"step": record["step"], "time": record["time"], "param": path}
                for prefix, stats in (("value", record["values"].get(path)), ("grad", record["grads"].get(path))):
                    for key in _COLUMNS:
                        row[f"{prefix}_{key}"] = None if stats is None else stats[key]
                row["update_ratio"] = record["update"].get(path)
                out.append(row)
        return out

    def to_csv(self, path: str) -> int:
        """Write `rows()` as CSV (empty cells for missing statistics); returns the number of rows written."""
        rows = self.rows()
        fields = ["step", "time", "param", *(f"{p}_{k}" for p in ("value", "grad") for k in _COLUMNS), "update_ratio"]
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)
        return len(rows)

    def set_focus(self, paths: list[str]) -> None:
        """Record the value and gradient histograms of these params at each recorded step (at most 8)."""
        self.focus = _focus(paths)

    def flags(self) -> dict[str, list[str]]:
        """Params whose latest recorded step needs a look: NaN/Inf, exploding or vanishing gradient."""
        with self._lock:
            latest = next((r for r in reversed(self._records) if r["grads"]), None)
            return {} if latest is None else flags(self._first, latest)

    def poll(self, since: int = 0) -> dict[str, Any]:
        """Records with `seq >= since`; `next` is what to pass as `since` next time."""
        with self._lock:
            return {
                "active": self.active,
                "every": self.every,
                "step": self.step,
                "records": [r for r in self._records if r["seq"] >= since],
                "next": self._seq,
                "dropped": self.dropped,
                "max_records": self._records.maxlen,
                "flags": self.flags(),
                "focus": self.focus,
                "statistics": STATISTICS,
            }

    def stop(self) -> None:
        """Remove the hooks; the records stay readable."""
        recorder = self._recorder()
        if recorder is not None:
            recorder.stop()
        self._throttle.cancel()
        model = self._model()
        if model is not None and _WATCHES.get(id(model)) is self:
            del _WATCHES[id(model)]
            _STOPPED[id(model)] = self
        if model is not None and watch_push.listening():
            watch_push.push(model, self.root, self.poll(max(0, self._seq - 1)))

    def _append(self, record: dict[str, Any]) -> None:
        if len(self._records) == self._records.maxlen:
            self.dropped += 1
        self._records.append(record)
        self._seq += 1

    def _grads(self, step: int, stats: dict[str, dict[str, Any]]) -> None:
        if not self._records or self._records[-1]["step"] != step:
            return  # gradients of a step that was not recorded
        self._records[-1]["grads"].update(stats)
        for path, found in stats.items():
            if found["rms"] is not None and not found["nan"] and not found["inf"]:
                self._first.setdefault(path, found)

    def _changed(self) -> None:
        if self.display or watch_push.listening():
            self._throttle(time.monotonic())

    def _push(self) -> None:
        model = self._model()
        if model is None:
            return
        # The last record sent may have gained its gradients or update ratio since: send it again.
        state = self.poll(max(0, self._pushed - 1))
        self._pushed = state["next"]
        watch_push.push(model, self.root, state)
        if self.display:
            watch_push.show_in_cell(id(self), self.root, state)

    def __repr__(self) -> str:
        state = "watching" if self.active else "stopped"
        return f"<paramscope.Watch {state}, every {self.every} steps, {len(self._records)} records>"


class _Recorder:
    """What the hooks call. Only the hooks hold it (the model holds them), so it lives exactly as long as both."""

    def __init__(self, watch: Watch, model: Any, adapter: Adapter, root: str) -> None:
        self.watch = watch
        self.adapter = adapter
        self.root = root
        self.model = weakref.ref(model)
        self.revision = actions.revision(model)
        self.index = adapter.index(model, root)
        self.params, self.keys = _params(self.index)
        self.updates = UpdateTracker()
        self.awaiting: dict[str, Any] | None = None  # the record whose update ratio comes at the next forward
        self.remove: Callable[[], None] | None = None

    def start(self) -> None:
        model = self.model()
        self.remove = self.adapter.hook_steps(model, self.index, self.on_forward, self.on_grads, self.recorded)

    def stop(self) -> None:
        if self.remove is not None:
            self.remove()
            self.remove = None

    def on_forward(self) -> ModelIndex | None:
        watch, model = self.watch, self.model()
        if model is None:
            return None
        with watch._lock:
            watch.step += 1
            if self.awaiting is not None:
                self.awaiting["update"] = self.updates.ratios(self.adapter, self.params)
                self.awaiting = None
            recorded = (watch.step - 1) % watch.every == 0
            revision = actions.revision(model)
            # A tie, untie or replaced layer changes which objects the model uses: follow them (#20).
            changed = self._reindex(model, revision) if recorded or revision != self.revision else None
            if recorded:
                values = scalars(self.adapter, self.params, grad=False)
                watch._append({"seq": watch._seq, "step": watch.step, "time": time.time(), "values": values,
                               "grads": {}, "update": {}, "hist": self._hists(False), "grad_hist": {}})
                self.updates.save(self.adapter, self.params, values)
                self.awaiting = watch._records[-1]
        if recorded:
            watch._changed()
        return changed

    def recorded(self) -> bool:
        """Whether the step whose forward started last is one this watch records."""
        watch = self.watch
        return bool(watch._records) and watch._records[-1]["step"] == watch.step

    def on_grads(self, entries: list[TensorEntry]) -> None:
        watch = self.watch
        with watch._lock:
            if not watch._records or watch._records[-1]["step"] != watch.step:
                return
            watch._grads(watch.step, scalars(self.adapter, entries, grad=True))
            watch._records[-1]["grad_hist"].update(self._hists(True, entries))
        watch._changed()

    def _hists(self, grad: bool, among: list[TensorEntry] | None = None) -> dict[str, dict[str, Any]]:
        focus = self.watch.focus
        if not focus:
            return {}
        out = {}
        for entry in among if among is not None else self.params:
            if entry.path in focus:
                found = tensor_stats(self.adapter, entry, grad=grad, bins=HIST_BINS)
                if found.get("available"):
                    out[entry.path] = found["hist"]
        return out

    def _reindex(self, model: Any, revision: int) -> ModelIndex | None:
        self.revision = revision
        index = self.adapter.index(model, self.root)
        params, keys = _params(index)
        if keys == self.keys:
            return None
        self.index, self.params, self.keys = index, params, keys
        return index


def _params(index: ModelIndex) -> tuple[list[TensorEntry], list[tuple[str, int]]]:
    params = index.unique_params("")
    return params, [(e.path, id(e.obj)) for e in params]


def _focus(paths: Any) -> list[str]:
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths) or len(paths) > 8:
        raise ActionError(f"focus is a list of at most 8 parameter paths, got {paths!r}"[:200])
    return list(paths)


def watch(model: Any, every: int = 10, *, max_records: int = 1000, root: str = "net",
          focus: list[str] | None = None) -> Watch:
    """Start recording statistics every `every` steps (replacing an earlier watch of the same model); the
    params in `focus` get their value and gradient histograms recorded too."""
    focus = _focus([] if focus is None else focus)
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ActionError(f"every must be a positive integer (steps between records), got {every!r}")
    if isinstance(max_records, bool) or not isinstance(max_records, int) or not 1 <= max_records <= 100_000:
        raise ActionError(f"max_records must be an integer from 1 to 100000, got {max_records!r}")
    earlier = current(model)
    if earlier is not None:
        earlier.stop()
    handle = Watch(model, every, max_records, root)
    handle.focus = focus
    _WATCHES[id(model)] = handle
    _STOPPED.pop(id(model), None)
    with contextlib.suppress(TypeError):  # not weak-referenceable: kept until stop()
        weakref.finalize(model, _forget, id(model), handle)
    return handle


def _forget(key: int, handle: Watch) -> None:
    for registry in (_WATCHES, _STOPPED):
        if registry.get(key) is handle:
            del registry[key]


def current(model: Any) -> Watch | None:
    """The running watch of `model`, if any."""
    found = _WATCHES.get(id(model))
    return found if found is not None and found._model() is model else None


def latest(model: Any) -> Watch | None:
    """The running watch of `model`, else the one stopped last (its records stay readable)."""
    found = current(model) or _STOPPED.get(id(model))
    return found if found is not None and found._model() is model else None


watch_push.register_comm_target()
