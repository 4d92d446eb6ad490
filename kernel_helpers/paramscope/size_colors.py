"""Colours of the treemap: one statistic per unique parameter, added up per block (size-weighted), ties once.

Values come from what exists: the watch's per-tensor sums (`watch_stats.scalars`: a few fused reductions per
tensor, one transfer), the compare snapshot (`changes.deltas`) and the watch's latest record. Each parameter
gives a small accumulator; a block merges its parameters' accumulators, so a block's RMS is the RMS of all its
values, its std the std of all its values (Chan's pooled variance), its gradient norm the norm of its gradient.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from . import changes, threads
from ._errors import ActionError
from .tree import ModelIndex, TensorEntry
from .watch import latest as latest_watch
from .watch_stats import scalars

# Statistic name -> what it is (the front end shows its own translated label; this is for errors and docs).
STATISTICS: dict[str, str] = {
    "dtype": "the parameters' dtype (no statistic)",
    "rms": "RMS of the values",
    "std": "standard deviation of the values",
    "mean": "mean of the values",
    "zeros": "fraction of values that are exactly 0",
    "grad_norm": "gradient L2 norm",
    "grad_rms": "gradient RMS",
    "change": "‖Δw‖/‖w‖ since the compare snapshot",
    "watch_grad_norm": "gradient L2 norm at the watch's latest recorded step",
    "watch_update": "update ratio ‖Δw‖/‖w‖ at the watch's latest recorded step",
}

# An accumulator: (weight, a, b); merged by _MERGE[stat], read by _FINISH[stat]. None: no value.
Acc = tuple[float, float, float]


def check(stat: str) -> None:
    """ActionError for a statistic that is not one of STATISTICS."""
    if stat not in STATISTICS:
        raise ActionError(f"unknown statistic {stat[:80]!r} for the treemap's colours: one of "
                          f"{', '.join(STATISTICS)}")


def available(model: Any, index: ModelIndex, path: str) -> list[str]:
    """The statistics that can colour `path` now: values always, gradients once one exists, the change once a
    snapshot is taken, the watch's once it recorded a step."""
    out = ["dtype", "rms", "std", "mean", "zeros"]
    if any(e.meta.has_grad for e in index.unique_params(path)):
        out += ["grad_norm", "grad_rms"]
    snap = changes.latest(model)
    if snap is not None and snap.model is model:
        out.append("change")
    watch = latest_watch(model)
    record = _latest_record(watch.records) if watch is not None else None
    if record is not None and record["grads"]:
        out.append("watch_grad_norm")
    if record is not None and record["update"]:
        out.append("watch_update")
    return out


def per_tensor(model: Any, adapter: Any, index: ModelIndex, path: str, stat: str) -> dict[str, Acc]:
    """The accumulator of each unique parameter under `path` that has a value for `stat` (by its first-use path)."""
    entries = index.unique_params(path)
    if stat in ("rms", "std", "mean", "zeros"):
        return {p: acc for p, s in scalars(adapter, entries, grad=False).items() if (acc := _from_stats(stat, s))}
    if stat in ("grad_norm", "grad_rms"):
        busy = threads.training(adapter.framework)
        if busy:  # reading a PyTorch .grad while another thread runs backward() can kill the process
            raise ActionError(f"gradients are not read while {threads.describe(busy)} trains: colour by the watch's "
                              "gradient norm (watch_grad_norm) instead, or wait for the step to end")
        with_grad = [e for e in entries if e.meta.has_grad]
        return {p: acc for p, s in scalars(adapter, with_grad, grad=True).items()
                if (acc := _from_stats(stat, s))}
    if stat == "change":
        found = changes.deltas(model, index, {e.path for e in entries})
        return {p: (1.0, d2, n2) for p, (d2, n2) in found.items()}
    return _from_watch(model, entries, stat)


def merge(stat: str, accs: list[Acc]) -> Acc | None:
    if not accs:
        return None
    if stat == "std":
        return _pool(accs)
    n = x = y = 0.0
    for acc in accs:
        n += acc[0]
        x += acc[1]
        y += acc[2]
    return (n, x, y)


def finish(stat: str, acc: Acc | None) -> float | None:
    """The statistic of an accumulator (None: no value, or not finite)."""
    if acc is None or acc[0] <= 0:
        return None
    value = _FINISH[stat](acc)
    return value if value is not None and math.isfinite(value) else None


def _from_stats(stat: str, s: dict[str, Any]) -> Acc | None:
    """From `scalars`' {numel, mean, std, rms, norm, zeros, nan, inf}: finite values only (the exact path's)."""
    n = s["numel"] - s["nan"] - s["inf"]
    if stat == "zeros":
        return (float(s["numel"]), s["zeros"] * s["numel"], 0.0) if s["numel"] else None
    if n <= 0 or s["mean"] is None or s["rms"] is None:
        return None
    sq = s["rms"] ** 2 * n
    if stat == "mean":
        return (float(n), s["mean"] * n, 0.0)
    if stat == "std":
        return (float(n), s["mean"], (s["std"] or 0.0) ** 2 * n)
    if stat == "grad_norm":
        return (1.0, sq, 0.0)
    return (float(n), sq, 0.0)  # rms, grad_rms


def _from_watch(model: Any, entries: list[TensorEntry], stat: str) -> dict[str, Acc]:
    watch = latest_watch(model)
    record = _latest_record(watch.records) if watch is not None else None
    if record is None:
        raise ActionError("no watch has recorded this model yet: start one (Watch, or ps.watch(model)) and train")
    out: dict[str, Acc] = {}
    for entry in entries:
        if stat == "watch_grad_norm":
            grad = record["grads"].get(entry.path)
            if grad is not None and grad.get("norm") is not None:
                out[entry.path] = (1.0, grad["norm"] ** 2, 0.0)
            continue
        ratio = record["update"].get(entry.path)
        value = record["values"].get(entry.path)
        norm = value.get("norm") if value is not None else None
        if ratio is not None and norm:  # the block's ratio is ‖Δw‖/‖w‖ of all its values: weighted by ‖w‖²
            out[entry.path] = (1.0, (ratio * norm) ** 2, norm**2)
    return out


def _latest_record(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The newest record with gradients or an update ratio (the newest one gets them only after its step)."""
    return next((r for r in reversed(records) if r["grads"] or r["update"]), records[-1] if records else None)


def _pool(accs: list[Acc]) -> Acc:
    """(count, mean, sum of squared deviations) of the union, merged pairwise as Chan et al. do."""
    n, mean, m2 = accs[0]
    for nb, mb, m2b in accs[1:]:
        total = n + nb
        if total <= 0:
            continue
        d = mb - mean
        mean, m2, n = mean + d * nb / total, m2 + m2b + d * d * n * nb / total, total
    return (n, mean, m2)


_FINISH: dict[str, Callable[[Acc], float | None]] = {
    "rms": lambda a: math.sqrt(a[1] / a[0]),
    "grad_rms": lambda a: math.sqrt(a[1] / a[0]),
    "mean": lambda a: a[1] / a[0],
    "std": lambda a: math.sqrt(max(a[2], 0.0) / a[0]),
    "zeros": lambda a: a[1] / a[0],
    "grad_norm": lambda a: math.sqrt(a[1]),
    "watch_grad_norm": lambda a: math.sqrt(a[1]),
    "change": lambda a: math.sqrt(a[1] / a[2]) if a[2] else None,
    "watch_update": lambda a: math.sqrt(a[1] / a[2]) if a[2] else None,
}
