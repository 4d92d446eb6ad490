"""What a watch records per parameter and step: scalar statistics of values and gradients, update ratios, flags.

Adapters with a `watch_sums` fast path reduce each tensor to (sum, norm, non-zeros) in its own dtype, a few
fused device ops per tensor and one transfer per step; any tensor holding NaN/Inf (or any adapter without the
fast path) takes the exact chunked path of `stats.summary`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from .adapters import Adapter, Unavailable
from .stats import summary
from .tree import TensorEntry

# The statistics a front end can chart, by the name requests and records use.
STATISTICS: dict[str, str] = {
    "grad_norm": "gradient L2 norm",
    "grad_rms": "gradient RMS",
    "mean": "mean of the values",
    "std": "standard deviation of the values",
    "rms": "RMS of the values",
    "update_ratio": "update ratio ‖Δw‖/‖w‖ of the step",
    "zeros": "fraction of values that are exactly 0",
    "nonfinite": "NaN/Inf count (values and gradient)",
}

# Flags (on a row and at the model summary): a gradient this many times larger or smaller than the first one
# recorded for the same parameter, or with an RMS beyond these absolute bounds.
EXPLODE_FACTOR = 1e3
VANISH_FACTOR = 1e-4
EXPLODE_RMS = 1e3
VANISH_RMS = 1e-10

# The update ratio keeps a copy of the recorded step's values until the next step; past this size (all params
# together) the largest params go without it, so a watch never doubles the memory of a big model.
UPDATE_COPY_LIMIT_BYTES = 256 * 2**20


def scalars(adapter: Adapter, entries: list[TensorEntry], grad: bool) -> dict[str, dict[str, Any]]:
    """`{path: {numel, mean, std, rms, norm, zeros, nan, inf}}` for the entries whose values can be read."""
    # Optional adapter methods (watch_sums, watch_copy, watch_delta_norm): the fast path of a framework.
    fast = getattr(adapter, "watch_sums", None)
    sums: list[tuple[int, float, float, int] | None] = [None] * len(entries) if fast is None else fast(entries, grad)
    out: dict[str, dict[str, Any]] = {}
    for entry, found in zip(entries, sums, strict=True):
        stats = _from_sums(*found) if found is not None else None
        if stats is None:  # no fast path, or NaN/Inf in the tensor: the exact path counts and skips them
            exact = summary(adapter, entry, grad=grad)
            if exact is None:
                continue
            stats = {k: exact[k] for k in ("numel", "mean", "std", "rms", "zeros", "nan", "inf")}
            rms = exact["rms"]
            stats["norm"] = None if rms is None else rms * math.sqrt(exact["numel"] - exact["nan"] - exact["inf"])
        out[entry.path] = stats
    return out


def _from_sums(numel: int, total: float, norm: float, nonzero: int) -> dict[str, Any] | None:
    if numel == 0 or not (math.isfinite(total) and math.isfinite(norm)):
        return None
    mean = total / numel
    rms = norm / math.sqrt(numel)
    return {"numel": numel, "mean": mean, "std": math.sqrt(max(rms * rms - mean * mean, 0.0)), "rms": rms,
            "norm": norm, "zeros": (numel - nonzero) / numel, "nan": 0, "inf": 0}


class UpdateTracker:
    """‖w(t+1) − w(t)‖ / ‖w(t)‖ for a recorded step t: copies of w(t) are kept until the next forward."""

    def __init__(self) -> None:
        self._saved: dict[str, tuple[Any, float, int]] = {}  # path -> (copy, ‖w(t)‖, id of the param)
        self.skipped: list[str] = []

    def save(self, adapter: Adapter, entries: list[TensorEntry], values: dict[str, dict[str, Any]]) -> None:
        copy = getattr(adapter, "watch_copy", None)
        self._saved.clear()
        self.skipped = []
        if copy is None:
            return
        budget = UPDATE_COPY_LIMIT_BYTES
        for entry in sorted(entries, key=lambda e: e.meta.nbytes):
            stats = values.get(entry.path)
            if stats is None or not stats["norm"]:
                continue
            if entry.meta.nbytes > budget:
                self.skipped.append(entry.path)
                continue
            try:
                self._saved[entry.path] = (copy(entry), stats["norm"], id(entry.obj))
            except Unavailable:
                continue
            budget -= entry.meta.nbytes

    def ratios(self, adapter: Adapter, entries: Iterable[TensorEntry]) -> dict[str, float | None]:
        """The ratios of the saved step against the values now (the optimizer has applied that step's update)."""
        diff = getattr(adapter, "watch_delta_norm", None)
        if not self._saved or diff is None:
            return {}
        out: dict[str, float | None] = {}
        for entry in entries:
            saved = self._saved.get(entry.path)
            if saved is None or saved[2] != id(entry.obj):  # not saved, or another object since (a re-tie)
                continue
            try:
                delta = diff(entry, saved[0])
            except Unavailable:
                continue
            out[entry.path] = delta / saved[1] if math.isfinite(delta) else None
        self._saved.clear()
        return out


def flags(first: dict[str, dict[str, Any]], record: dict[str, Any]) -> dict[str, list[str]]:
    """`{path: ["nonfinite" | "exploding" | "vanishing", ...]}` for the params of `record` that need a look;
    `first` holds the first recorded gradient statistics of each param (the baseline)."""
    out: dict[str, list[str]] = {}
    for path in set(record["values"]) | set(record["grads"]):
        found = []
        value, grad = record["values"].get(path), record["grads"].get(path)
        if any(s is not None and (s["nan"] or s["inf"]) for s in (value, grad)):
            found.append("nonfinite")
        if grad is not None and grad["rms"] is not None and not grad["nan"] and not grad["inf"]:
            base = first.get(path)
            base_rms = base["rms"] if base is not None else None
            if grad["rms"] > EXPLODE_RMS or (base_rms and grad["rms"] > EXPLODE_FACTOR * base_rms):
                found.append("exploding")
            elif grad["rms"] < VANISH_RMS or (base_rms and grad["rms"] < VANISH_FACTOR * base_rms):
                found.append("vanishing")
        if found:
            out[path] = found
    return out
